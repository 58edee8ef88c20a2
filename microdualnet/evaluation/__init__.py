"""Evaluation: the official MA-52 metrics, iMiGUE Top-k, confusion matrices and table rows."""
