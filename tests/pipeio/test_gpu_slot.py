"""`python -m pipeio.gpu`: each concurrent GPU job gets its own device, without a GPU here
(the device count is faked with MICRODUALNET_GPU_COUNT; only the assignment is tested)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeio.gpu import (
    COUNT_ENV,
    OPTIONS_ENV,
    acquire,
    acquire_alone,
    acquire_whole,
    device_pool,
    out_of_memory_line,
    private_lock_dir,
    try_lock,
)

# A job that reports its device, then holds it until its release file appears.
HOLD = ("import os, pathlib, sys, time\n"
        "out = pathlib.Path(sys.argv[1])\n"
        "out.write_text(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n"
        "while not pathlib.Path(sys.argv[2]).exists():\n"
        "    time.sleep(0.05)\n")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "SLURM_JOB_ID", COUNT_ENV,
                        OPTIONS_ENV)}
    env.update(extra)
    return env


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test():
    """A failed assertion leaves held jobs waiting for a release file: kill them."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _job(tmp_path: Path, name: str, env: dict[str, str], *wrapper_args: str):
    report, release = tmp_path / f"{name}.device", tmp_path / f"{name}.release"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"),
         "--poll-s", "0.05", *wrapper_args, "--", sys.executable, "-c", HOLD, str(report),
         str(release)], env=env, stderr=subprocess.PIPE, text=True)
    _STARTED.append(proc)
    return proc, report, release


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)
    time.sleep(0.05)
    return path.read_text()


def test_concurrent_jobs_get_different_devices_and_a_third_waits(tmp_path):
    env = _env(**{COUNT_ENV: "2"})
    a = _job(tmp_path, "a", env)
    b = _job(tmp_path, "b", env)
    devices = {_wait_for(a[1]), _wait_for(b[1])}
    assert devices == {"0", "1"}
    c = _job(tmp_path, "c", env)
    time.sleep(1.0)
    assert not c[1].exists(), "a third job must wait while both devices are busy"
    a[2].touch()  # job a ends: its device is free again and c gets exactly that one
    assert a[0].wait(timeout=30) == 0
    assert _wait_for(c[1]) == a[1].read_text()
    b[2].touch()
    c[2].touch()
    assert b[0].wait(timeout=30) == 0 and c[0].wait(timeout=30) == 0
    assert "in use; waiting" in c[0].stderr.read()


def test_a_killed_job_frees_its_device(tmp_path):
    env = _env(**{COUNT_ENV: "1"})
    a = _job(tmp_path, "a", env)
    assert _wait_for(a[1]) == "0"
    a[0].kill()  # no clean-up code runs; the kernel drops the lock with the process
    a[0].wait(timeout=30)
    b = _job(tmp_path, "b", env)
    assert _wait_for(b[1]) == "0"
    b[2].touch()
    assert b[0].wait(timeout=30) == 0


def test_pool_from_cuda_visible_devices_and_explicit_list(tmp_path):
    env = _env(CUDA_VISIBLE_DEVICES="3,5")
    a = _job(tmp_path, "a", env)
    b = _job(tmp_path, "b", env)
    assert {_wait_for(a[1]), _wait_for(b[1])} == {"3", "5"}
    c = _job(tmp_path, "c", _env(**{COUNT_ENV: "8"}), "--devices", "7")
    assert _wait_for(c[1]) == "7"
    for job in (a, b, c):
        job[2].touch()
        assert job[0].wait(timeout=30) == 0


@pytest.mark.parametrize(("env", "args", "expected"), [
    # Under SLURM a job given one GPU (or none) keeps what the scheduler set.
    ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "2", COUNT_ENV: "4"}, [], "2"),
    ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "2", COUNT_ENV: "4"}, ["--devices", "0,1"],
     "2"),
    ({"SLURM_JOB_ID": "42", COUNT_ENV: "4"}, [], "unset"),
    ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "2,3"}, ["--devices", "none"], "2,3"),
    ({COUNT_ENV: "0"}, [], "unset"),
    ({COUNT_ENV: "4"}, ["--devices", "none"], "unset"),
])
def test_environment_left_alone_under_slurm_or_without_a_gpu(tmp_path, env, args, expected):
    job = _job(tmp_path, "a", _env(**env), *args)
    assert _wait_for(job[1]) == expected
    job[2].touch()
    assert job[0].wait(timeout=30) == 0
    if "SLURM_JOB_ID" in env:
        log = job[0].stderr.read()
        assert "gpu: SLURM job 42, CUDA_VISIBLE_DEVICES=" in log
        assert "left as the scheduler set it" in log
    assert not (tmp_path / "locks").exists()  # no slot taken


def test_jobs_sharing_a_slurm_allocation_spread_over_its_gpus(tmp_path):
    """Snakemake's local executor inside one SLURM allocation of several GPUs (salloc, an
    sbatch script): every job sees all of them, and left alone all would run on the first.
    They take slots of the job's GPUs, whatever --devices lists, with locks of their own
    SLURM job: another job on the node counts its own GPUs from 0 too."""
    env = _env(SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="2,3", **{COUNT_ENV: "4"})
    a = _job(tmp_path, "a", env, "--devices", "0")
    b = _job(tmp_path, "b", env)
    assert {_wait_for(a[1]), _wait_for(b[1])} == {"2", "3"}
    c = _job(tmp_path, "c", env)
    time.sleep(1.0)
    assert not c[1].exists(), "a third job must wait while both of the job's GPUs are busy"
    other = _job(tmp_path, "other", _env(SLURM_JOB_ID="43", CUDA_VISIBLE_DEVICES="2,3"))
    assert _wait_for(other[1]) in ("2", "3")  # SLURM job 43's slots are not job 42's
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["slurm-42", "slurm-43"]
    for job in (a, b, c, other):
        job[2].touch()
    assert _wait_for(c[1]) in ("2", "3")
    for job in (a, b, c, other):
        assert job[0].wait(timeout=30) == 0
    assert "gpu: SLURM job 42 holds GPUs 2,3" in a[0].stderr.read()


def test_device_pool_rules():
    assert device_pool("auto", {COUNT_ENV: "3"}) == ["0", "1", "2"]
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": "1,0", COUNT_ENV: "3"}) == ["1", "0"]
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": ""}) == []
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]
    assert device_pool("0, 2", {COUNT_ENV: "3"}) == ["0", "2"]
    assert device_pool("none", {COUNT_ENV: "2"}) == []
    with pytest.raises(ValueError, match=COUNT_ENV):
        device_pool("auto", {COUNT_ENV: "two"})


def test_acquire_times_out_when_every_device_stays_busy(tmp_path):
    device, fd = acquire(["0"], tmp_path)
    try:
        with pytest.raises(TimeoutError):
            acquire(["0"], tmp_path, poll_s=0.05, timeout_s=0.3)
    finally:
        os.close(fd)
    device2, fd2 = acquire(["0"], tmp_path, timeout_s=1)
    os.close(fd2)
    assert device == device2 == "0"


def test_a_shared_device_takes_share_jobs_spread_over_devices_first(tmp_path):
    env = _env(**{COUNT_ENV: "2"})
    jobs = [_job(tmp_path, "a", env, "--share", "2")]
    first = _wait_for(jobs[0][1])
    jobs.append(_job(tmp_path, "b", env, "--share", "2"))  # slot 0 of the other device
    assert {first, _wait_for(jobs[1][1])} == {"0", "1"}
    jobs += [_job(tmp_path, name, env, "--share", "2") for name in "cd"]
    devices = sorted(_wait_for(job[1]) for job in jobs)
    assert devices == ["0", "0", "1", "1"]
    e = _job(tmp_path, "e", env, "--share", "2")
    time.sleep(1.0)
    assert not e[1].exists(), "a fifth job must wait: 2 devices x 2 slots are taken"
    for job in (*jobs, e):
        job[2].touch()
    assert _wait_for(e[1]) in ("0", "1")
    for job in (*jobs, e):
        assert job[0].wait(timeout=30) == 0


def test_a_device_short_of_memory_is_waited_for(tmp_path):
    env = _env(**{COUNT_ENV: "1", "MICRODUALNET_GPU_FREE_MIB": "100"})
    job = _job(tmp_path, "a", env, "--share", "2", "--min-free-mib", "500")
    time.sleep(1.5)
    assert not job[1].exists() and job[0].poll() is None  # waiting, not given up
    job[0].kill()
    assert "100 MiB free, below --min-free-mib 500" in job[0].stderr.read()


def test_options_from_the_environment_and_the_command_line_wins(tmp_path):
    """The workflow passes the pool's settings in the environment (so changing them reruns
    nothing); an option on the command line overrides them."""
    env = _env(**{COUNT_ENV: "2", OPTIONS_ENV: "--devices 1 --share 1"})
    a = _job(tmp_path, "a", env)
    assert _wait_for(a[1]) == "1"
    b = _job(tmp_path, "b", env, "--devices", "0")
    assert _wait_for(b[1]) == "0"
    for job in (a, b):
        job[2].touch()
        assert job[0].wait(timeout=30) == 0
    order = subprocess.run(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"), "--",
         sys.executable, "-c", "import os; print(os.environ['CUDA_DEVICE_ORDER'])"],
        text=True, capture_output=True, env=_env(**{COUNT_ENV: "1"}))
    assert order.stdout.strip() == "PCI_BUS_ID"  # the order nvidia-smi -i counts in
    bad = subprocess.run([sys.executable, "-m", "pipeio.gpu", "--", "true"], text=True,
                         capture_output=True, env=_env(**{OPTIONS_ENV: "--lock-dir 'x"}))
    assert bad.returncode == 2 and f"{OPTIONS_ENV} is not shell-quoted options" in bad.stderr


# Runs out of memory while its device is shared; alone, it says so and succeeds.
OOM_WHEN_SHARED = ("import os, pathlib, sys\n"
                   "if os.environ['MICRODUALNET_GPU_SHARE'] != '1':\n"
                   "    sys.exit(75)\n"
                   "pathlib.Path(sys.argv[1]).write_text('alone on ' + "
                   "os.environ['CUDA_VISIBLE_DEVICES'])\n")


def test_out_of_memory_on_a_shared_device_is_retried_alone(tmp_path):
    env = _env(**{COUNT_ENV: "1"})
    other = _job(tmp_path, "other", env, "--share", "2")
    assert _wait_for(other[1]) == "0"
    report = tmp_path / "oom.out"
    oom = subprocess.Popen(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"),
         "--poll-s", "0.05", "--share", "2", "--", sys.executable, "-c", OOM_WHEN_SHARED,
         str(report)], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert oom.poll() is None and not report.exists(), "the retry waits for the device"
    other[2].touch()
    assert oom.wait(timeout=30) == 0 and report.read_text() == "alone on 0"
    assert "running it again alone" in oom.stderr.read()
    assert other[0].wait(timeout=30) == 0


def test_a_killed_wrapper_of_a_shared_job_frees_its_slot(tmp_path):
    env = _env(**{COUNT_ENV: "1"})
    a, b = (_job(tmp_path, name, env, "--share", "2") for name in "ab")
    assert _wait_for(a[1]) == _wait_for(b[1]) == "0"
    a[0].kill()  # the wrapper dies; its command goes with it and the slot is free again
    a[0].wait(timeout=30)
    c = _job(tmp_path, "c", env, "--share", "2")
    assert _wait_for(c[1]) == "0"
    for job in (b, c):
        job[2].touch()
        assert job[0].wait(timeout=30) == 0


def test_training_takes_a_whole_device(tmp_path):
    env = _env(**{COUNT_ENV: "2"})
    a = _job(tmp_path, "a", env, "--share", "2")
    assert _wait_for(a[1]) == "0"
    whole = _job(tmp_path, "w", env, "--share", "2", "--whole")
    assert _wait_for(whole[1]) == "1"  # device 0 has a job on it
    b = _job(tmp_path, "b", env, "--share", "2")
    assert _wait_for(b[1]) == "0"  # device 1 is all taken: b shares device 0
    for job in (a, whole, b):
        job[2].touch()
        assert job[0].wait(timeout=30) == 0


def test_a_device_with_exactly_the_free_memory_asked_for_is_taken(tmp_path):
    device, fd = acquire(["0"], tmp_path, share=2, min_free_mib=500,
                         env={"MICRODUALNET_GPU_FREE_MIB": "500"}, timeout_s=1)
    os.close(fd)
    assert device == "0"


def test_a_slot_short_of_memory_is_given_back_and_the_wait_said_once(tmp_path):
    """While waiting for memory the wrapper holds no slot (other jobs may end and free the
    memory only if they can run), and says why once, not every poll."""
    said, start = [], time.monotonic()
    with pytest.raises(TimeoutError, match=r"no free GPU slot among \['0'\] x 2 after 0.3 s"):
        acquire(["0"], tmp_path, poll_s=0.02, timeout_s=0.3, log=said.append, share=2,
                min_free_mib=500, env={"MICRODUALNET_GPU_FREE_MIB": "100"})
    assert time.monotonic() - start < 5
    held = [try_lock(tmp_path, "0", slot) for slot in range(2)]
    assert None not in held, "a slot was kept while waiting for memory"
    for fd in held:
        os.close(fd)
    assert said.count("gpu: device 0 has 100 MiB free, below --min-free-mib 500; "
                      "waiting") == 1


def test_retry_alone_and_whole_take_every_slot_and_leave_the_others_free(tmp_path):
    fds = acquire_alone("0", tmp_path, 3)
    try:
        assert [try_lock(tmp_path, "0", slot) for slot in range(3)] == [None] * 3
    finally:
        for fd in fds:
            os.close(fd)
    # Whole: device 0 has a job in its slot 1, so device 1; device 0's slot 0, tried on
    # the way, is free again.
    busy = try_lock(tmp_path, "0", 1)
    device, fds = acquire_whole(["0", "1"], tmp_path, 2, poll_s=0.02)
    try:
        assert device == "1" and len(fds) == 2
        assert [try_lock(tmp_path, "1", slot) for slot in range(2)] == [None] * 2
        free = try_lock(tmp_path, "0", 0)
        assert free is not None, "a slot of a device not taken is still held"
        os.close(free)
    finally:
        for fd in (*fds, busy):
            os.close(fd)


# Out of memory while shared; alone it reports, then holds the device until released.
OOM_THEN_HOLD = ("import os, pathlib, sys, time\n"
                 "if os.environ['MICRODUALNET_GPU_SHARE'] != '1':\n"
                 "    sys.exit(75)\n"
                 "pathlib.Path(sys.argv[1]).write_text(os.environ['CUDA_VISIBLE_DEVICES'])\n"
                 "while not pathlib.Path(sys.argv[2]).exists():\n"
                 "    time.sleep(0.05)\n")


def test_the_retry_alone_keeps_other_jobs_off_its_device(tmp_path):
    env = _env(**{COUNT_ENV: "1"})
    report, release = tmp_path / "oom.device", tmp_path / "oom.release"
    oom = subprocess.Popen(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"),
         "--poll-s", "0.05", "--share", "2", "--", sys.executable, "-c", OOM_THEN_HOLD,
         str(report), str(release)], env=env, stderr=subprocess.PIPE, text=True)
    assert _wait_for(report) == "0"  # running alone now
    other = _job(tmp_path, "other", env, "--share", "2")
    time.sleep(1.0)
    assert not other[1].exists(), "a job joined the device of a retry running alone"
    release.touch()
    assert oom.wait(timeout=30) == 0
    assert _wait_for(other[1]) == "0"
    other[2].touch()
    assert other[0].wait(timeout=30) == 0


def test_a_whole_device_job_is_told_it_runs_alone(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"), "--share",
         "3", "--whole", "--", sys.executable, "-c",
         "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], "
         "os.environ['MICRODUALNET_GPU_SHARE'])"],
        text=True, capture_output=True, env=_env(**{COUNT_ENV: "1"}), timeout=30)
    assert done.returncode == 0 and done.stdout.split() == ["0", "1"]


# Reports that it started, and on SIGTERM says so and exits 3.
TERM_AWARE = ("import pathlib, signal, sys, time\n"
              "def stop(*_):\n"
              "    pathlib.Path(sys.argv[1] + '.term').write_text('terminated')\n"
              "    sys.exit(3)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "pathlib.Path(sys.argv[1]).write_text('up')\n"
              "while True:\n"
              "    time.sleep(0.05)\n")


def test_sigterm_to_the_wrapper_of_a_shared_job_reaches_the_command(tmp_path):
    """Snakemake or a user stopping the job: the command gets the signal to end cleanly
    (not only the wrapper's death, which kills it at once), and its status is the job's."""
    report = tmp_path / "job.up"
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"),
         "--share", "2", "--", sys.executable, "-c", TERM_AWARE, str(report)],
        env=_env(**{COUNT_ENV: "1"}), stderr=subprocess.PIPE, text=True)
    assert _wait_for(report) == "up"
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 3
    assert (tmp_path / "job.up.term").read_text() == "terminated"


def test_the_drivers_gpus_without_torch(tmp_path, monkeypatch):
    """`auto` with neither CUDA_VISIBLE_DEVICES nor the count: the driver's list of GPUs,
    else nvidia-smi -L's, else none."""
    import pipeio.gpu as gpu

    proc = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        (proc / bus).mkdir(parents=True)
    monkeypatch.setattr(gpu, "_PROC_GPUS", proc)
    assert device_pool("auto", {}) == ["0", "1"]
    monkeypatch.setattr(gpu, "_PROC_GPUS", tmp_path / "no_driver")
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-1)'\n"
                   "echo 'GPU 1: NVIDIA H100 (UUID: GPU-2)'\necho 'GPU 2: NVIDIA H100 (UUID: "
                   "GPU-3)'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    assert device_pool("auto", {}) == ["0", "1", "2"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert device_pool("auto", {}) == []


@pytest.mark.parametrize(("env", "args", "needle"), [
    ({}, ["--devices", ","], "--devices must be auto, none or a list like 0,1; got ','"),
    ({}, ["--share", "0"], "--share must be at least 1"),
    ({}, ["--min-free-mib", "-1"], "--min-free-mib at least 0"),
    ({}, ["--poll-s", "0"], "--poll-s more than 0"),
    ({COUNT_ENV: "-1"}, [], f"{COUNT_ENV} must be a whole number 0 or more, got '-1'"),
    ({COUNT_ENV: "2"}, ["--devices", "1,2"], "lists GPU 2, but this machine has 2 (0-1)"),
    ({OPTIONS_ENV: "--share 2 -- true"}, [], f"{OPTIONS_ENV} holds options only"),
])
def test_bad_wrapper_settings_are_refused_before_any_slot(tmp_path, env, args, needle):
    done = subprocess.run(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"), *args,
         "--", sys.executable, "-c", "print('ran')"], text=True, capture_output=True,
        env=_env(**{COUNT_ENV: "1", **env}), timeout=30)
    assert done.returncode == 2 and needle in done.stderr and "ran" not in done.stdout


def test_a_listed_gpu_the_machine_lacks_is_refused_not_run_on_the_cpu(tmp_path, monkeypatch):
    """gpu.devices [0, 1, 2, 3] on a machine with two GPUs: CUDA_VISIBLE_DEVICES=2 shows the
    job no GPU, and `--device auto` ran it on the CPU without a word. A negative count is a
    mistake too, not "no GPU"."""
    import pipeio.gpu as gpu

    with pytest.raises(ValueError, match=r"lists GPU 2, 3, but this machine has 2 \(0-1\)"):
        device_pool("0,1,2,3", {COUNT_ENV: "2"})
    proc = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        (proc / bus).mkdir(parents=True)
    monkeypatch.setattr(gpu, "_PROC_GPUS", proc)  # the driver's count when none is set
    with pytest.raises(ValueError, match="lists GPU 2, but this machine has 2"):
        device_pool("2", {})
    assert device_pool("1,0", {}) == ["1", "0"]
    assert device_pool("GPU-8a1b,MIG-1c2d", {}) == ["GPU-8a1b", "MIG-1c2d"]  # CUDA checks
    monkeypatch.setattr(gpu, "_PROC_GPUS", tmp_path / "no_driver")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert device_pool("7", {}) == ["7"]  # no count known: nothing to check against
    with pytest.raises(ValueError, match=f"{COUNT_ENV} must be a whole number 0 or more"):
        device_pool("auto", {COUNT_ENV: "-2"})


def test_a_link_planted_under_a_lock_files_name_is_not_followed(tmp_path):
    """Taking a slot truncates its lock file: through a link it truncated the linked file."""
    victim = tmp_path / "results.tsv"
    victim.write_text("precious\n")
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "gpu-0.0.lock").symlink_to(victim)
    done = subprocess.run(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(locks), "--", sys.executable,
         "-c", "print('ran')"], text=True, capture_output=True,
        env=_env(**{COUNT_ENV: "1"}), timeout=30)
    assert done.returncode == 2 and "ran" not in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"error: gpu: cannot open lock file {locks / 'gpu-0.0.lock'}")
    assert victim.read_text() == "precious\n"


def test_the_default_lock_folder_is_this_users_and_closed_to_others(tmp_path, monkeypatch):
    """It sits in the shared temporary folder: one another user made first is refused, and
    one others may write to is closed to them."""
    import pipeio.gpu as gpu

    mine = tmp_path / "microdualnet-gpu-x"
    mine.mkdir()
    mine.chmod(0o777)
    assert private_lock_dir(mine) == mine and mine.stat().st_mode & 0o777 == 0o700
    fresh = private_lock_dir(tmp_path / "fresh")
    assert fresh.stat().st_mode & 0o777 == 0o700
    link = tmp_path / "link"
    link.symlink_to(mine)
    with pytest.raises(OSError, match="is not a folder of this user's"):
        private_lock_dir(link)
    uid = os.getuid()
    monkeypatch.setattr(gpu.os, "getuid", lambda: uid + 1)
    with pytest.raises(OSError, match=f"lock folder {mine} is not a folder of this user's"):
        private_lock_dir(mine)


@pytest.mark.parametrize(("message", "line"), [
    ("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported",
     "CUDA error: out of memory"),  # creating the CUDA context on a full device
    ("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
     "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    ("cuDNN error: CUDNN_STATUS_NOT_ENOUGH_MEMORY", "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_MEMORY"),
    ("Caught RuntimeError in pin memory thread for device 0.\nOriginal Traceback (most "
     "recent call last):\n  ...\nRuntimeError: CUDA driver error: out of memory\n",
     "RuntimeError: CUDA driver error: out of memory"),
    ("mat1 and mat2 shapes cannot be multiplied (4x3 and 2x2)", None),
    ("CUDA error: device-side assert triggered", None),
])
def test_out_of_memory_however_cuda_says_it(message, line):
    """Only torch's allocator raises torch.OutOfMemoryError; CUDA out of memory elsewhere is
    a plain RuntimeError, and a shared job failing that way must be retried alone too."""
    assert out_of_memory_line(RuntimeError(message)) == line


def test_an_out_of_memory_error_class_counts_without_a_message():
    class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError's name, without torch
        pass

    assert out_of_memory_line(OutOfMemoryError("")) == "OutOfMemoryError"
    assert out_of_memory_line(OutOfMemoryError("Tried to allocate 2 GiB\nmore")) == (
        "Tried to allocate 2 GiB")
