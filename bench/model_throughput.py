"""Forward throughput of Micro-DualNet presets, and the full model's cost over the bare backbone.

The paper claims efficiency comparable to MANet (a TSM-backbone model): we aim for the full
forward to cost at most 1.15x the TSM backbone alone on the same clip.

    python bench/model_throughput.py --threads 2            # CPU, both presets
    python bench/model_throughput.py --device cuda --batch-paper 8
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from microdualnet.model.config import make_config
from microdualnet.model.network import MicroDualNet


def _seconds(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _time_pair(full: Callable[[], object], backbone: Callable[[], object], iters: int,
               device: torch.device) -> tuple[float, float]:
    """Median seconds per call of each, after a warm-up; calls alternate so that load from
    other processes on a shared machine hits both alike."""
    full(), backbone()
    pairs = [(_seconds(full, device), _seconds(backbone, device)) for _ in range(iters)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def bench_preset(preset: str, batch: int, iters: int, device: torch.device) -> dict[str, float]:
    """Clips/s of the full model and of its backbone, and their cost ratio."""
    cfg = make_config(preset)
    model = MicroDualNet(cfg).to(device).eval()
    g = torch.Generator().manual_seed(0)
    s, t = cfg.input_size, cfg.num_frames
    video = torch.randn(batch, t, 3, s, s, generator=g).to(device)
    kp = torch.rand(batch, t, 25, 3, generator=g)
    kp[..., :2] *= s
    kp = kp.to(device)
    with torch.inference_mode():
        full, backbone = _time_pair(lambda: model(video, kp), lambda: model.backbone(video),
                                    iters, device)
    return {"full_clips_s": batch / full, "backbone_clips_s": batch / backbone,
            "ratio": full / backbone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["demo", "paper"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch)")
    parser.add_argument("--batch-demo", type=int, default=8)
    parser.add_argument("--batch-paper", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {args.threads} threads")
    print(f"device: {name}; torch {torch.__version__}")
    print("| preset | batch | full model clips/s | backbone clips/s | full / backbone |")
    print("|---|---|---|---|---|")
    for preset in args.presets:
        batch = args.batch_paper if preset == "paper" else args.batch_demo
        r = bench_preset(preset, batch, args.iters, device)
        print(f"| {preset} | {batch} | {r['full_clips_s']:.2f} | {r['backbone_clips_s']:.2f} | "
              f"{r['ratio']:.3f}x |")


if __name__ == "__main__":
    main()
