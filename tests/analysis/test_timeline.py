"""The QC timeline's parts on hand-made files: pose flags, runs and the true events drawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis.timeline as timeline
from analysis.__main__ import main as analysis_main
from analysis.aggregate import Timeline
from analysis.timeline import _runs, person_frames
from pipeio import InputError
from pipeio.windows import read_windows, write_windows

CLASSES = ["nodding", "no action"]


def _windows(path: Path, pid: str = "a", fps: float | None = 10.0, **extra: float) -> Path:
    table = pd.DataFrame({"start_s": [0.0, 1.0], "end_s": [2.0, 3.0], "valid": [True, True],
                          "pose_fraction": 1.0, "prob_nodding": [0.9, 0.1],
                          "prob_no action": [0.1, 0.9]})
    meta = {"participant_id": pid, "class_names": CLASSES, "entities": [], "duration_s": 3.0,
            "min_pose_fraction": 0.5, "excluded": None, "fps": fps, **extra}
    return write_windows(path / f"{pid}.parquet", table, meta)


def _pose(path: Path, fps: float = 10.0) -> Path:
    """Four sampled frames (0, 2, 4, 6) of a 10-frame video with 5 joints each: a person
    (3 joints above 0.3), none (2 joints), none (3 joints at exactly 0.3), a person (5)."""
    conf = np.array([[0.9, 0.9, 0.31, 0.1, 0.0],
                     [0.9, 0.9, 0.1, 0.1, 0.1],
                     [0.3, 0.3, 0.3, 0.2, 0.0],
                     [0.5, 0.5, 0.5, 0.5, 0.5]])
    kp = np.zeros((4, 5, 3))
    kp[..., 2] = conf
    out = path / "pose.npz"
    np.savez(out, keypoints=kp, frame_index=np.array([0, 2, 4, 6]), fps=np.float64(fps),
             video_frames=np.int64(10))
    return out


def test_person_frames_gives_times_in_seconds_and_the_person_rule(tmp_path):
    times, found = person_frames(_pose(tmp_path), _windows(tmp_path))
    np.testing.assert_allclose(times, [0.0, 0.2, 0.4, 0.6])
    assert found.tolist() == [True, False, False, True]


def test_person_frames_are_on_the_windows_clock(tmp_path):
    """A video a player shows from 0.25 s: its frames are drawn under the windows there."""
    times, _ = person_frames(_pose(tmp_path), _windows(tmp_path, first_frame_s=0.25))
    np.testing.assert_allclose(times, [0.25, 0.45, 0.65, 0.85])


def test_pose_file_of_another_frame_rate_is_refused_naming_fps(tmp_path):
    with pytest.raises(InputError, match=r"pose\.npz is not of the video windows file .*"
                       r"a\.parquet was made from \(fps 25 vs 10\)"):
        person_frames(_pose(tmp_path, fps=25.0), _windows(tmp_path))
    # within the tolerance (0.1 %) is the same rate; a file without fps is not compared
    assert len(person_frames(_pose(tmp_path, fps=10.005), _windows(tmp_path))[0]) == 4
    assert len(person_frames(_pose(tmp_path, fps=25.0), _windows(tmp_path, fps=None))[0]) == 4


def test_runs_are_start_and_length_of_each_true_run():
    assert _runs(np.array([0, 1, 1, 0, 1])) == [(1, 2), (4, 1)]
    assert _runs(np.array([True, True, True])) == [(0, 3)]
    assert _runs(np.array([False, False])) == []


def test_only_the_participants_true_events_are_drawn(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(timeline, "plot_timeline",
                        lambda tl, out, pose, truth: seen.update(truth=truth, pose=pose))
    truth = tmp_path / "truth.tsv"
    truth.write_text("participant_id\taction\tstart_s\tend_s\n"
                     "b\tnodding\t0.0\t1.0\n"
                     "a\tnodding\t0.5\t1.5\n"
                     "b\tnodding\t2.0\t3.0\n")
    code = analysis_main(["timeline", "--windows", str(_windows(tmp_path)), "--truth",
                          str(truth), "--out", str(tmp_path / "t.png")])
    assert code in (0, None) and seen["pose"] is None
    got = seen["truth"]
    assert got["participant_id"].tolist() == ["a"]
    assert got["start_s"].tolist() == [0.5] and got["end_s"].tolist() == [1.5]


def test_an_excluded_participants_title_names_no_file(tmp_path, monkeypatch):
    """The timelines are in `snakemake --report`: an exclusion reason naming the video (often
    named after the child) is replaced as in report.html."""
    from matplotlib.axes import Axes

    titles = []
    real = Axes.set_title
    monkeypatch.setattr(Axes, "set_title",
                        lambda ax, text, *a, **k: titles.append(text) or real(ax, text, *a, **k))
    table = pd.DataFrame({"start_s": [], "end_s": [], "valid": [], "pose_fraction": [],
                          "prob_nodding": [], "prob_no action": []})
    reason = "pose: video /data/Visit 1 - Jane Doe.mp4 is not readable (truncated?)"
    path = write_windows(tmp_path / "a.parquet", table,
                         {"participant_id": "a", "class_names": CLASSES, "entities": [],
                          "duration_s": None, "min_pose_fraction": 0.5, "excluded": reason})
    assert analysis_main(["timeline", "--windows", str(path), "--out",
                          str(tmp_path / "a.png")]) in (0, None)
    assert (tmp_path / "a.png").is_file()
    excluded = [t for t in titles if t.startswith("excluded: ")]
    assert excluded == ["excluded: pose: an input file could not be used (the reason names "
                        "files, so it is given in the exclusions TSV only)"]
    assert not any("Jane" in t for t in titles)


def test_pose_file_of_a_frame_rate_a_few_percent_off_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"\(fps 10\.5 vs 10\)"):
        person_frames(_pose(tmp_path, fps=10.5), _windows(tmp_path))


def test_a_pose_file_that_is_not_one_is_named(tmp_path):
    windows = _windows(tmp_path)
    bad = tmp_path / "pose.npz"
    for content in (b"not a pose file", None):
        if content is None:  # an .npz without the frame rate
            np.savez(bad, keypoints=np.zeros((1, 5, 3)), frame_index=np.array([0]))
        else:
            bad.write_bytes(content)
        with pytest.raises(InputError, match=r"pose file .*pose\.npz is not a readable pose "
                           r"\.npz"):
            person_frames(bad, windows)


def test_pose_file_of_a_video_of_another_length_is_refused(tmp_path):
    windows = _windows(tmp_path)
    table, meta = read_windows(windows)
    write_windows(windows, table, {**meta, "video_frames": 12})
    with pytest.raises(InputError, match=r"was made from \(video_frames 10 vs 12\)"):
        person_frames(_pose(tmp_path), windows)


def test_the_figure_draws_each_actions_runs_its_true_events_and_the_qc_strips(tmp_path,
                                                                              monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    monkeypatch.setattr(Axes, "broken_barh", lambda ax, xranges, yrange, **kw: drawn.append(
        [(float(a), float(b)) for a, b in xranges]))
    tl = Timeline("a", ["nodding", "shaking legs", "no action"], ["nodding", "shaking legs"],
                  bin_start=np.array([0.0, 1.0, 2.0, 3.0]),
                  bin_width=np.array([1.0, 1.0, 1.0, 0.5]), probs=np.zeros((4, 3)),
                  valid=np.array([True, True, False, True]), label=np.array([0, 0, -1, 1]),
                  baseline=np.zeros(3))
    pose = (np.array([0.0, 0.5, 1.0, 1.5]), np.array([True, True, False, True]))
    truth = pd.DataFrame({"action": ["nodding", "shaking legs"], "start_s": [0.2, 3.0],
                          "end_s": [1.2, 3.4]})
    timeline.plot_timeline(tl, tmp_path / "t.png", pose, truth)
    assert drawn == [[(0.0, 2.0)], [(0.2, pytest.approx(1.0))],  # nodding: bins 0-1, truth
                     [(3.0, 0.5)], [(3.0, pytest.approx(0.4))],  # shaking legs
                     [(0.0, 2.0), (3.0, 0.5)],  # valid windows
                     [(0.0, 1.0), (1.5, 0.5)]]  # person in pose: frames 0.5 s apart


def test_every_bar_is_added_with_the_limits_already_fixed(tmp_path, monkeypatch):
    """Autoscaling is off before the first bar (each bar set would redo it), and the axes
    end with the limits the figure sets: rows top-down, time from 0 to the video's end."""
    from matplotlib.axes import Axes

    real, scaling, axes = Axes.broken_barh, [], []
    monkeypatch.setattr(Axes, "broken_barh", lambda ax, *a, **k: scaling.append(
        (ax.get_autoscalex_on(), ax.get_autoscaley_on())) or axes.append(ax)
        or real(ax, *a, **k))
    tl = Timeline("a", ["nodding", "no action"], ["nodding"], bin_start=np.array([0.0, 1.0]),
                  bin_width=np.array([1.0, 0.5]), probs=np.zeros((2, 2)),
                  valid=np.array([True, True]), label=np.array([0, -1]), baseline=np.zeros(2))
    timeline.plot_timeline(tl, tmp_path / "t.png")
    assert scaling == [(False, False)] * 2
    assert axes[0].get_ylim() == (0.6, -0.6) and axes[1].get_ylim() == (-0.6, 0.6)
    assert axes[1].get_xlim() == (0.0, 1.5)


def test_the_timeline_command_imports_neither_other_stages_nor_pyplot(tmp_path):
    """One job per participant: each import of another stage's modules (the report's, the
    codings readers, the stats config's pydantic) or of pyplot would be paid per participant.
    In a fresh interpreter, as the workflow runs it."""
    windows, out = _windows(tmp_path), tmp_path / "a.png"
    avoided = ("matplotlib.pyplot", "pydantic", "yaml", "analysis.config", "analysis.report",
               "analysis.plots", "analysis.pose_quality", "analysis.codings",
               "analysis.agreement")
    code = ("import sys\nfrom analysis.__main__ import main\n"
            f"assert main(['timeline', '--windows', {str(windows)!r}, '--out', {str(out)!r}])"
            " == 0\n"
            f"print(sorted(m for m in {avoided!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
    assert out.read_bytes().startswith(b"\x89PNG")
