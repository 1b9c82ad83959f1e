"""`python -m rehearsal`: run the offline rehearsal of the full profile (see run.py)."""

from .run import main

main()
