"""The HTML report's pieces: caption markup, the merged exclusions list, refusal of non-PNGs."""

import pandas as pd
import pytest

from analysis.report import markdown_caption, merge_exclusions, png_data_uri, rst_to_html
from pipeio import InputError


def test_rst_captions_render_paragraphs_lists_and_inline_markup():
    out = rst_to_html("**Bold** and *it* with ``a < b``\nwrapped.\n\n- one\n  more\n- two\n")
    assert out == ("<p><strong>Bold</strong> and <em>it</em> with <code>a &lt; b</code> "
                   "wrapped.</p>\n<ul><li>one more</li><li>two</li></ul>")


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
