"""Result tables: the full hurdle table and Table V in TSV, Markdown and LaTeX.

Table V follows the paper: tests with unadjusted p < alpha, sorted by p, columns Action,
Contrast (`ASD < PSY` when the odds ratio of ASD vs PSY is below 1), Type (`Prob.` for
engagement, `%` for intensity), Effect (the odds ratio), p and p_adj in APA style
(`<.001`, `.054`). The TSV keeps full-precision numbers for further work; Markdown and
LaTeX carry the formatted strings.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.config import StatsConfig
from pipeio import InputError, atomic_path, atomic_write_text
from pipeio.provenance import read_provenance

TABLE_V_COLUMNS = ["Action", "Contrast", "Type", "Effect", "p", "p_adj"]


def stats_settings(hurdle: Path) -> dict[str, Any] | None:
    """The settings of the `analysis stats` run that wrote `hurdle` (its provenance.json
    beside it), for later stages to print and compare as it did; None without a readable
    record of that step."""
    try:
        record = read_provenance(hurdle.parent / "provenance.json")
        made = record["params"]["stats"] if record.get("step") == "analysis stats" else None
    except (InputError, KeyError, TypeError):
        return None
    return made if isinstance(made, dict) else None


#: The figures' significance marks (`plots.stars`): p below each level gets its mark.
STAR_LEVELS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def format_p(p: float, alpha: float = 0.05) -> str:
    """APA style: three decimals without the leading zero, `<.001` below 0.001.

    A p below `alpha` or a star level (.01, .05) that three decimals would round up to it
    (0.0497 -> `.050`, 0.0097 -> `.010`) gets as many more decimals as it takes (up to ten:
    `.0497`), so that a row listed because p < alpha, or a p_adj beside a `**` in a figure,
    never reads as on the other side of the cut-off.
    """
    if pd.isna(p):
        return "NA"
    if p < 0.001:
        return "<.001"
    cutoffs = (alpha, *(level for level, _ in STAR_LEVELS))
    for decimals in range(3, 11):
        text = f"{p:.{decimals}f}"
        if all((float(text) < cut) == (p < cut) for cut in cutoffs):
            break
    return text[1:] if text.startswith("0") else text


def direction_label(group_a: str, group_b: str, odds_ratio: float) -> str:
    """`A < B` when A's odds are lower than B's, else `A > B` (as in the paper)."""
    return f"{group_a} {'<' if odds_ratio < 1 else '>'} {group_b}"


def table_v(results: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The significant tests (unadjusted p < alpha), sorted by p, with numeric values."""
    sig = results[results["estimable"] & (results["p"] < alpha)]
    sig = sig.sort_values(["p", "action", "part", "contrast"], kind="stable")
    return pd.DataFrame({
        "Action": sig["action"].to_numpy(),
        "Contrast": [direction_label(a, b, r) for a, b, r in
                     zip(sig["group_a"], sig["group_b"], sig["odds_ratio"], strict=True)],
        "Type": sig["type"].to_numpy(),
        "Effect": sig["odds_ratio"].to_numpy(),
        "p": sig["p"].to_numpy(),
        "p_adj": sig["p_adj"].to_numpy(),
    })


def format_effect(odds_ratio: float) -> str:
    """Two decimals, as in the paper; an odds ratio that two decimals would print as `0.00`
    gets two significant digits (`0.0028`): an odds ratio of 0 does not exist, and `0.00`
    would read as one."""
    text = f"{odds_ratio:.2f}"
    if text == "0.00" and odds_ratio > 0:
        return f"{odds_ratio:.{1 - math.floor(math.log10(odds_ratio))}f}"
    return text


def formatted(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Table V with the paper's number formats (Effect to 2 decimals, see `format_effect`;
    APA p-values: a p below `alpha` is never printed as `alpha` or above, see `format_p`)."""
    out = table.copy()
    out["Effect"] = [format_effect(v) for v in table["Effect"]]
    out["p"] = [format_p(v, alpha) for v in table["p"]]
    out["p_adj"] = [format_p(v, alpha) for v in table["p_adj"]]
    return out


_MD_OPENS_HTML = re.compile(r"<(?=[A-Za-z/!?])")


def markdown_escape(text: str) -> str:
    """A pipe-table cell as written: a `|` in an action or group name would end the cell
    (the row gets extra columns), and `<` before a letter opens raw HTML (a group `<TD>`
    vanishes from the rendered table); both get a backslash, as does a backslash."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return _MD_OPENS_HTML.sub(r"\\<", text)


def to_markdown(table: pd.DataFrame, caption: str, alpha: float = 0.05) -> str:
    """A pipe table (no extra dependency), preceded by its caption."""
    text = formatted(table, alpha)
    lines = [caption, "", "| " + " | ".join(TABLE_V_COLUMNS) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 3) + "|"]
    lines += ["| " + " | ".join(markdown_escape(str(v)) for v in row) + " |"
              for row in text.itertuples(index=False)]
    if text.empty:
        lines.append("| " + " | ".join(["—"] * len(TABLE_V_COLUMNS)) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
    "<": r"$<$", ">": r"$>$", "|": r"\textbar{}",  # `|` is a dash in the default font
}


def latex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially in running text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: pd.DataFrame, caption: str, alpha: float = 0.05) -> str:
    """A booktabs table for the paper (needs `\\usepackage{booktabs}`)."""
    text = formatted(table, alpha)
    header = " & ".join(["Action", "Contrast", "Type", "Effect", "$p$", "$p_{adj}$"])
    body = [" & ".join(latex_escape(str(v)) for v in row) + r" \\"
            for row in text.itertuples(index=False)]
    if not body:
        body = [r"\multicolumn{6}{c}{No test reached the significance level.} \\"]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
        r"\label{tab:group-differences}", r"\begin{tabular}{lllrrr}", r"\toprule",
        header + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]) + "\n"


def overrides_text(cfg: StatsConfig) -> str:
    """', overridden: <key> <value> instead of <preset value>; ...', or '' when none."""
    changed = cfg.overrides()
    if not changed:
        return ""
    return ", overridden: " + "; ".join(
        f"{key} {v['used']} instead of {v['preset']}" for key, v in changed.items())


def preset_text(cfg: StatsConfig) -> str:
    """Which preset ran and which of its values were overridden (for captions and methods)."""
    return f"analysis preset '{cfg.preset}'{overrides_text(cfg)}"


def table_v_caption(cfg: StatsConfig) -> str:
    """The caption stating what the table lists, which tests gave p, how p_adj was made, and
    which preset ran (the same data give different tables under different presets)."""
    family = ("all actions x contrasts x parts" if cfg.fdr_family == "all"
              else "the contrasts x actions of each part separately")
    tests = ("p: two-sided Wald test" if cfg.intensity_test == "wald" else
             "p: two-sided Wald test (Prob.) or permutation test of the robust score "
             "statistic (%)")
    return (f"Pairwise group differences (p < {cfg.alpha:g}) in micro-action engagement. "
            "Prob.: engagement probability; %: percentage of time engaged among participants "
            "with nonzero engagement. Effect: odds ratio of the first vs the second group. "
            f"{tests}. p_adj: Benjamini-Hochberg adjusted p-value over {family}. "
            f"Settings: {preset_text(cfg)}.")


def write_results(results: pd.DataFrame, out_dir: Path, cfg: StatsConfig) -> None:
    """Write hurdle.tsv and Table V (TSV, Markdown, LaTeX), each atomically."""
    with atomic_path(out_dir / "hurdle.tsv") as tmp:
        results.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
    table = table_v(results, cfg.alpha)
    with atomic_path(out_dir / "table_v.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
    caption = table_v_caption(cfg)
    atomic_write_text(out_dir / "table_v.md",
                      to_markdown(table, "Table V. " + caption, cfg.alpha))
    atomic_write_text(out_dir / "table_v.tex", to_latex(table, caption, cfg.alpha))
