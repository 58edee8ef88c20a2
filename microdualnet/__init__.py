"""Micro-DualNet: micro-action recognition and its clinical percent-time pipeline (torch side)."""

__version__ = "0.1.0"
