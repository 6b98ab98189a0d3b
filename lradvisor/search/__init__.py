"""Search: Optuna studies over schedule families, with proxy runs and plateau pruning."""
