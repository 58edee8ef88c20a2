"""The HTML report: caption markup, the merged exclusions list, refusal of non-PNGs, and the
whole report built from small stage outputs."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.inference_quality import quality_table
from analysis.plots import slugify
from analysis.pose_quality import COLUMNS, OTHERS_FLAG
from analysis.report import (
    _provenance_html,
    agreement_html,
    build_report,
    html_table,
    markdown_caption,
    merge_exclusions,
    png_data_uri,
    rst_to_html,
    text_to_html,
)
from pipeio import InputError


def test_rst_captions_render_paragraphs_lists_and_inline_markup():
    out = rst_to_html("**Bold** and *it* with ``a < b``\nwrapped.\n\n- one\n  more\n- two\n")
    assert out.startswith("<p><strong>Bold</strong> and <em>it</em> with ")
    assert '<span class="docutils literal">a &lt; b</span>' in out
    assert "wrapped.</p>" in out
    items = re.findall(r"<li>(.*?)</li>", out, flags=re.S)
    assert [" ".join(re.sub(r"</?p>", "", i).split()) for i in items] == ["one more", "two"]


def test_broken_caption_markup_is_an_error_naming_the_file():
    with pytest.raises(InputError, match=r"caption workflow/report/x.rst: .*"):
        rst_to_html("**unclosed strong\n", "workflow/report/x.rst")


def test_raw_html_in_a_caption_is_not_passed_through():
    with pytest.raises(InputError, match="raw"):
        rst_to_html(".. raw:: html\n\n   <script>alert(1)</script>\n", "c.rst")


def test_methods_text_becomes_escaped_paragraphs():
    assert text_to_html("a < b\nwrapped\n\n  second  ") == "<p>a &lt; b wrapped</p>\n<p>second</p>"


def test_exclusions_merge_upstream_first_with_stage_and_group():
    upstream = pd.DataFrame({"participant_id": ["s2", "s5", "s6"],
                             "reason": ["pose: video x is not readable",
                                        "infer: pose file y covers 3 frames",
                                        "no valid window (too little pose)"]})
    stats = pd.DataFrame({"participant_id": ["s2", "s7"],
                          "reason": ["in the sheet but not the percent-time table",
                                     "missing covariate age"]})
    sheet = pd.DataFrame({"participant_id": ["s2", "s5", "s6", "s7"],
                          "group": ["ASD", "PSY", "TDC", "ASD"]})
    merged = merge_exclusions(upstream, stats, sheet)
    assert merged.to_dict("list") == {
        "participant_id": ["s2", "s5", "s6", "s7"],
        "group": ["ASD", "PSY", "TDC", "ASD"],
        "stage": ["pose", "infer", "aggregate", "stats"],
        "reason": ["pose: video x is not readable", "infer: pose file y covers 3 frames",
                   "no valid window (too little pose)", "missing covariate age"],
    }


def test_markdown_caption_is_the_paragraph_above_the_table(tmp_path):
    md = tmp_path / "t.md"
    md.write_text("Table V. Caption text.\n\n| A | B |\n|---|---|\n| 1 | 2 |\n")
    assert markdown_caption(md) == "Table V. Caption text."
    md.write_text("Only a caption.\n")
    assert markdown_caption(md) == "Only a caption."


def test_only_png_figures_are_embedded(tmp_path):
    fake = tmp_path / "frame.png"
    fake.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with pytest.raises(InputError, match="not a PNG"):
        png_data_uri(fake)


def test_exclusion_reasons_that_name_files_stay_out_of_the_report():
    """A video's path or name often holds the child's name or the visit date."""
    upstream = pd.DataFrame({"participant_id": ["s1", "s2", "s3", "s4", "s5"], "reason": [
        "pose: video /data/Study Jane Doe/JaneDoe_2019-03-04.mp4 is not readable",
        "pose: video JaneDoe.mp4 is not readable",
        "infer: video is 1.50 s long, shorter than one 2.0 s window",
        "pose: OpenPose folder /data/Jane Doe holds no JSON",  # a folder: no extension
        "pose: OpenPose folder C:\\Study\\Jane Doe holds no JSON"]})
    merged = merge_exclusions(upstream, pd.DataFrame(columns=["participant_id", "reason"]),
                              None)
    text = " ".join(merged["reason"])
    assert "Jane" not in text and "2019" not in text and "mp4" not in text
    assert merged["reason"][0].startswith("pose: an input file could not be used")
    assert merged["reason"][2] == "infer: video is 1.50 s long, shorter than one 2.0 s window"
    assert merged["stage"].tolist() == ["pose", "pose", "infer", "pose", "pose"]


def test_a_damaged_provenance_record_is_an_error_naming_it(tmp_path):
    """Not a JSONDecodeError traceback: the report names the record (and the agreement
    section its own record beside agreement.tsv)."""
    good, bad = tmp_path / "good.json", tmp_path / "provenance.json"
    good.write_text('{"step": "analysis stats", "git_commit": "abc"}')
    bad.write_text('{"step": "analysis st')
    assert "analysis stats" in _provenance_html([good, tmp_path / "absent.json"])
    with pytest.raises(InputError, match=r"provenance record .*provenance\.json is not "
                       "readable JSON"):
        _provenance_html([good, bad])
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(InputError, match=r"list\.json is not a JSON object"):
        _provenance_html([tmp_path / "list.json"])
    table = tmp_path / "agreement.tsv"
    table.write_text("action\tcomparison\n")
    (tmp_path / "agreement.provenance.json").write_text("{")
    with pytest.raises(InputError, match=r"agreement\.provenance\.json is not readable"):
        agreement_html(table, None)


PNG = b"\x89PNG\r\n\x1a\n a plot"


@pytest.fixture
def run_files(tmp_path) -> dict[str, Path]:
    """The inputs of `analysis report` as the stages write them: five participants in the
    sheet, s5 dropped by pose (its video's path in the reason), s4 by stats."""
    def tsv(name: str, frame: pd.DataFrame) -> Path:
        path = tmp_path / name
        frame.to_csv(path, sep="\t", index=False)
        return path

    pids, groups = ["s1", "s2", "s3", "s4", "s5"], ["ASD", "ASD", "TDC", "TDC", "TDC"]
    files = {
        "participants": tsv("participants.tsv", pd.DataFrame(
            {"participant_id": pids, "group": groups})),
        "percent_time": tsv("percent_time.tsv", pd.DataFrame(
            {"participant_id": pids[:4], "group": groups[:4], "action": "nodding & more",
             "percent_time": [1.0, 2.0, 3.0, 4.0], "valid_s": 10.0})),
        "upstream_exclusions": tsv("percent_time_exclusions.tsv", pd.DataFrame(
            {"participant_id": ["s5"], "reason": ["pose: video /data/Jane.mp4 is not readable"]})),
        "stats_exclusions": tsv("exclusions.tsv", pd.DataFrame(
            {"participant_id": ["s4", "s5"],
             "reason": ["covariate age is empty in sheet.tsv", "not in the table"]})),
        "table_v": tsv("table_v.tsv", pd.DataFrame(
            {"Action": ["nodding & more"], "Contrast": ["ASD < TDC"], "Type": ["%"],
             "Effect": [0.3712], "p": [0.0002], "p_adj": [0.0041]})),
        "hurdle": tsv("hurdle.tsv", pd.DataFrame(
            {"action": "nodding & more", "estimable": [True, False, False, False],
             "reason": ["", "too few engagers", "separation", "too few engagers"]})),
    }
    files["table_v_md"] = tmp_path / "table_v.md"
    files["table_v_md"].write_text("Table V. Pairwise <caption>.\n\n| Action |\n|---|\n| x |\n")
    files["methods"] = tmp_path / "methods.md"
    files["methods"].write_text("We analysed\npercent time.\n\nSecond.\n")
    files["overview"] = tmp_path / "overview.png"
    for name in ("overview.png", f"violin_{slugify('nodding & more')}.png"):
        (tmp_path / name).write_bytes(PNG)
    files["provenance"] = tmp_path / "stats.provenance.json"
    files["provenance"].write_text(json.dumps(
        {"step": "stats", "created_utc": "2026-01-02T03:04:05Z", "git_commit": "abc123",
         "versions": {"python": "3.11.9", "pandas": "2.2.2"}}))
    quality = [{"participant_id": pid, "backend": "openpose", "excluded": False,
                "frames_processed": 10, "person_pct": 100.0, "upright_pct": 100.0,
                "participant_rule": "default", "others_in_view": pid == "s2",
                "flags": OTHERS_FLAG if pid == "s2" else ""} for pid in pids[:4]]
    files["pose_quality"] = tsv("pose_quality.tsv", pd.DataFrame(quality, columns=COLUMNS))
    return files


def _report(files: dict[str, Path], tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "report.html"
    args = ["report", "--table-v", files["table_v"], "--table-v-md", files["table_v_md"],
            "--hurdle", files["hurdle"], "--methods", files["methods"], "--percent-time",
            files["percent_time"], "--exclusions", files["stats_exclusions"],
            "--upstream-exclusions", files["upstream_exclusions"], "--overview",
            files["overview"], "--provenance", files["provenance"],
            tmp_path / "never_written.provenance.json", "--pose-quality",
            files["pose_quality"], "--out", out, *extra]
    assert main([str(a) for a in args]) == 0
    return out.read_text()


def test_report_states_the_cohort_tables_and_provenance(run_files, tmp_path):
    text = _report(run_files, tmp_path, "--participants", str(run_files["participants"]))
    cohort = ("<p>Participants in the sheet: 5; analysed: 3 (ASD n=2, TDC n=1); excluded: 2."
              "</p>")
    assert cohort in text
    assert "<strong>Pose quality: 1 participant(s) flagged</strong>" in text
    assert "<strong>Table V.</strong> Pairwise &lt;caption&gt;.</p>" in text
    assert ('<tr><td>nodding &amp; more</td><td>ASD &lt; TDC</td><td>%</td>'
            '<td class="num">0.37</td><td class="num">&lt;.001</td><td class="num">.004</td>'
            "</tr>") in text
    assert "<p>We analysed percent time.</p>\n<p>Second.</p>" in text
    assert "<p>3 of 4 tests were not estimable" in text
    assert ('<tr><td>too few engagers</td><td class="num">2</td></tr>'
            '<tr><td>separation</td><td class="num">1</td></tr>') in text
    assert ('<tr><td>s5</td><td>TDC</td><td>pose</td><td>pose: an input file could not be '
            "used") in text
    assert ('<tr><td>s4</td><td>TDC</td><td>stats</td><td>stats: an input file could not be '
            "used") in text
    assert "Jane" not in text and "sheet.tsv" not in text and text.count("<td>s5</td>") == 1
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 2  # overview, violin
    assert ("<ul><li>stats: 2026-01-02T03:04:05Z, git commit abc123; python 3.11.9, pandas "
            "2.2.2</li></ul>") in text
    # Without the sheet, the cohort is the analysed and the excluded participants.
    assert cohort in _report(run_files, tmp_path)


def test_a_p_below_the_stats_alpha_is_not_printed_as_alpha(run_files, tmp_path):
    pd.DataFrame({"Action": ["nodding"], "Contrast": ["ASD < TDC"], "Type": ["%"],
                  "Effect": [0.5], "p": [0.0497], "p_adj": [0.0996]}).to_csv(
        run_files["table_v"], sep="\t", index=False)
    row = '<td class="num">{}</td><td class="num">{}</td></tr>'
    assert row.format(".0497", ".100") in _report(run_files, tmp_path)  # no record: 0.05
    (tmp_path / "provenance.json").write_text(json.dumps(
        {"step": "analysis stats", "params": {"stats": {"alpha": 0.1}}}))
    # the run's alpha 0.1; .0497 stays (its bracket in a figure has a star: p < .05)
    assert row.format(".0497", ".0996") in _report(run_files, tmp_path)


def test_an_empty_table_v_names_the_alpha_of_the_stats_run(run_files, tmp_path):
    pd.DataFrame(columns=["Action", "Contrast", "Type", "Effect", "p", "p_adj"]).to_csv(
        run_files["table_v"], sep="\t", index=False)
    assert '<td colspan="6">no test reached p &lt; 0.05</td>' in _report(run_files, tmp_path)
    (tmp_path / "provenance.json").write_text(json.dumps(
        {"step": "analysis stats", "params": {"stats": {"alpha": 0.1}}}))
    assert '<td colspan="6">no test reached p &lt; 0.1</td>' in _report(run_files, tmp_path)


def test_a_cohort_with_nothing_to_flag_or_skip_says_so(run_files, tmp_path):
    pd.DataFrame({"action": ["nodding & more"], "estimable": [True], "reason": [""]}).to_csv(
        run_files["hurdle"], sep="\t", index=False)
    quality = pd.read_csv(run_files["pose_quality"], sep="\t").assign(flags="")
    quality.to_csv(run_files["pose_quality"], sep="\t", index=False)
    text = _report(run_files, tmp_path)
    assert "<p>0 of 1 tests were not estimable" in text and "participant(s) flagged" not in text
    assert '<tr><td colspan="5">no participant was flagged</td></tr>' in text


def test_empty_tables_span_their_columns_and_escape_the_note():
    assert html_table(pd.DataFrame(columns=["a", "b"]), empty="none <yet>") == (
        '<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td colspan="2">'
        "none &lt;yet&gt;</td></tr></tbody></table>")


def test_missing_or_malformed_inputs_are_named(run_files, tmp_path):
    run_files["hurdle"].unlink()
    with pytest.raises(InputError, match=r"hurdle results .*hurdle\.tsv does not exist"):
        build_report(**_build_args(run_files))
    pd.DataFrame({"Action": ["x"], "p": [0.1]}).to_csv(run_files["table_v"], sep="\t",
                                                        index=False)
    with pytest.raises(InputError, match=r"Table V .*table_v\.tsv lacks column\(s\) "
                       r"\['Contrast', 'Type', 'Effect', 'p_adj'\]"):
        build_report(**_build_args(run_files))


def _build_args(files: dict[str, Path]) -> dict:
    return {"table_v": files["table_v"], "table_v_md": None, "hurdle": files["hurdle"],
            "methods": files["methods"], "percent_time": files["percent_time"],
            "stats_exclusions": files["stats_exclusions"], "upstream_exclusions": None,
            "participants": None, "overview": None, "figure_caption": None, "provenance": [],
            "captions": None}


def test_the_cohort_line_follows_the_configured_groups_with_empty_ones(run_files, tmp_path):
    """Groups in stats.groups' order (Table V's and the figures'), not alphabetical, and a
    configured group nobody is in said to have n=0, not left out."""
    (tmp_path / "provenance.json").write_text(json.dumps(
        {"step": "analysis stats", "params": {"stats": {"groups": ["TDC", "PSY", "ASD"]}}}))
    assert "analysed: 3 (TDC n=1, PSY n=0, ASD n=2); excluded: 2." in _report(run_files,
                                                                             tmp_path)


def test_a_cohort_with_everyone_excluded_says_none_analysed(run_files, tmp_path):
    pd.DataFrame({"participant_id": ["s1", "s2", "s3", "s4"], "reason": "no age"}).to_csv(
        run_files["stats_exclusions"], sep="\t", index=False)
    text = _report(run_files, tmp_path)
    assert "<p>Participants in the sheet: 5; analysed: 0 (none); excluded: 5.</p>" in text


def test_a_covariate_named_like_a_file_keeps_its_stats_reason():
    """`missing covariate age.months` (an R-style column name) read as a file name: the
    report said an input file could not be used, not that the covariate was missing."""
    stats = pd.DataFrame({"participant_id": ["s1", "s2", "s3"], "reason": [
        "missing covariate age.months", "in the sheet but not the percent-time table",
        "missing covariate in /data/Jane.mp4"]})
    merged = merge_exclusions(None, stats, None)
    assert merged["reason"].tolist()[:2] == ["missing covariate age.months",
                                             "in the sheet but not the percent-time table"]
    assert "Jane" not in merged["reason"][2]


def test_provenance_given_twice_adds_to_the_first(run_files, tmp_path):
    """`--provenance a --provenance b` is one list: a repeated option once kept only the
    last records, and the report left the first steps out of its provenance."""
    infer = tmp_path / "infer.provenance.json"
    infer.write_text(json.dumps({"step": "infer", "created_utc": "2026-01-01T00:00:00Z",
                                 "git_commit": "def456", "versions": {"python": "3.11.9"}}))
    text = _report(run_files, tmp_path, "--provenance", str(infer))
    assert re.findall(r"<li>(\w+): 2026", text) == ["stats", "infer"]


def test_participants_infer_warned_about_are_listed_with_what_to_do(run_files, tmp_path):
    """aggregate's table of infer's warnings: the warned participants' rows, both warnings of
    one joined, under Cohort their number, and the caption's advice."""
    slow = "the video is 5 fps, slower than the 8.33 frames a second the model samples"
    others = "another person is in the full-view model's input in 96% <of frames>"
    table = tmp_path / "percent_time_quality.tsv"
    quality_table({"s1": {"repeated_frame_share": 0.0, "others_in_view_share": 0.02},
                   "s2": {"repeated_frame_share": 0.3333, "frame_rate_warning": slow},
                   "s3": {"repeated_frame_share": 0.25, "frame_rate_warning": slow,
                          "others_in_view_share": 0.9612, "others_in_view_warning": others},
                   }).to_csv(table, sep="\t", index=False)
    captions = Path(__file__).resolve().parents[2] / "workflow/report"
    text = _report(run_files, tmp_path, "--inference-quality", str(table), "--captions",
                   str(captions))
    assert "<strong>Inference: 2 participant(s) warned about</strong>" in text
    assert "<h2>Inference warnings</h2>\n<p>2 of 3 participant(s) warned about.</p>" in text
    assert (f'<tr><td>s2</td><td class="num">33</td><td class="num"></td><td>{slow}</td></tr>'
            f'<tr><td>s3</td><td class="num">25</td><td class="num">96</td><td>{slow}; '
            "another person is in the full-view model&#x27;s input in 96% &lt;of frames&gt;"
            "</td></tr></tbody>") in text
    assert "<td>s1</td><td class" not in text
    assert "use a person-view model or crop" in text  # the caption: what to do
    quality_table({"s1": {}}).to_csv(table, sep="\t", index=False)
    text = _report(run_files, tmp_path, "--inference-quality", str(table))
    assert '<td colspan="4">no participant was warned about</td>' in text
    assert "Inference: " not in text
