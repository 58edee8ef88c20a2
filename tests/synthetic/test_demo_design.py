"""The demo cohort's design finds its planted effects: the README's promise, on the truth path.

The statistics run as the demo's `stats:` section runs them (preset recommended: the ten
actions with the highest mean percent time, Wald z for engagement, the permutation test for
intensity, one BH family over the 60 tests), on the cohort's true percent time. The model
path adds the model's errors; `bench/stats_power.py` gives the power over many seeds.
"""

import pytest

from analysis.config import StatsConfig
from analysis.hurdle import run_hurdle
from analysis.selection import select_actions
from microdualnet.synthetic.cohort import (
    GROUPS,
    CohortConfig,
    principal_effects,
    scheduled_truth,
    score_planted,
)

DEMO = {"groups": dict.fromkeys(GROUPS, 12), "seconds": 60.0, "fps": 25.0}  # config.yaml's


def _found(seed: int) -> tuple[set, int]:
    """Principal effects found after FDR in the planted direction, and null FDR survivors."""
    cfg = CohortConfig(**DEMO, seed=seed)
    table = scheduled_truth(cfg)
    stats = StatsConfig(groups=list(GROUPS), permutations=1999)
    res = run_hurdle(table, list(GROUPS), select_actions(table, stats.top_k, stats.actions),
                     stats)
    scored, false_hits = score_planted(res, cfg, stats.alpha)
    return {(e.action, e.part) for e in scored[scored["found"]].itertuples()}, false_hits


def test_principal_effects_are_the_six_intensity_differences():
    got = principal_effects(CohortConfig(**DEMO))
    assert set(got["part"]) == {"intensity"}
    assert sorted(got["action"]) == ["head up", "nodding", "retracting feet", "shaking legs",
                                     "stretching feet", "turning head"]
    legs = got.set_index("action").loc["shaking legs"]
    assert legs["contrast"] == "ASD vs PSY" and not legs["a_lower"]  # ASD 0.10 > PSY 0.03


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_truth_finds_every_planted_effect_after_fdr(seed):
    """Seed 0 is the shipped demo; 1 and 2 stand for a user's `demo.seed`."""
    found, false_hits = _found(seed)
    assert found == {(a, "intensity") for a in principal_effects(CohortConfig(**DEMO))["action"]}
    assert false_hits == 0
