"""Helpers for the detox lab: one concept per module (config, data, models, reward, toxicity, ppo, report, tiny)."""

from .errors import show_lab_errors_briefly

show_lab_errors_briefly()  # in a notebook, the lab's own errors print as one line, not a traceback
