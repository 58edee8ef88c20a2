"""Micro-DualNet network, variants and losses (paper section III).

Kept import-light (no torch here) so `microdualnet.model.cli` registers fast. Public API:
`config.make_config`, `network.MicroDualNet` / `ModelOutput`, `losses.compute_loss`,
`checkpoint.save_checkpoint` / `load_checkpoint`, `pretrained.load_backbone_weights`.
"""
