"""Sizes of the tiny test cohort, shared by the fixtures and the tests."""

SECONDS, FPS, WIDTH, HEIGHT = 8, 10, 96, 72
MODEL_FPS = 25.0  # the random demo model's training rate: the cohort runs at another one
