"""Metrics and HTML reports over stored walk-forward results."""
