"""Lightning callbacks: NetScore logging and Optuna pruning."""
