"""Which Benjamini-Hochberg family reproduces the paper's Table V p_adj column?

    python bench/stats_table_v_fit.py

The paper prints p and p_adj to three decimals but does not say over which tests p_adj was
computed. For each way of grouping the 60 tests (10 actions x 3 contrasts x 2 parts) into BH
families, and each family size m, this checks whether unrounded p-values exist inside the
printed rounding intervals whose BH-adjusted values round to the printed p_adj. Tests the
table does not list have p >= .05 and rank after the listed ones of their family (they can
only pull a listed p_adj down, never below .05). The check is permissive where two printed
p-values tie (either order is tried; the two values are not forced to be ordered), so a
"no m fits" is definitive and a fitting m is a candidate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

#: The paper's Table V: action, contrast (first group, second group), type, p, p_adj.
TABLE_V = [
    ("retracting feet", ("ASD", "PSY"), "%", "<.001", ".004"),
    ("shaking legs", ("ASD", "PSY"), "Prob.", ".002", ".054"),
    ("shaking head", ("ASD", "PSY"), "Prob.", ".004", ".054"),
    ("retracting feet", ("PSY", "TDC"), "%", ".007", ".106"),
    ("head up", ("ASD", "TDC"), "Prob.", ".007", ".058"),
    ("stretching feet", ("ASD", "TDC"), "Prob.", ".008", ".058"),
    ("stretching feet", ("ASD", "PSY"), "%", ".017", ".172"),
    ("tilting head", ("ASD", "PSY"), "Prob.", ".019", ".102"),
    ("nodding", ("ASD", "PSY"), "Prob.", ".020", ".102"),
    ("turning head", ("ASD", "PSY"), "%", ".036", ".251"),
]
N_ACTIONS, N_CONTRASTS, N_PARTS = 10, 3, 2
LISTED_BELOW = 0.05  # Table V lists p < .05, so every unlisted test has p >= .05


def interval(printed: str) -> tuple[float, float]:
    """The values a printed APA p could have come from."""
    if printed.startswith("<"):
        return 0.0, float(printed[1:])
    value = float(printed)
    return max(0.0, value - 0.0005), value + 0.0005


Row = tuple[str, tuple[str, str], str, str, str]


def fits(rows: list[Row], m: int, unlisted_may_bind: bool = True) -> bool:
    """Can BH over a family of m tests, containing these listed rows, print their p_adj?

    With `unlisted_may_bind` false, every listed p_adj must come from listed tests alone.
    """
    if m < len(rows):
        return False
    order = sorted(rows, key=lambda r: interval(r[3])[0] + interval(r[3])[1])
    ties = [list(g) for _, g in itertools.groupby(order, key=lambda r: r[3])]
    for arrangement in itertools.product(*(itertools.permutations(g) for g in ties)):
        ranked = [r for group in arrangement for r in group]
        # The min over later tests of p_j * m / j: from unlisted tests, anything >= .05.
        bind = unlisted_may_bind and m > len(rows)
        low, high = (LISTED_BELOW, math.inf) if bind else (math.inf, math.inf)
        ok = True
        for rank in range(len(ranked), 0, -1):
            p_lo, p_hi = interval(ranked[rank - 1][3])
            a_lo, a_hi = interval(ranked[rank - 1][4])
            own_lo, own_hi = p_lo * m / rank, p_hi * m / rank
            low, high = max(min(own_lo, low), a_lo), min(min(own_hi, high), a_hi, 1.0)
            if low > high:
                ok = False
                break
        if ok:
            return True
    return False


def family_sizes(rows: list[Row], max_m: int, unlisted_may_bind: bool = True) -> list[int]:
    """Every family size m (from the listed count up to max_m) that fits."""
    return [m for m in range(len(rows), max_m + 1) if fits(rows, m, unlisted_may_bind)]


def shown(sizes: list[int]) -> str:
    """1, 2, 3, 4 as 1-4."""
    if len(sizes) > 2 and sizes == list(range(sizes[0], sizes[-1] + 1)):
        return f"{sizes[0]}-{sizes[-1]}"
    return ", ".join(map(str, sizes)) or "none"


def implied_m(row: Row, rank: int) -> tuple[float, float]:
    """The m a single row implies when its own p sets its p_adj: p_adj * rank / p."""
    p_lo, p_hi = interval(row[3])
    a_lo, a_hi = interval(row[4])
    return a_lo * rank / p_hi, (a_hi * rank / p_lo if p_lo > 0 else math.inf)


FAMILIES: dict[str, tuple[Callable[[Row], object], int]] = {
    "all tests together": (lambda r: "all", N_ACTIONS * N_CONTRASTS * N_PARTS),
    "per part (Prob. / %)": (lambda r: r[2], N_ACTIONS * N_CONTRASTS),
    "per contrast": (lambda r: r[1], N_ACTIONS * N_PARTS),
    "per part x contrast": (lambda r: (r[2], r[1]), N_ACTIONS),
    "per action": (lambda r: r[0], N_CONTRASTS * N_PARTS),
    "per part x action": (lambda r: (r[2], r[0]), N_CONTRASTS),
}


def grouped(key: Callable[[Row], object]) -> Iterable[tuple[object, list[Row]]]:
    """Listed rows by family, in order of first appearance."""
    out: dict[object, list[Row]] = {}
    for row in TABLE_V:
        out.setdefault(key(row), []).append(row)
    return out.items()


def main() -> None:
    print("BH family sizes m consistent with the printed p and p_adj of Table V\n")
    print("| grouping | family | listed rows | m tried | m that fit | m that fit on the "
          "listed rows alone |")
    print("|---|---|---:|---|---|---|")
    for name, (key, max_m) in FAMILIES.items():
        for family, rows in grouped(key):
            label = family if isinstance(family, str) else " ".join(
                x if isinstance(x, str) else "-".join(x) for x in family)
            print(f"| {name} | {label} | {len(rows)} | {len(rows)}-{max_m} | "
                  f"{shown(family_sizes(rows, max_m))} | "
                  f"{shown(family_sizes(rows, max_m, unlisted_may_bind=False))} |")
    for part in ("Prob.", "%"):
        rows = sorted([r for r in TABLE_V if r[2] == part],
                      key=lambda r: sum(interval(r[3])))
        print(f"\n{part} rows, ranked within their part: m each row implies on its own "
              "(p_adj x rank / p; a row whose p_adj equals a later row's is set by that row)")
        for rank, row in enumerate(rows, 1):
            lo, hi = implied_m(row, rank)
            print(f"  rank {rank}: {row[0]:16s} {'-'.join(row[1])}  p {row[3]:>6s}  "
                  f"p_adj {row[4]}  m in [{lo:.1f}, {hi:.1f}]")
    print("\nStep-up needed by the % rows at m = 30: a listed row whose own p * m / rank lies "
          "above its printed p_adj must take it from a later test.")
    rows = sorted([r for r in TABLE_V if r[2] == "%"], key=lambda r: sum(interval(r[3])))
    for rank, row in enumerate(rows, 1):
        p_lo, p_hi = interval(row[3])
        a_lo, a_hi = interval(row[4])
        if p_lo * 30 / rank > a_hi:
            ranks = [j for j in range(len(rows) + 1, 31) if a_hi * j / 30 >= LISTED_BELOW]
            print(f"  {row[0]} {'-'.join(row[1])}: own p * 30 / {rank} in "
                  f"[{p_lo * 30 / rank:.3f}, {p_hi * 30 / rank:.3f}], printed {row[4]}: needs "
                  f"an unlisted % test (p >= .05) at rank j >= {ranks[0]} with p = {row[4]} * j "
                  f"/ 30 (j = {ranks[0]}: {a_lo * ranks[0] / 30:.4f}-{a_hi * ranks[0] / 30:.4f};"
                  f" j = 10: {a_lo / 3:.4f}-{a_hi / 3:.4f}), the ranks between filled by tests "
                  "with .05 <= p")


if __name__ == "__main__":
    main()
