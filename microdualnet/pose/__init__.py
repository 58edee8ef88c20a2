"""Pose extraction: BODY_25 keypoints per video frame, from MediaPipe or OpenPose JSON.

`npz` holds the file contract, `extract` runs one participant, `cli` is `python -m
microdualnet pose`. Backends import their heavy dependencies only when used.
"""
