"""llmtuner.data"""
