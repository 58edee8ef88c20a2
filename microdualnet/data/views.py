"""The model's view (model.json `view`) as inference applies it, window by window.

Inference decodes each frame once and keeps it `prepare`d; a person-view window's input is
then `assemble`d from its T kept frames (a full-view kept frame is already the input). The two views give the same pixels and keypoints as
training's evaluation path (`dataset.ClipDataset` without augmentation) for the same frames
(tested through the model's logits):

- full: shorter side to the input size, centre square (`transforms.eval_view`); a kept
  frame is already the window's frame.
- person: frames brought to `source_short_side` first (as training's clip cache keeps them),
  then each window crops the square around its own joints (`personcrop.person_view`), so a
  frame shared by two windows is cropped twice, once for each.

Window geometry (crop boxes and keypoints) depends on the keypoints alone, so it is computed
for all windows before any frame is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microdualnet.contract import View
from microdualnet.data import transforms
from microdualnet.data.personcrop import person_square, square_box


@dataclass(frozen=True)
class WindowGeometry:
    """Per window: the crop box in kept-frame pixels (person view) and the model's keypoints."""

    boxes: np.ndarray | None  # [W, 3] (x0, y0, side) int, None for the full view
    keypoints: np.ndarray  # [W, T, 25, 3] in input pixels


def prescale(frames: np.ndarray, kp: np.ndarray, short: int | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Frames (and keypoints) with the shorter side brought down to `short`; never enlarged."""
    if short is None or min(frames.shape[1:3]) <= short:
        return frames, kp
    return transforms.resize_short_side(frames, kp, short)


class FullView:
    def __init__(self, size: int) -> None:
        self.size = size

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        return transforms.eval_frame(frame, self.size)

    def reduction(self, frame_shape: tuple[int, int]) -> float:
        """How many times smaller (shorter side) a kept frame is than the video's."""
        return min(frame_shape) / self.size

    def square(self, frame_shape: tuple[int, int]) -> tuple[float, float, float, float]:
        """The part of the video's frame (x0, y0, x1, y1 px) the model sees: `prepare`'s
        centre square, mapped back."""
        h, w = frame_shape
        nw, nh, _ = transforms.short_side_geometry(h, w, self.size)
        x0, y0 = (nw - self.size) // 2 * w / nw, (nh - self.size) // 2 * h / nh
        return x0, y0, x0 + self.size * w / nw, y0 + self.size * h / nh

    def geometry(self, kp: np.ndarray, frame_shape: tuple[int, int]) -> WindowGeometry:
        """`kp` `[W, T, 25, 3]` in the video's pixels; `frame_shape` (H, W). No boxes: a
        kept frame is already the window's frame."""
        h, w = frame_shape
        scaled = transforms.resize_keypoints(kp, frame_shape, self.size)
        nw, nh, _ = transforms.short_side_geometry(h, w, self.size)
        out = transforms.crop_keypoints(scaled, (nw - self.size) // 2, (nh - self.size) // 2)
        return WindowGeometry(None, out.reshape(kp.shape))


class PersonView:
    def __init__(self, size: int, view: View) -> None:
        self.size, self.view = size, view

    def _kept_shape(self, frame_shape: tuple[int, int]) -> tuple[int, int]:
        h, w = frame_shape
        short = self.view.source_short_side
        if short is None or min(h, w) <= short:
            return h, w
        nw, nh, _ = transforms.short_side_geometry(h, w, short)
        return nh, nw

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        return prescale(frame[None], np.zeros((1, 0, 3), np.float32),
                        self.view.source_short_side)[0][0]

    def reduction(self, frame_shape: tuple[int, int]) -> float:
        """How many times smaller (shorter side) a kept frame is than the video's."""
        return min(frame_shape) / min(self._kept_shape(frame_shape))

    def geometry(self, kp: np.ndarray, frame_shape: tuple[int, int]) -> WindowGeometry:
        kh, kw = self._kept_shape(frame_shape)
        kept = kp if (kh, kw) == tuple(frame_shape) else transforms.resize_keypoints(
            kp, frame_shape, self.view.source_short_side)
        boxes = np.zeros((len(kp), 3), np.int64)
        out = np.zeros_like(kept, dtype=np.float32)
        for i, window in enumerate(kept):
            cx, cy, side = person_square(window, kw, kh, self.view.margin,
                                         self.view.min_joint_confidence)
            x0, y0, s = boxes[i] = square_box(cx, cy, side, kw, kh)
            out[i] = transforms.resize_keypoints(transforms.crop_keypoints(window, x0, y0),
                                                 (s, s), self.size)
        return WindowGeometry(boxes, out)

    def assemble(self, frames: list[np.ndarray], box: np.ndarray, out: np.ndarray) -> None:
        """One window's T kept frames cropped to its `box` and resized, into `out`."""
        x0, y0, s = (int(v) for v in box)
        crops = np.stack(frames)[:, y0:y0 + s, x0:x0 + s]
        out[...] = transforms.resize_short_side(crops, np.zeros((len(crops), 0, 3), np.float32),
                                                self.size)[0]


def make_view(view: View, size: int) -> FullView | PersonView:
    return FullView(size) if view.kind == "full" else PersonView(size, view)
