"""Offline, seeded coverage simulation behind ``csi.engine.bootstrap.SMALL_N`` (not part of the test suite).

Population: the CCSI template's structure (IMAG 4, EXPE 3, QUAL 6, VAL 3, SAT 3, LOY 3 indicators) as a
continuous normal common-factor model with the standardised paths below, loadings 0.65–0.90 and unit
item variances. Truth per estimator:

* PLSc: the latent path coefficients (PLSc is consistent for this model; checked below on Σ);
* PLS: the population PLS value, i.e. the kernel run on the population covariance Σ itself.

For each n, ``--reps`` samples are drawn (seed = 100000·n + rep); each is bootstrapped with
``bootstrap_pls(n_boot=--boot, seed=rep)`` and the 95 % percentile and BCa intervals of the 11 paths
are checked for covering the truth. Writes ``bootstrap_coverage.csv`` next to this file:
``estimator, n, ci, reps, coverage_mean, coverage_min, mc_se`` (mean over paths; ``mc_se`` the Monte
Carlo standard error of ``coverage_mean`` treating paths as independent — a lower bound).

    python tests/reference/bootstrap_coverage_sim.py [--reps 200] [--boot 499] [--n 50 100 ...]
        [--estimator plsc pls] [--threads 2]

The committed CSV came from ``--reps 500 --boot 399 --n 50 75 100 150 200 300`` (about 10 minutes on
2 cores). Both intervals are read from the same bootstrap of the same sample, so their difference is
paired.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from csi.engine.bootstrap import bootstrap_pls  # noqa: E402
from csi.engine.pls import _Design, _derive, _kernel  # noqa: E402
from csi.errors import EstimationError  # noqa: E402
from csi.model.templates import template  # noqa: E402

PATHS = {("IMAG", "EXPE"): 0.5, ("IMAG", "QUAL"): 0.3, ("EXPE", "QUAL"): 0.4, ("EXPE", "VAL"): 0.2,
         ("QUAL", "VAL"): 0.5, ("IMAG", "SAT"): 0.2, ("EXPE", "SAT"): 0.1, ("QUAL", "SAT"): 0.3,
         ("VAL", "SAT"): 0.3, ("IMAG", "LOY"): 0.2, ("SAT", "LOY"): 0.6}


def population(spec):
    cons, items = list(spec.constructs), list(spec.indicators)
    J, p = len(cons), len(items)
    B = np.zeros((J, J))                                   # eta = B eta + zeta, B[to, from]
    for (f, t), v in PATHS.items():
        B[cons.index(t), cons.index(f)] = v
    # disturbance variances so that every latent variance is 1 (topological order)
    phi = np.zeros((J, J))
    psi = np.zeros(J)
    for j in range(J):
        b = B[j, :j]
        explained = b @ phi[:j, :j] @ b
        psi[j] = 1.0 - explained
        phi[j, :j] = phi[:j, :j] @ b
        phi[:j, j] = phi[j, :j]
        phi[j, j] = 1.0
    lam = np.zeros((p, J))
    loads = np.linspace(0.65, 0.90, p)[np.random.default_rng(0).permutation(p)]
    for i, it in enumerate(items):
        lam[i, cons.index(spec.construct_of(it))] = loads[i]
    sigma = lam @ phi @ lam.T
    sigma[np.diag_indices(p)] = 1.0
    return B, psi, lam, sigma


def truth(spec, sigma, plsc: bool) -> np.ndarray:
    d = _Design.from_spec(spec)
    S = sigma[None]
    w, _, conv = _kernel(S, d, "path", 1e-13, 10000)
    assert conv[0]
    beta = _derive(S, w, d, plsc)["beta"][0]
    return np.array([beta[i, k] for i, k in d.paths])


def draw(rng, B, psi, lam, n) -> np.ndarray:
    J = len(psi)
    zeta = rng.standard_normal((n, J)) * np.sqrt(psi)
    eta = zeta @ np.linalg.inv(np.eye(J) - B).T
    theta = 1.0 - (lam ** 2).sum(axis=1)
    return eta @ lam.T + rng.standard_normal((n, lam.shape[0])) * np.sqrt(theta)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--boot", type=int, default=499)
    ap.add_argument("--n", type=int, nargs="+", default=[50, 100, 150, 200, 250, 300, 400])
    ap.add_argument("--estimator", nargs="+", default=["plsc", "pls"], choices=["plsc", "pls"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "bootstrap_coverage.csv"))
    a = ap.parse_args()
    spec = template("ccsi")
    B, psi, lam, sigma = population(spec)
    d = _Design.from_spec(spec)
    latent = np.array([B[k, i] for i, k in d.paths])
    assert np.allclose(truth(spec, sigma, True), latent, atol=1e-8), "PLSc must be consistent on Σ"
    rows = []
    for plsc in [e == "plsc" for e in a.estimator]:
        true = truth(spec, sigma, plsc)
        for n in a.n:
            hits = {"percentile": [], "bca": []}
            failed = 0
            for rep in range(a.reps):
                rng = np.random.default_rng(100000 * n + rep)
                X = pd.DataFrame(draw(rng, B, psi, lam, n), columns=list(spec.indicators))
                try:
                    b = bootstrap_pls(X, spec, n_boot=a.boot, seed=rep, plsc=plsc, jackknife=True,
                                      threads=a.threads)
                except EstimationError:
                    failed += 1
                    continue
                for ci in hits:
                    s = b.summary("paths", ci=ci)
                    hits[ci].append(((s["ci_low"] <= true) & (true <= s["ci_high"])).to_numpy())
            for ci, h in hits.items():
                h = np.array(h, float)
                cov = h.mean(axis=0)
                rows.append({"estimator": "plsc" if plsc else "pls", "n": n, "ci": ci, "reps": len(h),
                             "failed": failed, "coverage_mean": cov.mean(), "coverage_min": cov.min(),
                             "mc_se": np.sqrt(cov.mean() * (1 - cov.mean()) / h.size)})
                print(rows[-1], flush=True)
    pd.DataFrame(rows).round(4).to_csv(a.out, index=False)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
