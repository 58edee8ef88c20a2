"""The resume checkpoint `training/state.pt`: everything an interrupted run needs to continue
bit-for-bit (weights, optimizer momentum, AMP scaler, RNG state, best score, bad clips).

Only tensors, numbers, strings and containers are stored, so it loads with
`weights_only=True` (no arbitrary unpickling).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from pipeio.atomic import atomic_path
from pipeio.errors import InputError


def save_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # damaged, or not a torch file at all
            raise InputError(f"{path}: unreadable resume state (not a state file this tool "
                             "wrote); delete it or use --no-resume") from err
        # weights_only refused an object, which is never unpickled
        raise InputError(f"{path}: the resume state holds objects other than tensors and "
                         "numbers (not written by this tool), refused without loading them; "
                         "delete it or use --no-resume") from err
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: unreadable resume state ({type(err).__name__}: {reason}); "
                         "delete it or use --no-resume") from err


def capture_rng() -> dict[str, Any]:
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
