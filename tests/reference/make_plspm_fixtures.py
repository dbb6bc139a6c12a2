"""Produce the plspm reference fixtures used by tests/test_pls.py.

Run (needs the PyPI package ``plspm`` 0.5.7, a Python port of R plspm, and statsmodels)::

    python -m venv --system-site-packages /tmp/plsvenv
    /tmp/plsvenv/bin/pip install --no-deps plspm==0.5.7
    /tmp/plsvenv/bin/python tests/reference/make_plspm_fixtures.py

Writes ``plspm_<setting>_{paths,outer,r2}.csv`` next to this file. The tests do not need plspm.

Notes on matching conventions (checked by reading plspm 0.5.7's source):

* ``Config(scaled=True)`` in the Python port divides *all* columns by one pooled standard deviation
  (``data.stack().std()``), unlike R plspm's per-column ``scale()``. To reproduce R plspm
  ``scaled=TRUE`` we z-score each column ourselves (sample sd, ddof=1, as R's ``scale()``) and pass
  ``scaled=False`` (which only centres).
* plspm normalises outer weights so that scores have unit *population* variance (divisor n); csi uses
  unit *sample* variance (divisor n-1, as seminr/cSEM/SmartPLS). The fixture stores plspm's raw weights;
  the test multiplies csi's weights by sqrt(n/(n-1)) before comparing. Paths, loadings and R² do not
  depend on that convention.
* ``tolerance`` is set to 1e-14 (plspm's criterion is the sum of squared changes of the unnormalised
  weights) so both programs are at the fixed point and differences reflect the method, not stopping.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "data" / "ecsi_satisfaction.csv"

ORDER = ["IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"]
BLOCKS = {"IMAG": [f"imag{i}" for i in range(1, 6)], "EXPE": [f"expe{i}" for i in range(1, 6)],
          "QUAL": [f"qual{i}" for i in range(1, 6)], "VAL": [f"val{i}" for i in range(1, 5)],
          "SAT": [f"sat{i}" for i in range(1, 5)], "LOY": [f"loy{i}" for i in range(1, 5)]}
PATHS = [("IMAG", "EXPE"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("IMAG", "SAT"),
         ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("IMAG", "LOY"), ("SAT", "LOY")]

# name: (scheme, standardize, constructs in mode B)
SETTINGS = {
    "centroid_raw": (Scheme.CENTROID, False, ()),
    "path_raw": (Scheme.PATH, False, ()),
    "factorial_raw": (Scheme.FACTORIAL, False, ()),
    "centroid_std": (Scheme.CENTROID, True, ()),
    "path_std": (Scheme.PATH, True, ()),
    "factorial_std": (Scheme.FACTORIAL, True, ()),
    "path_std_modeB": (Scheme.PATH, True, ("IMAG", "VAL")),
    "centroid_raw_modeB": (Scheme.CENTROID, False, ("QUAL",)),
}


def main() -> None:
    raw = pd.read_csv(DATA, index_col=0)
    items = [i for b in BLOCKS.values() for i in b]
    x = raw[items].astype(float)
    path = pd.DataFrame(0, index=ORDER, columns=ORDER)
    for f, t in PATHS:
        path.loc[t, f] = 1
    for name, (scheme, standardize, mode_b) in SETTINGS.items():
        data = (x - x.mean()) / x.std(ddof=1) if standardize else x
        cfg = c.Config(path, scaled=False)
        for lv in ORDER:
            cfg.add_lv(lv, Mode.B if lv in mode_b else Mode.A, *[c.MV(m) for m in BLOCKS[lv]])
        res = Plspm(data, cfg, scheme, iterations=1000, tolerance=1e-14)
        pc = res.path_coefficients()
        pd.DataFrame([(f, t, pc.loc[t, f]) for f, t in PATHS], columns=["from", "to", "estimate"]).to_csv(
            HERE / f"plspm_{name}_paths.csv", index=False, float_format="%.12g")
        om = res.outer_model().loc[items]
        out = pd.DataFrame({"indicator": items, "weight": om["weight"].values, "loading": om["loading"].values})
        out.to_csv(HERE / f"plspm_{name}_outer.csv", index=False, float_format="%.12g")
        r2 = res.inner_summary()["r_squared"].reindex(ORDER)
        pd.DataFrame({"construct": ORDER, "r2": r2.values}).to_csv(
            HERE / f"plspm_{name}_r2.csv", index=False, float_format="%.12g")
        print(name, pc.loc["EXPE", "IMAG"], r2["SAT"])


if __name__ == "__main__":
    main()
