"""Sizes of the tiny test cohort, shared by the fixtures and the tests."""

SECONDS, FPS, WIDTH, HEIGHT = 8, 10, 96, 72
