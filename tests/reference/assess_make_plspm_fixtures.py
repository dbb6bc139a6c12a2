"""Produce the plspm reference fixtures used by tests/test_assess.py.

Run (needs the PyPI package ``plspm`` 0.5.7, a Python port of R plspm, plus scikit-learn/statsmodels)::

    python -m venv --system-site-packages /tmp/plsvenv
    /tmp/plsvenv/bin/pip install --no-deps plspm==0.5.7
    /tmp/plsvenv/bin/python tests/reference/assess_make_plspm_fixtures.py

Writes ``assess_plspm_unidim.csv`` (Cronbach's alpha, Dillon-Goldstein rho, first two eigenvalues per block,
as plspm's ``unidimensionality()``), ``assess_plspm_outer.csv`` (outer weights and loadings) and
``assess_plspm_inner.csv`` (AVE per construct) for the ECSI model on ``data/ecsi_satisfaction.csv``, path
scheme, mode A, every column z-scored with the sample SD (R's ``scale()``); the data are passed with
``scaled=False`` because the Python port's ``scaled=True`` divides by one pooled SD, unlike R plspm.
On z-scored data plspm's alpha is the standardized-items alpha and its DG rho is rho_C of the first
principal component's loadings. The tests do not need plspm.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme

HERE = Path(__file__).resolve().parent
# the ECSI model as the engine's fixture script defines it (this folder is on sys.path when run as a script)
from make_plspm_fixtures import BLOCKS, DATA, ORDER, PATHS  # noqa: E402


def main() -> None:
    raw = pd.read_csv(DATA, index_col=0)
    items = [i for b in BLOCKS.values() for i in b]
    x = raw[items].astype(float)
    data = (x - x.mean()) / x.std(ddof=1)
    path = pd.DataFrame(0, index=ORDER, columns=ORDER)
    for f, t in PATHS:
        path.loc[t, f] = 1
    cfg = c.Config(path, scaled=False)
    for lv in ORDER:
        cfg.add_lv(lv, Mode.A, *[c.MV(m) for m in BLOCKS[lv]])
    res = Plspm(data, cfg, Scheme.PATH, iterations=1000, tolerance=1e-14)
    uni = res.unidimensionality().reindex(ORDER)
    uni.index.name = "construct"
    uni[["mvs", "cronbach_alpha", "dillon_goldstein_rho", "eig_1st", "eig_2nd"]].to_csv(
        HERE / "assess_plspm_unidim.csv", float_format="%.12g")
    om = res.outer_model().loc[items]
    pd.DataFrame({"indicator": items, "weight": om["weight"].values, "loading": om["loading"].values}).to_csv(
        HERE / "assess_plspm_outer.csv", index=False, float_format="%.12g")
    inner = res.inner_summary().reindex(ORDER)
    pd.DataFrame({"construct": ORDER, "ave": inner["ave"].values}).to_csv(
        HERE / "assess_plspm_inner.csv", index=False, float_format="%.12g")
    print(uni)
    print(inner)


if __name__ == "__main__":
    main()
