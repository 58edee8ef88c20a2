"""Where the intensity Wald z stops being absurd: false positive rate by engagers per group.

    python bench/stats_wald_floor.py --nsim 4000

Two groups of k engagers each, with the same intensity distribution (the synthetic cohort's:
Beta with mean `--mean` and precision 20, whole frames of a 60 s video at 25 fps, at least
1 s), are compared by the fractional logit's Wald z with each sandwich the stage offers.
The group-only model is saturated, so its fitted means are the group means (the MLE the
stage's IRLS reaches) and the covariance is the stage's own `analysis.glm.robust_cov`.
The rate of p < alpha is printed per k (and, last column, of HC0 p < 0.001: a true null
"highly significant"); analysis.config.WALD_MIN_ENGAGERS is chosen from it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats
from scipy.special import logit

from analysis.glm import robust_cov

VARIANTS = ("HC0", "stata", "HC1", "HC3")


def draw(rng: np.random.Generator, n: int, mean: float, phi: float = 20.0,
         seconds: float = 60.0, fps: float = 25.0) -> np.ndarray:
    """Fractions of time of n engagers, drawn as the synthetic cohort draws them."""
    n_frames = round(seconds * fps)
    frac = rng.beta(mean * phi, (1 - mean) * phi, n)
    return np.maximum(np.round(frac * n_frames), round(fps)) / n_frames


def rejection_rates(k: int, nsim: int, mean: float, alpha: float, seed: int
                    ) -> dict[str, float]:
    """Share of null comparisons of two groups of k engagers with Wald p < alpha."""
    rng = np.random.default_rng([seed, k])
    x = np.column_stack([np.ones(2 * k), np.repeat([0.0, 1.0], k)])
    rejected = dict.fromkeys(VARIANTS, 0)
    tiny = 0
    done = 0
    for _ in range(nsim):
        y = np.concatenate([draw(rng, k, mean), draw(rng, k, mean)])
        means = np.array([y[:k].mean(), y[k:].mean()])
        if np.ptp(y[:k]) == 0 or np.ptp(y[k:]) == 0:
            continue  # the stage reports "no variation" for such a group
        done += 1
        beta = logit(means[1]) - logit(means[0])
        mu = np.repeat(means, k)
        for variant in VARIANTS:
            se = float(np.sqrt(robust_cov(x, y, mu, variant)[1, 1]))
            p = 2 * stats.norm.sf(abs(beta / se))
            rejected[variant] += p < alpha
            tiny += variant == "HC0" and p < 0.001
    return {v: rejected[v] / done for v in VARIANTS} | {"HC0 p<.001": tiny / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=4000)
    parser.add_argument("--mean", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--engagers", type=int, nargs="+", default=[2, 3, 5, 8, 10, 12, 15, 20])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"Wald z false positive rate at alpha {args.alpha}, mean intensity {args.mean}, "
          f"{args.nsim} simulated pairs of groups per row\n")
    columns = [*VARIANTS, "HC0 p<.001"]
    print("| engagers per group | " + " | ".join(columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for k in args.engagers:
        rates = rejection_rates(k, args.nsim, args.mean, args.alpha, args.seed)
        print(f"| {k} | " + " | ".join(f"{rates[v]:.3f}" for v in columns) + " |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
