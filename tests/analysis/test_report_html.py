"""The HTML report's pieces: caption markup, the merged exclusions list, refusal of non-PNGs."""

import re

import pandas as pd
import pytest

from analysis.report import (
    _provenance_html,
    agreement_html,
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
