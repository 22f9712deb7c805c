"""Continuous deployment: drift ──► retrain a challenger ──► shadow ──► promote or discard ──►
probation ──► keep or roll back (README: continuous deployment)."""
