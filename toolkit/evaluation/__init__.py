"""Evaluation: predictions with uncertainty, metrics, plots and reports."""
