"""One GPU per job: `python -m pipeio.gpu [options] -- COMMAND [ARGS...]`.

Snakemake's local executor counts a `gpu` resource (`--resources gpu=N` caps how many GPU
jobs run at once) but never says *which* device a job may use, so two jobs on a machine with
several GPUs would both land on device 0. This wrapper picks a free device for the command
and runs it with `CUDA_VISIBLE_DEVICES` set to that one device:

1. Under SLURM (`SLURM_JOB_ID` set) the scheduler already gave the job its GPUs and set
   `CUDA_VISIBLE_DEVICES`: the command runs unchanged.
2. The pool of devices is `--devices` (a comma-separated list, e.g. `0,1`, or `auto`); with
   `auto`, the `CUDA_VISIBLE_DEVICES` of the run (the GPUs this run may use), else
   `MICRODUALNET_GPU_COUNT` devices `0..N-1` (set it where the driver cannot be asked, and in
   tests), else the GPUs the NVIDIA driver lists (`/proc/driver/nvidia/gpus`, else
   `nvidia-smi -L`). `--devices none` means no GPU.
3. An empty pool (no GPU on this machine): the command runs unchanged and falls back to the
   CPU (`--device auto`).
4. Otherwise the wrapper takes the first device whose lock file `<lock dir>/gpu-<id>.lock`
   it can lock exclusively (`flock`), waiting while every device is taken. The lock's file
   descriptor is inherited by the command (the wrapper `exec`s it, keeping its process id),
   so the device stays taken exactly as long as the command runs and is freed however it
   ends, a crash or `kill -9` included: there are no stale locks to clean up.

Jobs of every Snakemake run of the same user on one machine share the default lock folder
(`<temp dir>/microdualnet-gpu-<uid>`), so two runs side by side do not share a device either.
No torch import: picking a device costs milliseconds.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

COUNT_ENV = "MICRODUALNET_GPU_COUNT"
_PROC_GPUS = Path("/proc/driver/nvidia/gpus")


def driver_gpu_count() -> int:
    """GPUs the NVIDIA driver lists (0 without a driver), without importing torch."""
    if _PROC_GPUS.is_dir():
        return sum(1 for _ in _PROC_GPUS.iterdir())
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def _visible_list(value: str) -> list[str]:
    """CUDA_VISIBLE_DEVICES entries as CUDA reads them: up to the first invalid (-1) one."""
    pool = []
    for entry in (v.strip() for v in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        pool.append(entry)
    return pool


def device_pool(devices: str, env: Mapping[str, str]) -> list[str]:
    """The devices GPU jobs of this run share (see the module doc, rule 2)."""
    devices = devices.strip()
    if devices == "none":
        return []
    if devices != "auto":
        pool = [d.strip() for d in devices.split(",") if d.strip()]
        if not pool:
            raise ValueError(f"--devices must be auto, none or a list like 0,1; got {devices!r}")
        return pool
    if "CUDA_VISIBLE_DEVICES" in env:
        return _visible_list(env["CUDA_VISIBLE_DEVICES"])
    if env.get(COUNT_ENV, "").strip():
        try:
            count = int(env[COUNT_ENV])
        except ValueError:
            raise ValueError(f"{COUNT_ENV} must be a whole number, got {env[COUNT_ENV]!r}"
                             ) from None
        return [str(i) for i in range(max(count, 0))]
    return [str(i) for i in range(driver_gpu_count())]


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"microdualnet-gpu-{os.getuid()}"


def _lock_name(device: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock"


def try_lock(lock_dir: Path, device: str) -> int | None:
    """An open, exclusively locked descriptor for `device`'s lock file, or None if taken."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / _lock_name(device), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # Who holds it (the exec'd command keeps this process id), for a curious reader.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def acquire(pool: Sequence[str], lock_dir: Path, poll_s: float = 1.0,
            timeout_s: float | None = None, log=None) -> tuple[str, int]:
    """Wait for a free device of `pool`; return it and its locked descriptor."""
    start = time.monotonic()
    warned = False
    while True:
        for device in pool:
            fd = try_lock(lock_dir, device)
            if fd is not None:
                return device, fd
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(f"no free GPU among {list(pool)} after {timeout_s} s")
        if not warned and log is not None:
            log(f"gpu: all {len(pool)} device(s) {list(pool)} are in use; waiting (lock "
                f"files in {lock_dir}; pass --resources gpu={len(pool)} to snakemake so it "
                "starts no more GPU jobs than there are GPUs)")
            warned = True
        time.sleep(poll_s)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeio.gpu",
        description="Run COMMAND with CUDA_VISIBLE_DEVICES set to one free GPU of the pool "
        "(unchanged under SLURM or without a GPU).")
    parser.add_argument("--devices", default="auto",
                        help="auto (CUDA_VISIBLE_DEVICES, else MICRODUALNET_GPU_COUNT, else "
                        "the driver's GPUs), none, or a list such as 0,1")
    parser.add_argument("--lock-dir", type=Path, default=None,
                        help=f"lock files (default: {default_lock_dir()})")
    parser.add_argument("--poll-s", type=float, default=1.0, help="wait between tries (s)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    env = dict(os.environ)
    if env.get("SLURM_JOB_ID"):
        _log(f"gpu: SLURM job {env['SLURM_JOB_ID']}, CUDA_VISIBLE_DEVICES="
             f"{env.get('CUDA_VISIBLE_DEVICES', '(unset)')} left as the scheduler set it")
    else:
        try:
            pool = device_pool(args.devices, env)
        except ValueError as err:
            parser.error(str(err))
        if not pool:
            _log("gpu: no GPU in the pool; running on the CPU")
        else:
            device, fd = acquire(pool, args.lock_dir or default_lock_dir(), args.poll_s,
                                 log=_log)
            os.set_inheritable(fd, True)  # the lock lives as long as the command
            env["CUDA_VISIBLE_DEVICES"] = device
            _log(f"gpu: CUDA_VISIBLE_DEVICES={device} (pool {','.join(pool)})")
    try:
        os.execvpe(command[0], command, env)
    except OSError as err:
        _log(f"error: cannot run {command[0]!r}: {err}")
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
