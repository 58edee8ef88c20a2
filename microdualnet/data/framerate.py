"""The frame rate of a training set, measured from its clips for the model's contract.

A model learns motion at the time scale of its training clips: stride 2 at 30 fps is 67 ms
between frames. Inference repeats that time scale on recordings at any rate, so the rate is
measured here (never assumed) and recorded in model.json. Clips of one set must share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microdualnet.data.records import ClipRecord
from microdualnet.video import probe
from pipeio.errors import InputError

SAMPLE = 64  # clips probed, evenly spread over the set (a probe reads packets, no pixels)
TOLERANCE = 0.01  # relative difference between clips' rates that still counts as one rate


def training_fps(records: Sequence[ClipRecord], sample: int = SAMPLE) -> float:
    """The common frame rate of up to `sample` of the clips (unreadable ones are skipped:
    the training loop reports them); clips at different rates are an error naming two."""
    videos = list(dict.fromkeys(r.video for r in records))
    picked = [videos[i] for i in np.unique(np.linspace(0, len(videos) - 1,
                                                       min(sample, len(videos))).astype(int))]
    rates = {}
    for video in picked:
        try:
            rates[video] = probe(video, square_pixels=False).fps
        except InputError:
            continue
    if not rates:
        raise InputError(f"none of the {len(picked)} clips probed for the frame rate is a "
                         f"readable video (first: {picked[0] if picked else 'no clips'})")
    first, rate = next(iter(rates.items()))
    for video, other in rates.items():
        if abs(other - rate) > TOLERANCE * rate:
            raise InputError(f"training clips differ in frame rate: {first} is {rate:g} fps, "
                             f"{video} is {other:g} fps; re-encode them at one rate so the "
                             "model learns one time scale")
    return float(np.median(list(rates.values())))
