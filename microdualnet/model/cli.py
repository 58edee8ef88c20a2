"""`python -m microdualnet model-info`: parameter counts per module for a preset and variant."""

from __future__ import annotations

import argparse

from microdualnet.model.config import PRESETS

_LABELS = {
    "backbone": "TSM ResNet backbone",
    "sem": "SEM refinement + entity embedding (Eq. 2)",
    "pose": "pose entity encoder (pose-only; pose_embedding)",
    "global_proj": "global feature projection (Eq. 20)",
    "st": "ST path (Eq. 9-10)",
    "ts": "TS path (Eq. 11-12)",
    "aggregate": "temporal aggregation (Table IV)",
    "router": "entity routing (Eq. 13-15)",
    "classifier": "classifier MLP (Eq. 21)",
    "total": "total",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model-info", help="parameter counts of a Micro-DualNet preset",
                              description="Build a model (random weights) and print its "
                                          "parameter count per module.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--variant", default="full",
                   help="variant spec, e.g. ts-only+no-sem (docs/model.md lists the names)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="override C (default: the preset's, e.g. 32 for paper-imigue)")
    p.add_argument("--num-entities", type=int, choices=(4, 5, 6), default=None,
                   help="override K (default: the preset's, or 4 for four-entities)")
    p.set_defaults(func=_model_info)


def _model_info(args: argparse.Namespace) -> int:
    from microdualnet.model.config import make_config
    from microdualnet.model.network import MicroDualNet

    overrides = {}
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    if args.num_entities is not None:
        overrides["num_entities"] = args.num_entities
    cfg = make_config(args.preset, args.variant, **overrides)
    model = MicroDualNet(cfg)
    counts = model.parameter_counts()
    cnn = (f"ResNet-{cfg.backbone_depth} (width {cfg.backbone_width})" if cfg.uses_cnn
           else "no CNN")
    print(f"Micro-DualNet preset={args.preset} variant={args.variant} {cnn} K={len(model.entities)} "
          f"D={cfg.dim} layers={cfg.num_layers} heads={cfg.num_heads} input={cfg.input_size}px "
          f"T={cfg.num_frames} C={cfg.num_classes}")
    total = counts["total"]
    for name, n in counts.items():
        print(f"  {_LABELS.get(name, name):<44} {n:>12,d}  {n / 1e6:8.3f}M  {100 * n / total:5.1f}%")
    return 0
