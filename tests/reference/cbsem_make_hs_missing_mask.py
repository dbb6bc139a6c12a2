"""Derive tests/reference/cbsem_hs_missing_mask.csv (which cells of HolzingerSwineford1939 x1-x9 are missing).

Source: lavaan's Mplus comparison suite, github.com/lucdw/lavaan-mplus, file HS_missing/HS.missing.raw (301 rows,
x1..x9, -999999 = missing; 20 missing cells per variable, 36 patterns). Its observed cells are the
HolzingerSwineford1939 values semopy ships (checked below), so only the mask is kept here and the tests rebuild
the data set from ``semopy.examples.holzinger39``. The same suite's HS_missing/HS.missing.mean.ML.observed.R fits
it with lavaan 0.6-17, ``sem(model, missing = "ml", information = "observed", meanstructure = TRUE)``; its
lavaan/Mplus comparison log (HS.missing.mean.ML.observed.out_mimlavaan.log) supplies the reference values
in tests/test_cbsem.py.

Usage: python tests/reference/cbsem_make_hs_missing_mask.py path/to/HS.missing.raw
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from semopy.examples import holzinger39

raw = np.loadtxt(sys.argv[1])
items = [f"x{i}" for i in range(1, 10)]
hs = holzinger39.get_data()[items].to_numpy()
miss = raw == -999999
assert raw.shape == (301, 9) and (miss.sum(axis=0) == 20).all()
assert np.abs(np.where(miss, 0.0, raw - hs)).max() < 5e-7, "observed cells differ from semopy's HS data"
rows, cols = np.nonzero(miss)
out = pd.DataFrame({"row": rows, "variable": [items[c] for c in cols]})
out.to_csv(Path(__file__).with_name("cbsem_hs_missing_mask.csv"), index=False)
print(f"{len(out)} missing cells, {len({tuple(r) for r in miss})} patterns")
