"""The run's HTML summary: Table V, methods, figures, exclusions and provenance in one file.

`python -m analysis report` (the workflow's `report` rule) writes a single self-contained
HTML file: the figures are embedded as base64 PNG, nothing is fetched from elsewhere, so the
file can be mailed or archived as is. It holds derived numbers and figures only (tables,
violin plots, exclusion reasons, versions), never video frames or images of participants.

Captions come from the workflow's reStructuredText caption files (`workflow/report/*.rst`,
the same ones `snakemake --report` shows), rendered by docutils; the figure caption and
Table V's caption come from the plots and stats stages (they depend on the stats settings).

With `--agreement`, a section compares the model with human coders (the table and
Bland-Altman figures of `python -m analysis agreement`). With `--pose-quality`, a section
lists the participants the pose QC flagged (`analysis.pose_quality`): above all, those for
whom the interviewer may have been followed. With `--inference-quality`, a section lists
those `infer` warned about (`analysis.inference_quality`): a video slower than the model
samples, someone else in a full-view model's input.

Exclusions are merged from the upstream list (pose, inference, aggregation: the reason
says which stage, e.g. `pose: video ... is not readable`) and the statistics stage's list
(participants it dropped); a participant the upstream list names is listed once, with the
upstream reason.
"""

from __future__ import annotations

import argparse
import base64
import html
import logging
import re
from pathlib import Path

import pandas as pd

from analysis.agreement.table import definitions, display_table
from analysis.inference_quality import WARNINGS, read_inference_quality, warned_rows
from analysis.inputs import read_tsv
from analysis.plots import slugify
from analysis.pose_quality import flagged, read_quality, summary_line
from analysis.redact import NAMES_A_FILE
from analysis.tables import TABLE_V_COLUMNS, formatted, stats_settings
from pipeio import InputError, atomic_write_text
from pipeio.provenance import read_provenance

log = logging.getLogger(__name__)

EXCLUSION_COLUMNS = ["participant_id", "group", "stage", "reason"]
_STAGES = ("pose", "infer")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.caption { color: #444; font-size: 0.92rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.violins { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr));
           gap: 0.8rem; }
.violins figcaption { font-size: 0.85rem; text-align: center; }
code, .literal { background: #f5f5f5; padding: 0 0.2rem; font-family: monospace; }
"""


# -- reStructuredText captions -------------------------------------------------------------

# Captions are the workflow's own files: no raw HTML or file inclusion, and any docutils
# warning (broken markup) stops the report with the file named rather than showing a
# garbled caption.
_DOCUTILS = {"report_level": 2, "halt_level": 2, "warning_stream": False,
             "doctitle_xform": False, "initial_header_level": 3, "raw_enabled": False,
             "file_insertion_enabled": False, "syntax_highlight": "none"}


def rst_to_html(text: str, source: str = "<caption>") -> str:
    """The HTML body of reStructuredText `text`; bad markup is an error naming `source`."""
    from docutils.core import publish_parts
    from docutils.utils import SystemMessage

    try:
        parts = publish_parts(text, source_path=source, writer="html5",
                              settings_overrides=_DOCUTILS)
    except SystemMessage as err:
        raise InputError(f"caption {source}: {err}") from None
    return parts["body"].strip()


def text_to_html(text: str) -> str:
    """Plain-text paragraphs (methods.md holds no markup) as HTML paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n".join(f"<p>{html.escape(' '.join(p.split()), quote=False)}</p>"
                     for p in paragraphs)


def read_caption(folder: Path | None, name: str) -> str:
    """HTML of caption `<folder>/<name>.rst`, or '' when there is none."""
    if folder is None:
        return ""
    path = folder / f"{name}.rst"
    return rst_to_html(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else ""


# -- inputs ---------------------------------------------------------------------------------

def _read_tsv(path: Path, what: str) -> pd.DataFrame:
    return read_tsv(path, (), what, text_columns=("reason", "Action"))


def markdown_caption(path: Path) -> str:
    """The caption paragraph at the top of a Markdown file (text before the first blank line
    that precedes a table), or the whole text for a caption-only file."""
    text = path.read_text(encoding="utf-8").strip()
    return text.split("\n\n", 1)[0].strip() if "\n|" in text else text


def stage_of(reason: str) -> str:
    """`pose` / `infer` for reasons those stages wrote (`pose: ...`), else `aggregate`."""
    head = reason.split(":", 1)[0].strip()
    return head if head in _STAGES else "aggregate"


def public_reason(reason: str, stage: str) -> str:
    """An exclusion reason fit for the report: one that still names a file or folder
    (`aggregate` writes `<path>` for them, analysis.redact; an exclusions TSV written
    otherwise may not) is replaced by a pointer to the exclusions file."""
    if not NAMES_A_FILE.search(reason):
        return reason
    return (f"{stage}: an input file could not be used (the reason names files, so it is "
            "given in the exclusions TSV only)")


# The stats stage's own reasons (`analysis.inputs`): fixed sentences, at most around a
# covariate's column name, never a file's; a covariate `age.months` is not a file name.
_STATS_REASON = re.compile(r"missing covariate [^/\\]+|in the (percent-time table but not the "
                           r"sheet|sheet but not the percent-time table)")


def merge_exclusions(upstream: pd.DataFrame | None, stats: pd.DataFrame,
                     sheet: pd.DataFrame | None) -> pd.DataFrame:
    """One row per excluded participant: participant_id, group, stage, reason."""
    rows: list[dict] = []
    seen: set[str] = set()
    if upstream is not None:
        for pid, reason in zip(upstream["participant_id"], upstream["reason"], strict=True):
            stage = stage_of(str(reason))
            rows.append({"participant_id": pid, "stage": stage,
                         "reason": public_reason(str(reason), stage)})
            seen.add(pid)
    for pid, reason in zip(stats["participant_id"], stats["reason"], strict=True):
        if pid not in seen:
            reason = str(reason)
            rows.append({"participant_id": pid, "stage": "stats",
                         "reason": reason if _STATS_REASON.fullmatch(reason)
                         else public_reason(reason, "stats")})
            seen.add(pid)
    table = pd.DataFrame(rows, columns=["participant_id", "stage", "reason"])
    groups = (dict(zip(sheet["participant_id"], sheet["group"], strict=True))
              if sheet is not None else {})
    table.insert(1, "group", [groups.get(p, "") for p in table["participant_id"]])
    return table[EXCLUSION_COLUMNS]


# -- HTML pieces ----------------------------------------------------------------------------

def html_table(frame: pd.DataFrame, numeric: tuple[str, ...] = (), empty: str = "none") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    if frame.empty:
        body = f'<tr><td colspan="{len(frame.columns)}">{html.escape(empty)}</td></tr>'
    else:
        body = "".join(
            "<tr>" + "".join(
                f'<td class="num">{html.escape(str(v))}</td>' if c in numeric
                else f"<td>{html.escape(str(v))}</td>"
                for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
            for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_data_uri(path: Path) -> str:
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise InputError(f"figure {path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure(path: Path, alt: str, caption_html: str = "") -> str:
    cap = f"<figcaption>{caption_html}</figcaption>" if caption_html else ""
    return (f'<figure><img src="{png_data_uri(path)}" alt="{html.escape(alt)}">{cap}'
            "</figure>")


def _provenance_html(paths: list[Path]) -> str:
    parts = []
    for path in paths:
        if not path.is_file():
            continue
        record = read_provenance(path)
        versions = ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items())
        parts.append(
            "<li>" + html.escape(
                f"{record.get('step', path.name)}: {record.get('created_utc', '?')}, git "
                f"commit {record.get('git_commit') or 'unknown'}; {versions}") + "</li>")
    return "<ul>" + "".join(parts) + "</ul>" if parts else "<p>none recorded</p>"


def agreement_html(table: Path, captions: Path | None) -> str:
    """The agreement section: the table of `python -m analysis agreement`, its definitions,
    and the Bland-Altman figures written beside it."""
    result = _read_tsv(table, "agreement table")
    record = table.with_name("agreement.provenance.json")
    params = read_provenance(record).get("params") or {} if record.is_file() else {}
    shown = display_table(result, float(params.get("level", 0.95)))
    defined = definitions(float(params.get("bin_s", 0.1)), float(params.get("min_iou", 0.5)))
    figures = []
    for action in dict.fromkeys(result["action"]):
        path = table.parent / "figures" / f"bland_altman_{slugify(action)}.png"
        if path.is_file():
            figures.append(_figure(path, f"Bland-Altman plot: {action}", html.escape(action)))
    return "\n".join([
        "<h2>Agreement with human coders</h2>",
        html_table(shown, numeric=tuple(shown.columns[2:]), empty="no participant coded"),
        f'<p class="caption">{html.escape(defined)}</p>',
        f'<div class="caption">{read_caption(captions, "agreement")}</div>',
        f'<div class="violins">{"".join(figures)}</div>' if figures else "",
    ])


def pose_quality_html(table: pd.DataFrame, captions: Path | None) -> str:
    """The pose-quality section: a summary line and the flagged participants' rows."""
    shown = flagged(table)[["participant_id", "backend", "person_pct", "participant_rule",
                     "flags"]].rename(columns={"person_pct": "person %"})
    return "\n".join([
        "<h2>Pose quality</h2>",
        f"<p>{html.escape(summary_line(table))}</p>",
        html_table(shown, numeric=("person %",), empty="no participant was flagged"),
        f'<div class="caption">{read_caption(captions, "pose_quality")}</div>',
    ])


def _pct(share: float) -> str:
    return "" if pd.isna(share) else f"{100 * share:.0f}"


def inference_quality_html(table: pd.DataFrame, captions: Path | None) -> str:
    """The inference-warnings section: the warned participants, their shares and warnings
    (the caption says what to do)."""
    rows = warned_rows(table)
    shown = pd.DataFrame({
        "participant_id": rows["participant_id"],
        "repeated frames %": rows["repeated_frame_share"].map(_pct),
        "others in view %": rows["others_in_view_share"].map(_pct),
        "warnings": ["; ".join(w for w in ws if pd.notna(w))
                     for ws in zip(*(rows[c] for c in WARNINGS), strict=True)]})
    return "\n".join([
        "<h2>Inference warnings</h2>",
        f"<p>{len(rows)} of {len(table)} participant(s) warned about.</p>",
        html_table(shown, numeric=("repeated frames %", "others in view %"),
                   empty="no participant was warned about"),
        f'<div class="caption">{read_caption(captions, "inference_quality")}</div>',
    ])


def _stats_alpha(hurdle: Path) -> float:
    """The alpha of the stats run, so that the report prints Table V's p-values as
    `table_v.md` does (a p below alpha never as alpha); 0.05, the default, when the record
    is missing or says nothing."""
    alpha = (stats_settings(hurdle) or {}).get("alpha")
    return float(alpha) if isinstance(alpha, int | float) and 0 < alpha < 1 else 0.05


def build_report(*, table_v: Path, table_v_md: Path | None, hurdle: Path, methods: Path,
                 percent_time: Path, stats_exclusions: Path,
                 upstream_exclusions: Path | None, participants: Path | None,
                 overview: Path | None, figure_caption: Path | None,
                 provenance: list[Path], captions: Path | None,
                 agreement: Path | None = None, pose_quality: Path | None = None,
                 inference_quality: Path | None = None,
                 title: str = "Micro-action analysis report") -> str:
    """The report as one HTML string (see the module doc)."""
    for path, what in ((table_v_md, "Table V Markdown"), (methods, "methods text"),
                       (overview, "overview figure"), (figure_caption, "figure caption")):
        if path is not None and not path.is_file():
            raise InputError(f"{what} {path} does not exist")
    table = _read_tsv(table_v, "Table V")
    missing = [c for c in TABLE_V_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"Table V {table_v} lacks column(s) {missing}")
    results = _read_tsv(hurdle, "hurdle results")
    pct = _read_tsv(percent_time, "percent-time table")
    sheet = _read_tsv(participants, "participant sheet") if participants else None
    upstream = (_read_tsv(upstream_exclusions, "exclusions list")
                if upstream_exclusions else None)
    excluded = merge_exclusions(upstream, _read_tsv(stats_exclusions, "exclusions list"),
                                sheet)
    quality = read_quality(pose_quality) if pose_quality is not None else None
    n_flagged = len(flagged(quality)) if quality is not None else 0
    infer_qc = (read_inference_quality(inference_quality) if inference_quality is not None
                else None)
    n_warned = len(warned_rows(infer_qc)) if infer_qc is not None else 0

    analysed = pct[~pct["participant_id"].isin(excluded["participant_id"])]
    sizes = analysed.groupby("group")["participant_id"].nunique()
    # In stats.groups' order (Table V's and the figures'), a configured group nobody is in
    # shown as n=0 rather than left out; a group the settings do not name after them.
    configured = [g for g in (stats_settings(hurdle) or {}).get("groups") or []
                  if isinstance(g, str)]
    sizes = sizes.reindex([*dict.fromkeys(configured),
                           *(g for g in sizes.index if g not in configured)], fill_value=0)
    cohort = ", ".join(f"{g} n={n}" for g, n in sizes.items()) or "none"
    n_sheet = (len(sheet) if sheet is not None
               else analysed["participant_id"].nunique() + len(excluded))
    not_est = results[results["estimable"].astype(str).str.lower() != "true"]
    reasons = (not_est["reason"].fillna("").value_counts().rename_axis("reason")
               .reset_index(name="tests")) if len(not_est) else pd.DataFrame(
                   columns=["reason", "tests"])

    alpha = _stats_alpha(hurdle)  # Table V's p formats and its note when it is empty
    actions = list(dict.fromkeys(results["action"]))
    violins = []
    if overview is not None:
        for action in actions:
            path = overview.with_name(f"violin_{slugify(action)}.png")
            if path.is_file():
                violins.append(_figure(path, f"violin plot: {action}", html.escape(action)))
    fig_caption = html.escape(markdown_caption(figure_caption)) if figure_caption else ""
    table_caption = (html.escape(markdown_caption(table_v_md).removeprefix("Table V. "))
                     if table_v_md else "")

    sections = [
        f"<h1>{html.escape(title)}</h1>",
        read_caption(captions, "workflow"),
        "<h2>Cohort</h2>",
        f"<p>Participants in the sheet: {n_sheet}; analysed: "
        f"{analysed['participant_id'].nunique()} ({html.escape(cohort)}); excluded: "
        f"{len(excluded)}.</p>",
        (f"<p><strong>Pose quality: {n_flagged} participant(s) flagged</strong> (see Pose "
         "quality below).</p>" if n_flagged else ""),
        (f"<p><strong>Inference: {n_warned} participant(s) warned about</strong> (see "
         "Inference warnings below).</p>" if n_warned else ""),
        "<h2>Table V</h2>",
        f'<p class="caption"><strong>Table V.</strong> {table_caption}</p>',
        html_table(formatted(table, alpha)[TABLE_V_COLUMNS], numeric=("Effect", "p", "p_adj"),
                   empty=f"no test reached p < {alpha:g}"),
        f'<div class="caption">{read_caption(captions, "table_v")}</div>',
        "<h2>Methods</h2>",
        text_to_html(methods.read_text(encoding="utf-8")),
        "<h2>Figures</h2>",
        (_figure(overview, "violin plots of percent time by group, all analysed actions",
                 fig_caption) if overview is not None else "<p>no figure</p>"),
        f'<div class="caption">{read_caption(captions, "overview")}</div>',
        f'<div class="violins">{"".join(violins)}</div>' if violins else "",
        "<h2>Tests not estimated</h2>",
        f"<p>{len(not_est)} of {len(results)} tests were not estimable (never reported as "
        "significant):</p>" if len(results) else "<p>no tests</p>",
        html_table(reasons, numeric=("tests",)) if len(not_est) else "",
        f'<div class="caption">{read_caption(captions, "hurdle")}</div>',
        "<h2>Excluded participants</h2>",
        html_table(excluded, empty="no participant was excluded"),
        f'<div class="caption">{read_caption(captions, "exclusions")}</div>',
        pose_quality_html(quality, captions) if quality is not None else "",
        inference_quality_html(infer_qc, captions) if infer_qc is not None else "",
        agreement_html(agreement, captions) if agreement is not None else "",
        "<h2>Provenance</h2>",
        _provenance_html(provenance),
    ]
    body = "\n".join(s for s in sections if s)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML report: Table V, methods, "
                       "figures, exclusions, provenance")
    p.add_argument("--table-v", type=Path, required=True, help="table_v.tsv from stats")
    p.add_argument("--table-v-md", type=Path, default=None,
                   help="table_v.md from stats (for Table V's caption)")
    p.add_argument("--hurdle", type=Path, required=True, help="hurdle.tsv from stats")
    p.add_argument("--methods", type=Path, required=True, help="methods.md from stats")
    p.add_argument("--percent-time", type=Path, required=True, help="percent-time TSV")
    p.add_argument("--exclusions", type=Path, required=True,
                   help="exclusions.tsv of the stats stage")
    p.add_argument("--upstream-exclusions", type=Path, default=None,
                   help="exclusions of pose/inference/aggregation (percent_time_exclusions.tsv)")
    p.add_argument("--participants", type=Path, default=None,
                   help="participant sheet (groups of excluded participants, cohort size)")
    p.add_argument("--overview", type=Path, default=None,
                   help="overview.png from plots; violin_<action>.png beside it are added")
    p.add_argument("--figure-caption", type=Path, default=None, help="caption.md from plots")
    p.add_argument("--provenance", type=Path, nargs="*", action="extend", default=[],
                   help="provenance.json records to summarise")
    p.add_argument("--captions", type=Path, default=None,
                   help="folder of caption .rst files (workflow/report)")
    p.add_argument("--agreement", type=Path, default=None,
                   help="agreement.tsv of `python -m analysis agreement` (its Bland-Altman "
                   "figures beside it are added)")
    p.add_argument("--pose-quality", type=Path, default=None,
                   help="pose_quality.tsv of `python -m analysis pose-quality`")
    p.add_argument("--inference-quality", type=Path, default=None,
                   help="percent_time_quality.tsv of `python -m analysis aggregate` (the "
                   "inference warnings)")
    p.add_argument("--title", default="Micro-action analysis report")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> None:
    text = build_report(
        table_v=args.table_v, table_v_md=args.table_v_md, hurdle=args.hurdle,
        methods=args.methods, percent_time=args.percent_time,
        stats_exclusions=args.exclusions, upstream_exclusions=args.upstream_exclusions,
        participants=args.participants, overview=args.overview,
        figure_caption=args.figure_caption, provenance=args.provenance,
        captions=args.captions, agreement=args.agreement,
        pose_quality=args.pose_quality, inference_quality=args.inference_quality,
        title=args.title)
    atomic_write_text(args.out, text)
    log.info("wrote %s (%d bytes)", args.out, len(text))
