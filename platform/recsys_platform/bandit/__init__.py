"""Contextual-bandit learning loop: the policy stage after ranking (gateway), the reward join and
online learning (stream processor) and policy checkpoints (MLflow). See docs/bandit.md."""
