"""A GPU slot per job: `python -m pipeio.gpu [options] -- COMMAND [ARGS...]`.

Snakemake's local executor counts a `gpu` resource (`--resources gpu=N` caps how many GPU
jobs run at once) but never says *which* device a job may use, so two jobs on a machine with
several GPUs would both land on device 0. This wrapper picks a free slot for the command
(`--share` slots per device: that many jobs may use one device at once, so decoding on many
cores keeps one GPU fed) and runs it with `CUDA_VISIBLE_DEVICES` set to that one device:

1. Under SLURM (`SLURM_JOB_ID` set) the scheduler gave the job its GPUs and set
   `CUDA_VISIBLE_DEVICES`. With one (or none) the command runs unchanged: a job the SLURM
   executor submitted with `--gpus=1`. With several, the jobs are sharing an allocation
   (Snakemake's local executor inside `salloc` or an `sbatch` script, or a group job), and
   would all run on the first one: the pool is then the job's devices, whatever
   `--devices` lists (except `none`), in a lock folder of that SLURM job's own
   (`slurm-<job id>` inside the lock folder; another job on the node numbers its GPUs alike).
2. The pool of devices is `--devices` (a comma-separated list, e.g. `0,1`, or `auto`); with
   `auto`, the `CUDA_VISIBLE_DEVICES` of the run (the GPUs this run may use), else
   `MICRODUALNET_GPU_COUNT` devices `0..N-1` (set it where the driver cannot be asked, and in
   tests), else the GPUs the NVIDIA driver lists (`/proc/driver/nvidia/gpus`, else
   `nvidia-smi -L`). `--devices none` means no GPU. A listed index past that count is
   refused (the job would see no GPU and run on the CPU).
3. An empty pool (no GPU on this machine): the command runs unchanged and falls back to the
   CPU (`--device auto`).
4. Otherwise the wrapper takes a free slot: slot lock files `<lock dir>/gpu-<id>.<k>.lock`
   (k < share) locked exclusively (`flock`), slot 0 of every device before slot 1 of any, so
   jobs spread over the devices; it waits while every slot is taken. With `--min-free-mib`
   a slot whose device has less free memory than that (nvidia-smi) is given back and waited
   for. The command inherits the slot's descriptor (with `--share 1` the wrapper `exec`s
   it; with more, it runs as the wrapper's child, killed if the wrapper dies), so the slot
   stays taken exactly as long as the command runs and is freed however it ends, a crash or
   `kill -9` included: there are no stale locks to clean up. The default lock folder is
   the user's own (`private_lock_dir`) and lock files are never opened through a link.
5. A command that exits with `OUT_OF_MEMORY_EXIT` (75: `infer` ran out of GPU memory on a
   shared device) is run once more alone on its device: the wrapper gives its slot back and
   takes every slot of that device (in slot order, so two such retries cannot deadlock).

Options may also come from `MICRODUALNET_GPU_OPTIONS` (shell-quoted, read before the command
line's own, which win): the workflow passes the pool settings that way, so changing them
reruns no job.

Jobs of every Snakemake run of the same user on one machine share the default lock folder
(`<temp dir>/microdualnet-gpu-<uid>`), so two runs side by side do not put more jobs on a
device than its share (when they use the same `--share`). No torch import: picking a slot
costs milliseconds.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

COUNT_ENV = "MICRODUALNET_GPU_COUNT"
OPTIONS_ENV = "MICRODUALNET_GPU_OPTIONS"  # options read before the command line's
SHARE_ENV = "MICRODUALNET_GPU_SHARE"  # set for the command: how many jobs share its device
FREE_MIB_ENV = "MICRODUALNET_GPU_FREE_MIB"  # tests: every device's free memory, faked
OUT_OF_MEMORY_EXIT = 75  # EX_TEMPFAIL: the command ran out of GPU memory; worth a retry alone
_PROC_GPUS = Path("/proc/driver/nvidia/gpus")
# CUDA out of memory outside torch's caching allocator (creating the context, cuBLAS/cuDNN
# handles and workspaces, the pinned-memory thread) is a plain RuntimeError saying so.
_OUT_OF_MEMORY = re.compile(r"CUDA out of memory|CUDA (?:driver )?error: out of memory|"
                            r"CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_(?:NOT_ENOUGH_MEMORY|"
                            r"ALLOC_FAILED)")


def out_of_memory_line(err: BaseException) -> str | None:
    """The line of `err` that says the GPU ran out of memory (its first line, or the type,
    for torch.OutOfMemoryError), or None for any other error: a shared device's job out of
    memory must exit OUT_OF_MEMORY_EXIT however CUDA said it, to be retried alone."""
    lines = str(err).splitlines()
    found = next((line.strip() for line in lines if _OUT_OF_MEMORY.search(line)), None)
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(err).__mro__):
        return found or (lines[0] if lines else type(err).__name__)
    return found


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
        _check_indices(pool, env)
        return pool
    if "CUDA_VISIBLE_DEVICES" in env:
        return _visible_list(env["CUDA_VISIBLE_DEVICES"])
    if env.get(COUNT_ENV, "").strip():
        return [str(i) for i in range(_env_count(env))]
    return [str(i) for i in range(driver_gpu_count())]


def slurm_pool(devices: str, env: Mapping[str, str]) -> list[str]:
    """The devices of a SLURM job (its CUDA_VISIBLE_DEVICES; see the module doc, rule 1):
    the scheduler, not `--devices`, says which GPUs the job may use; `none` still means none."""
    if devices.strip() == "none":
        return []
    return _visible_list(env.get("CUDA_VISIBLE_DEVICES", ""))


def _env_count(env: Mapping[str, str]) -> int:
    """MICRODUALNET_GPU_COUNT; a negative one is a mistake, not "no GPU" (which runs every
    GPU job on the CPU without a word)."""
    try:
        count = int(env[COUNT_ENV])
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"{COUNT_ENV} must be a whole number 0 or more, got {env[COUNT_ENV]!r}")
    return count


def _check_indices(pool: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse a listed index past the machine's GPUs: CUDA would show the job no device and
    `--device auto` would run it on the CPU, hours slower, without a word. The count is
    MICRODUALNET_GPU_COUNT, else the driver's; none known (0): nothing to check against."""
    numeric = [d for d in pool if d.isdigit()]
    if not numeric:  # UUIDs (GPU-..., MIG-...): CUDA refuses unknown ones itself
        return
    count = _env_count(env) if env.get(COUNT_ENV, "").strip() else driver_gpu_count()
    missing = [d for d in numeric if int(d) >= count]
    if count and missing:
        raise ValueError(f"--devices lists GPU {', '.join(missing)}, but this machine has "
                         f"{count} (0-{count - 1}); fix gpu.devices")


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"microdualnet-gpu-{os.getuid()}"


def private_lock_dir(path: Path) -> Path:
    """The default lock folder, made private: it sits in the shared temporary folder, where
    another user could make it first and plant a link under a lock file's name to a file of
    this user's (truncated when the slot is taken). One that is not this user's folder is
    refused; one of this user's that others may write to is closed to them."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(f"lock folder {path} is not a folder of this user's (another user "
                      "made it?); remove it or set gpu.lock_dir")
    if info.st_mode & 0o022:
        os.chmod(path, 0o700)
    return path


def _lock_name(device: str, slot: int) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + f".{slot}.lock"


def try_lock(lock_dir: Path, device: str, slot: int = 0, block: bool = False) -> int | None:
    """An open, exclusively locked descriptor for a slot's lock file, or None if taken
    (`block`: wait for it instead)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / _lock_name(device, slot)
    try:  # never through a link: the file is truncated below
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as err:
        raise OSError(f"cannot open lock file {path}: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"lock file {path} is not a plain file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    # Who holds it, for a curious reader.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def free_mib(device: str, env: Mapping[str, str]) -> int | None:
    """Free memory of `device` in MiB from nvidia-smi (None: cannot be asked)."""
    if env.get(FREE_MIB_ENV, "").strip():
        return int(env[FREE_MIB_ENV])
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free",
                              "--format=csv,noheader,nounits", "-i", device],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        return int(out.stdout.split()[0]) if out.returncode == 0 else None
    except (IndexError, ValueError):
        return None


def acquire(pool: Sequence[str], lock_dir: Path, poll_s: float = 1.0,
            timeout_s: float | None = None, log=None, share: int = 1,
            min_free_mib: int = 0, env: Mapping[str, str] | None = None
            ) -> tuple[str, int]:
    """Wait for a free slot of `pool` (slot 0 of every device first); return its device and
    locked descriptor."""
    start = time.monotonic()
    warned = False
    low: set[str] = set()
    while True:
        for slot in range(share):
            for device in pool:
                fd = try_lock(lock_dir, device, slot)
                if fd is None:
                    continue
                free = free_mib(device, env or os.environ) if min_free_mib else None
                if free is not None and free < min_free_mib:
                    os.close(fd)
                    if log is not None and device not in low:
                        log(f"gpu: device {device} has {free} MiB free, below "
                            f"--min-free-mib {min_free_mib}; waiting")
                    low.add(device)
                    continue
                return device, fd
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(f"no free GPU slot among {list(pool)} x {share} after "
                               f"{timeout_s} s")
        if not warned and log is not None:
            log(f"gpu: all {share} slot(s) of {len(pool)} device(s) {list(pool)} are in use; "
                f"waiting (lock files in {lock_dir}; pass --resources gpu={len(pool) * share}"
                " to snakemake so it starts no more GPU jobs than there are slots)")
            warned = True
        time.sleep(poll_s)


def acquire_alone(device: str, lock_dir: Path, share: int) -> list[int]:
    """Every slot of `device`, taken in slot order (waiting for each)."""
    return [try_lock(lock_dir, device, slot, block=True) for slot in range(share)]


def acquire_whole(pool: Sequence[str], lock_dir: Path, share: int, poll_s: float = 1.0,
                  log=None) -> tuple[str, list[int]]:
    """A device with every one of its `share` slots free (training takes a whole GPU)."""
    warned = False
    while True:
        for device in pool:
            fds = []
            for slot in range(share):
                fd = try_lock(lock_dir, device, slot)
                if fd is None:
                    break
                fds.append(fd)
            if len(fds) == share:
                return device, fds
            for fd in fds:
                os.close(fd)
        if not warned and log is not None:
            log(f"gpu: no device of {list(pool)} is free of other jobs; waiting")
            warned = True
        time.sleep(poll_s)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _exec(command: list[str], env: dict[str, str]) -> int:
    try:
        os.execvpe(command[0], command, env)
    except OSError as err:
        _log(f"error: cannot run {command[0]!r}: {err}")
        return 127
    return 0  # not reached


def _die_with_parent() -> None:
    """In the child: be killed when the wrapper dies (Linux), so a wrapper killed with
    SIGKILL leaves no command running on the device with its slot freed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run(command: list[str], env: dict[str, str], fds: list[int]) -> int:
    """The command as a child holding the slot descriptors; SIGINT/SIGTERM reach it."""
    try:
        child = subprocess.Popen(command, env=env, pass_fds=fds,
                                 preexec_fn=_die_with_parent)
    except OSError as err:
        _log(f"error: cannot run {command[0]!r}: {err}")
        return 127
    forward = lambda signum, _frame: child.send_signal(signum)  # noqa: E731
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeio.gpu",
        description="Run COMMAND with CUDA_VISIBLE_DEVICES set to a free GPU slot of the pool "
        "(unchanged without a GPU, or under SLURM with one).")
    parser.add_argument("--devices", default="auto",
                        help="auto (CUDA_VISIBLE_DEVICES, else MICRODUALNET_GPU_COUNT, else "
                        "the driver's GPUs), none, or a list such as 0,1")
    parser.add_argument("--share", type=int, default=1,
                        help="jobs that may use one device at once (default 1)")
    parser.add_argument("--whole", action="store_true",
                        help="take a device with none of its slots in use (training)")
    parser.add_argument("--min-free-mib", type=int, default=0,
                        help="wait while the device has less free memory than this (MiB; "
                        "0: no check)")
    parser.add_argument("--lock-dir", type=Path, default=None,
                        help=f"lock files (default: {default_lock_dir()})")
    parser.add_argument("--poll-s", type=float, default=1.0, help="wait between tries (s)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command to run, after --")
    try:
        preset = shlex.split(os.environ.get(OPTIONS_ENV, ""))
    except ValueError as err:
        parser.error(f"{OPTIONS_ENV} is not shell-quoted options ({err})")
    if "--" in preset:
        parser.error(f"{OPTIONS_ENV} holds options only, not a command")
    args = parser.parse_args(preset + list(sys.argv[1:] if argv is None else argv))
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    if args.share < 1 or args.min_free_mib < 0 or not args.poll_s > 0:
        parser.error("--share must be at least 1, --min-free-mib at least 0 and --poll-s "
                     "more than 0")
    env = dict(os.environ)
    slurm_job = env.get("SLURM_JOB_ID", "").strip()
    if slurm_job:
        pool = slurm_pool(args.devices, env)
        if len(pool) < 2:
            _log(f"gpu: SLURM job {slurm_job}, CUDA_VISIBLE_DEVICES="
                 f"{env.get('CUDA_VISIBLE_DEVICES', '(unset)')} left as the scheduler set it")
            return _exec(command, env)
        _log(f"gpu: SLURM job {slurm_job} holds GPUs {','.join(pool)}; its GPU jobs take "
             "slots of them")
    else:
        try:
            pool = device_pool(args.devices, env)
        except ValueError as err:
            parser.error(str(err))
    if not pool:
        _log("gpu: no GPU in the pool; running on the CPU")
        return _exec(command, env)
    # Device ids in nvidia-smi's order (PCI bus), which the free-memory check asks by, not
    # CUDA's default fastest-first: on a machine with mixed GPUs they differ.
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    try:
        return _take_slot_and_run(args, command, env, pool, slurm_job)
    except OSError as err:  # the lock folder or a lock file: one line, not a traceback
        _log(f"error: gpu: {err}")
        return 2


def _take_slot_and_run(args: argparse.Namespace, command: list[str], env: dict[str, str],
                       pool: list[str], slurm_job: str = "") -> int:
    lock_dir = args.lock_dir or private_lock_dir(default_lock_dir())
    if slurm_job:
        lock_dir = lock_dir / ("slurm-" + re.sub(r"[^A-Za-z0-9_.-]", "_", slurm_job))
    if args.whole:
        device, fds = acquire_whole(pool, lock_dir, args.share, args.poll_s, log=_log)
        for held in fds:
            os.set_inheritable(held, True)
        env.update(CUDA_VISIBLE_DEVICES=device, **{SHARE_ENV: "1"})
        _log(f"gpu: CUDA_VISIBLE_DEVICES={device} (pool {','.join(pool)}, the whole device)")
        return _exec(command, env)
    device, fd = acquire(pool, lock_dir, args.poll_s, log=_log, share=args.share,
                         min_free_mib=args.min_free_mib, env=env)
    env.update(CUDA_VISIBLE_DEVICES=device, **{SHARE_ENV: str(args.share)})
    _log(f"gpu: CUDA_VISIBLE_DEVICES={device} (pool {','.join(pool)}, {args.share} job(s) "
         "per device)")
    if args.share == 1:  # nothing to retry: the command takes the wrapper's place
        os.set_inheritable(fd, True)
        return _exec(command, env)
    code = _run(command, env, [fd])
    os.close(fd)
    if code != OUT_OF_MEMORY_EXIT or args.share == 1:
        return code
    _log(f"gpu: the command ran out of memory on device {device} shared by up to "
         f"{args.share} jobs; running it again alone on that device")
    fds = acquire_alone(device, lock_dir, args.share)
    env[SHARE_ENV] = "1"
    try:
        code = _run(command, env, fds)
    finally:
        for held in fds:
            os.close(held)
    if code == OUT_OF_MEMORY_EXIT:
        _log(f"gpu: out of GPU memory on device {device} alone too")
    return code


if __name__ == "__main__":
    sys.exit(main())
