"""Shared pytest set-up: keep numerical libraries to one thread so the suite behaves on 2 cores."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
