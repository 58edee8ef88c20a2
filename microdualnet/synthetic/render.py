"""Drawing the synthetic figure: filled, shaded body parts painted back to front.

Drawing uses OpenCV with sub-pixel coordinates (`shift`) and anti-aliasing, so small
motions (a nod, a heel bounce) change the pixels smoothly rather than in 1-px jumps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from microdualnet.body25 import INDEX
from microdualnet.synthetic.appearance import Appearance, Color
from microdualnet.synthetic.body import Camera, Skeleton3D

SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << SHIFT


def _pt(xy: np.ndarray) -> tuple[int, int]:
    x, y = xy.tolist()
    return int(x * _ONE + 0.5), int(y * _ONE + 0.5)


@functools.lru_cache(maxsize=4096)
def _shade(color: Color, gain: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * gain))) for c in color)  # type: ignore[return-value]


@dataclass
class Projected:
    """One frame's projected geometry: 2-D joints, depths and drawing sizes in pixels."""

    uv: np.ndarray  # [25, 2]
    depth: np.ndarray  # [25]
    head_uv: np.ndarray  # [2]
    head_depth: float
    head_up: np.ndarray  # [2] image direction of the head's up axis
    mouth_uv: np.ndarray
    facing: float  # > 0 when the face looks towards the camera
    scale: float  # px per cm


def project_skeleton(skel: Skeleton3D, cam: Camera) -> list[Projected]:
    """Project every frame of a body-space skeleton through the camera."""
    uv, depth = cam.project(skel.joints)
    head_uv, head_depth = cam.project(skel.head_center)
    up_uv, _ = cam.project(skel.head_center + skel.head_rot @ np.array([0.0, 5.0, 0.0]))
    mouth_uv, _ = cam.project(skel.head_center + skel.head_rot @ np.array([0.0, -5.5, 8.0]))
    fwd = (skel.head_rot @ np.array([0.0, 0.0, 1.0])) @ cam.rotation().T
    frames = []
    for i in range(len(uv)):
        up = up_uv[i] - head_uv[i]
        frames.append(Projected(uv[i], depth[i], head_uv[i], float(head_depth[i]),
                                up / max(np.linalg.norm(up), 1e-6), mouth_uv[i],
                                float(fwd[i, 2]), cam.scale))
    return frames


def make_background(app: Appearance, width: int, height: int) -> np.ndarray:
    """Wall and floor with a lighting gradient; static for a whole recording."""
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(-1, 1, width)[None, :, None]
    top = np.array(app.background_top, np.float32)
    bottom = np.array(app.background_bottom, np.float32)
    wall = np.where(y < app.floor_level, top * (0.85 + 0.15 * y), bottom * (1.05 - 0.25 * y))
    light = 1.0 + 0.18 * app.light_dir * x
    img = np.clip(wall * light * app.brightness, 0, 255)
    return np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)).astype(np.uint8))


def make_noise_bank(app: Appearance, width: int, height: int, rng: np.random.Generator,
                    size: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-drawn noise images (positive and negative parts) reused across frames for speed."""
    bank = []
    for _ in range(size):
        n = rng.standard_normal((height, width, 3), dtype=np.float32) * app.noise_sigma
        bank.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
    return bank


class FigureRenderer:
    """Renders frames of one person in one room."""

    def __init__(self, app: Appearance, width: int, height: int, rng: np.random.Generator):
        self.app = app
        self.width, self.height = width, height
        self.background = make_background(app, width, height)
        self.noise = make_noise_bank(app, width, height, rng)
        self.rng = rng
        g = app.brightness
        self.colors = {k: _shade(getattr(app, k), g)
                       for k in ("skin", "hair", "shirt", "trousers", "shoes", "chair")}

    # ---- primitives ----------------------------------------------------------------------
    def _capsule(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, width_px: float,
                 color: Color) -> None:
        """A limb: dark rim, base colour, and a highlight stripe on the lit side."""
        w = max(int(round(width_px)), 2)
        (ax, ay), (bx, by) = a.tolist(), b.tolist()
        dx, dy = bx - ax, by - ay
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
        nx, ny = -dy / norm, dx / norm
        if nx * self.app.light_dir < 0:
            nx, ny = -nx, -ny
        pa, pb = (int(ax * _ONE + 0.5), int(ay * _ONE + 0.5)), (int(bx * _ONE + 0.5),
                                                               int(by * _ONE + 0.5))
        cv2.line(img, pa, pb, _shade(color, 0.6), w + 2, cv2.LINE_AA, SHIFT)
        cv2.line(img, pa, pb, color, w, cv2.LINE_AA, SHIFT)
        ox, oy = nx * w * 0.2 * _ONE, ny * w * 0.2 * _ONE
        cv2.line(img, (int(pa[0] + ox), int(pa[1] + oy)), (int(pb[0] + ox), int(pb[1] + oy)),
                 _shade(color, 1.2), max(w // 3, 1), cv2.LINE_AA, SHIFT)

    def _ellipse(self, img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float,
                 color: Color, rim: bool = True) -> None:
        ax = (max(int(axes[0] * _ONE), _ONE), max(int(axes[1] * _ONE), _ONE))
        if rim:
            rim_ax = (ax[0] + _ONE, ax[1] + _ONE)
            cv2.ellipse(img, _pt(c), rim_ax, angle, 0, 360, _shade(color, 0.6), -1, cv2.LINE_AA,
                        SHIFT)
        cv2.ellipse(img, _pt(c), ax, angle, 0, 360, color, -1, cv2.LINE_AA, SHIFT)

    # ---- body parts ----------------------------------------------------------------------
    def _part_list(self, f: Projected) -> list[tuple[float, Callable[[np.ndarray], None]]]:
        """(depth, draw function) for every part of the figure in this frame."""
        uv, dep, s = f.uv, f.depth, f.scale
        p = self.app.proportions
        j = {name: INDEX[name] for name in INDEX}
        parts: list[tuple[float, Callable[[np.ndarray], None]]] = []
        limb = p.limb_width * s
        c = self.colors
        sleeve = c["shirt"] if self.app.long_sleeves else c["skin"]

        def cap(a: str, b: str, width: float, color: Color) -> None:
            parts.append(((dep[j[a]] + dep[j[b]]) / 2,
                          lambda img: self._capsule(img, uv[j[a]], uv[j[b]], width, color)))

        def chair(img: np.ndarray) -> None:
            hips = uv[[j["RHip"], j["LHip"]]]
            mid = hips.mean(0)
            half = abs(hips[1, 0] - hips[0, 0]) * 1.6 + 4
            back = np.array([[mid[0] - half, mid[1] - 38 * s], [mid[0] + half, mid[1] - 38 * s],
                             [mid[0] + half, mid[1] + 4 * s], [mid[0] - half, mid[1] + 4 * s]])
            cv2.fillConvexPoly(img, (back * _ONE).astype(np.int32), _shade(c["chair"], 0.8),
                               cv2.LINE_AA, SHIFT)
            seat = np.array([[mid[0] - half, mid[1]], [mid[0] + half, mid[1]],
                             [mid[0] + half * 1.05, mid[1] + 9 * s],
                             [mid[0] - half * 1.05, mid[1] + 9 * s]])
            cv2.fillConvexPoly(img, (seat * _ONE).astype(np.int32), c["chair"], cv2.LINE_AA,
                               SHIFT)

        parts.append((-1e9, chair))

        def torso(img: np.ndarray) -> None:
            quad = uv[[j["RShoulder"], j["LShoulder"], j["LHip"], j["RHip"]]].copy()
            centre = quad.mean(0)
            outer = centre + (quad - centre) * 1.12
            cv2.fillConvexPoly(img, (outer * _ONE).astype(np.int32), _shade(c["shirt"], 0.6),
                               cv2.LINE_AA, SHIFT)
            cv2.fillConvexPoly(img, ((centre + (quad - centre) * 1.05) * _ONE).astype(np.int32),
                               c["shirt"], cv2.LINE_AA, SHIFT)
            lit = centre + (quad - centre) * 0.55 + np.array([self.app.light_dir * 2.0 * s, 0])
            cv2.fillConvexPoly(img, (lit * _ONE).astype(np.int32), _shade(c["shirt"], 1.12),
                               cv2.LINE_AA, SHIFT)
            if self.app.stripes:
                for k in (0.3, 0.5, 0.7):
                    a = quad[0] + (quad[3] - quad[0]) * k
                    b = quad[1] + (quad[2] - quad[1]) * k
                    cv2.line(img, _pt(a), _pt(b), _shade(c["shirt"], 0.75), max(int(s * 2), 1),
                             cv2.LINE_AA, SHIFT)

        parts.append((float(dep[[j["Neck"], j["MidHip"]]].mean()), torso))
        cap("Neck", "Neck", limb * 0.9, c["skin"])
        for side in "RL":
            cap(f"{side}Shoulder", f"{side}Elbow", limb, c["shirt"])
            cap(f"{side}Elbow", f"{side}Wrist", limb * 0.85, sleeve)
            cap(f"{side}Hip", f"{side}Knee", limb * 1.45, c["trousers"])
            cap(f"{side}Knee", f"{side}Ankle", limb * 1.15, c["trousers"])
            parts.append(self._hand(f, side))
            parts.append(self._foot(f, side))
        parts.append((f.head_depth, lambda img: self._head(img, f)))
        return parts

    def _hand(self, f: Projected, side: str) -> tuple[float, Callable[[np.ndarray], None]]:
        w, e = f.uv[INDEX[side + "Wrist"]], f.uv[INDEX[side + "Elbow"]]
        d = w - e
        d = d / max(np.linalg.norm(d), 1e-6)
        centre = w + d * 2.5 * f.scale
        angle = float(np.degrees(np.arctan2(d[1], d[0])))
        r = 3.6 * f.scale
        depth = float(f.depth[INDEX[side + "Wrist"]]) + 1.0
        return depth, lambda img: self._ellipse(img, centre, (r * 1.2, r * 0.9), angle,
                                                self.colors["skin"])

    def _foot(self, f: Projected, side: str) -> tuple[float, Callable[[np.ndarray], None]]:
        idx = [INDEX[side + n] for n in ("Heel", "BigToe", "SmallToe")]
        pts = f.uv[idx]
        toe = pts[1:].mean(0)

        def draw(img: np.ndarray) -> None:
            self._capsule(img, pts[0], toe, 5.0 * f.scale, self.colors["shoes"])
            hull = cv2.convexHull((pts * _ONE).astype(np.int32))
            cv2.fillConvexPoly(img, hull, self.colors["shoes"], cv2.LINE_AA, SHIFT)

        return float(f.depth[idx].mean()), draw

    def _head(self, img: np.ndarray, f: Projected) -> None:
        p, s, c = self.app.proportions, f.scale, self.colors
        up = f.head_up
        angle = float(np.degrees(np.arctan2(up[0], -up[1])))
        for ear in ("REar", "LEar"):
            self._ellipse(img, f.uv[INDEX[ear]], (1.6 * s, 2.6 * s), angle, c["skin"])
        rx, ry = p.head_rx * s, p.head_ry * s
        self._ellipse(img, f.head_uv + up * 0.25 * ry, (rx * 1.05, ry * 0.85), angle, c["hair"])
        self._ellipse(img, f.head_uv + up * -0.05 * ry, (rx * 0.95, ry * 0.92), angle, c["skin"])
        lit = f.head_uv + np.array([self.app.light_dir * 0.25 * rx, -0.2 * ry])
        self._ellipse(img, lit, (rx * 0.5, ry * 0.5), angle, _shade(c["skin"], 1.08), rim=False)
        if f.facing <= 0.15:
            return  # the face looks away: the back of the head shows hair only
        self._ellipse(img, f.head_uv + up * 0.5 * ry, (rx * 0.98, ry * 0.45), angle, c["hair"],
                      rim=False)
        eye_r = max(1.1 * s, 0.8)
        for eye in ("REye", "LEye"):
            self._ellipse(img, f.uv[INDEX[eye]], (eye_r * 1.4, eye_r * 1.1), angle,
                          (245, 245, 245), rim=False)
            self._ellipse(img, f.uv[INDEX[eye]], (eye_r * 0.75, eye_r * 0.75), angle,
                          (25, 20, 20), rim=False)
        self._ellipse(img, f.uv[INDEX["Nose"]], (1.3 * s, 1.6 * s), angle,
                      _shade(c["skin"], 0.8), rim=False)
        self._ellipse(img, f.mouth_uv, (2.6 * s, 0.9 * s), angle, (150, 50, 50), rim=False)

    # ---- frames --------------------------------------------------------------------------
    def draw_body(self, img: np.ndarray, f: Projected) -> None:
        """Paint the figure onto `img` (painter's order: far parts first)."""
        for _, draw in sorted(self._part_list(f), key=lambda item: item[0]):
            draw(img)

    def frame(self, f: Projected, noise: bool = True,
              behind: list[tuple[FigureRenderer, Projected]] = ()) -> np.ndarray:
        """One RGB uint8 frame `[H, W, 3]`; `behind`: other figures drawn first."""
        img = self.background.copy()
        for renderer, other in behind:
            renderer.draw_body(img, other)
        self.draw_body(img, f)
        if noise:
            pos, neg = self.noise[int(self.rng.integers(len(self.noise)))]
            cv2.add(img, pos, dst=img)
            cv2.subtract(img, neg, dst=img)
        return img

    def body_mask(self, f: Projected) -> np.ndarray:
        """Boolean `[H, W]` mask of the figure alone (no chair, no noise), for tests and QC."""
        img = np.zeros((self.height, self.width, 3), np.uint8)
        for depth, draw in sorted(self._part_list(f), key=lambda item: item[0]):
            if depth > -1e9:
                draw(img)
        return img.any(-1)
