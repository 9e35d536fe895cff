"""Search spaces: each turns an Optuna trial into a config, and a config into a model."""
