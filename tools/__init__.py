"""Tooling beside the lab (no notebook imports it): the notebooks' install step, headless regeneration, the hub prefetch."""
