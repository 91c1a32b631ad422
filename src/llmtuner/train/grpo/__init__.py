"""The GRPO stage: online reinforcement learning from scored completions (TRL's GRPOTrainer).

`rewards` holds the reward functions, chosen by name (or a user's dotted path) with weights; they score with the
evaluator's own text scorers, so a completion rewarded in training is scored the same way in evaluation.
"""
