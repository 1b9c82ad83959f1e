"""Helpers for the detox lab: one concept per module (config, data, models, reward, toxicity, ppo, report, tiny)."""
