"""Shared plumbing: constants, errors, logging. Imports nothing from the rest of llmtuner."""
