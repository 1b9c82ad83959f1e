"""The lab's own errors: one line, `<what> — <how to fix>`, in the CLI and in a notebook alike.

Every error the lab raises on purpose (bad config, bad data, missing adapter, wrong labels, a locked or
unwritable output folder) is a `LabError`. The CLI prints it as `error: ...` and exits with status 2;
in a notebook, `show_lab_errors_briefly` makes IPython print the same line instead of a traceback.
An unexpected error is not a `LabError` and keeps its full traceback. Imports nothing from the package.
"""

from __future__ import annotations

from typing import Any


class LabError(Exception):
    """An error the lab raises on purpose; its message names the problem and the fix."""


class ConfigError(LabError, ValueError):
    """A LabConfig knob has a value of the wrong type, out of range, or inconsistent with another knob."""


class DataError(LabError, ValueError):
    """The dialogues file or dataset cannot be used as it is."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) during training, after the last accepted step was saved."""

    def __init__(self, step: int, path: Any) -> None:
        super().__init__(f"interrupted: saved step {step} to {path}")
        self.step, self.path = step, path


def one_line(error: BaseException) -> str:
    """The line a student sees for a LabError (or an interrupted training run)."""
    if isinstance(error, TrainingInterrupted):
        return f"{error} — continue with lab_utils.ppo.resume(config, {str(error.path)!r}) and train(..., start=state)."
    return "error: " + " ".join(str(error).split())


def show_lab_errors_briefly() -> bool:
    """In IPython/Jupyter, print LabErrors as one line instead of a traceback; True when installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        """Print the LabError's one line (IPython's custom exception hook)."""
        print(one_line(value))

    shell.set_custom_exc((LabError, TrainingInterrupted), handler)
    return True
