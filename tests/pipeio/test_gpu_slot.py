"""`python -m pipeio.gpu`: each concurrent GPU job gets its own device, without a GPU here
(the device count is faked with MICRODUALNET_GPU_COUNT; only the assignment is tested)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeio.gpu import COUNT_ENV, OPTIONS_ENV, acquire, device_pool

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


def _job(tmp_path: Path, name: str, env: dict[str, str], *wrapper_args: str):
    report, release = tmp_path / f"{name}.device", tmp_path / f"{name}.release"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeio.gpu", "--lock-dir", str(tmp_path / "locks"),
         "--poll-s", "0.05", *wrapper_args, "--", sys.executable, "-c", HOLD, str(report),
         str(release)], env=env, stderr=subprocess.PIPE, text=True)
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
    c = _job(tmp_path, "c", _env(), "--devices", "7")
    assert _wait_for(c[1]) == "7"
    for job in (a, b, c):
        job[2].touch()
        assert job[0].wait(timeout=30) == 0


@pytest.mark.parametrize(("env", "args", "expected"), [
    # Under SLURM the job keeps all its devices (a slot would narrow "2,3" to one).
    ({"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "2,3", COUNT_ENV: "4"}, [], "2,3"),
    ({"SLURM_JOB_ID": "42", COUNT_ENV: "4"}, [], "unset"),
    ({COUNT_ENV: "0"}, [], "unset"),
    ({COUNT_ENV: "4"}, ["--devices", "none"], "unset"),
])
def test_environment_left_alone_under_slurm_or_without_a_gpu(tmp_path, env, args, expected):
    job = _job(tmp_path, "a", _env(**env), *args)
    assert _wait_for(job[1]) == expected
    job[2].touch()
    assert job[0].wait(timeout=30) == 0
    if "SLURM_JOB_ID" in env:
        assert "gpu: SLURM job 42" in job[0].stderr.read()


def test_device_pool_rules():
    assert device_pool("auto", {COUNT_ENV: "3"}) == ["0", "1", "2"]
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": "1,0", COUNT_ENV: "3"}) == ["1", "0"]
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": ""}) == []
    assert device_pool("auto", {"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]
    assert device_pool("0, 2", {}) == ["0", "2"]
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
