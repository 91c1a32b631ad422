"""llmtuner.model"""
