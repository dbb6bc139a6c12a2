"""AHP and expert weights (csi.analytics.ahp, python -m csi ahp / expert-weights).

Published example: Saaty's "which drink is consumed more in the U.S." matrix (T. L. Saaty, "Decision making
with the analytic hierarchy process", Int. J. Services Sciences 1(1), 2008, 83-98, the drinks table; the
same example is in Saaty 1990, EJOR 48, 9-26). Published eigenvector .177 .019 .042 .116 .190 .129 .327 and
C.R. = .022 (RI(7) = 1.32 of Saaty's 1980 table).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from csi.analytics.ahp import RANDOM_INDEX, ahp_weights, check_direct_weights, expert_weights, read_matrix_csv
from csi.cli.main import main
from csi.errors import SpecError

DRINKS = ["coffee", "wine", "tea", "beer", "sodas", "milk", "water"]
MATRIX = [[1, 9, 5, 2, 1, 1, 1 / 2],
          [1 / 9, 1, 1 / 3, 1 / 9, 1 / 9, 1 / 9, 1 / 9],
          [1 / 5, 3, 1, 1 / 3, 1 / 4, 1 / 3, 1 / 9],
          [1 / 2, 9, 3, 1, 1 / 2, 1, 1 / 3],
          [1, 9, 4, 2, 1, 2, 1 / 2],
          [1, 9, 3, 1, 1 / 2, 1, 1 / 3],
          [2, 9, 9, 3, 2, 3, 1]]
PUBLISHED = [0.177, 0.019, 0.042, 0.116, 0.190, 0.129, 0.327]


def test_saaty_drinks_example_weights_and_cr():
    r = ahp_weights(MATRIX, DRINKS)
    assert [round(r.weights[d], 3) for d in DRINKS] == PUBLISHED
    assert round(r.cr, 3) == 0.022 and r.consistent and r.ri == 1.32
    assert r.ci == pytest.approx((r.lambda_max - 7) / 6)
    assert abs(sum(r.weights.values()) - 1) < 1e-12


def test_consistent_matrix_has_exact_weights_and_zero_ci():
    w = np.array([0.5, 0.3, 0.2])
    r = ahp_weights(w[:, None] / w[None, :], ["a", "b", "c"])
    assert [r.weights[k] for k in "abc"] == pytest.approx(w, abs=1e-12)
    assert r.lambda_max == pytest.approx(3) and r.ci == pytest.approx(0, abs=1e-12) and r.cr == pytest.approx(0, abs=1e-12)


def test_random_index_table_is_saatys():
    assert [RANDOM_INDEX[n] for n in range(1, 11)] == [0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49]


def test_inconsistent_matrix_refused_unless_overridden():
    # a > b (9), b > c (9) but c > a (9): a cycle; CR far above 0.10
    m = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]
    with pytest.raises(SpecError, match="inconsistent"):
        ahp_weights(m, ["a", "b", "c"])
    r = ahp_weights(m, ["a", "b", "c"], allow_inconsistent=True)
    assert r.cr >= 0.10 and not r.consistent


@pytest.mark.parametrize("m, msg", [([[1, 3], [3, 1]], "not reciprocal"), ([[2, 1], [1, 1]], "diagonal"),
                                    ([[1, -1], [-1, 1]], "positive"), ([[1, 2, 3], [0.5, 1, 2]], "square")])
def test_invalid_matrices_refused(m, msg):
    with pytest.raises(SpecError, match=msg):
        ahp_weights(m)


def test_direct_weights_must_sum_to_one():
    assert check_direct_weights({"network": 0.2, "hotline": 0.1, "shop": 0.7}) == {"network": 0.2, "hotline": 0.1,
                                                                                    "shop": 0.7}
    with pytest.raises(SpecError, match="sum to 1, they sum to 0.9"):
        check_direct_weights({"network": 0.2, "hotline": 0.7})
    with pytest.raises(SpecError, match="non-negative"):
        check_direct_weights({"a": -0.5, "b": 1.5})


def test_expert_weights_mix_direct_and_ahp_levels():
    cfg = {"first_level": {"weights": {"network": 0.6, "hotline": 0.4}},
           "items": {"network": {"matrix": [[1, 3], [1 / 3, 1]], "names": ["qual1", "qual2"]},
                     "hotline": {"weights": {"qual3": 1.0}}}}
    h, top, record = expert_weights(cfg)
    assert top == {"network": 0.6, "hotline": 0.4}
    assert h["network"] == pytest.approx({"qual1": 0.75, "qual2": 0.25})
    assert record["items"]["network"]["ahp"]["cr"] == 0.0
    bad = {**cfg, "items": {"network": cfg["items"]["network"]}}
    with pytest.raises(SpecError, match="no item weights for attribute"):
        expert_weights(bad)


def test_cli_ahp_prints_json_and_exits_2_on_bad_matrix(tmp_path, capsys):
    f = tmp_path / "drinks.csv"
    cells = [[("1/" + str(round(1 / v)) if v < 1 else f"{v:g}") for v in row] for row in MATRIX]
    f.write_text("," + ",".join(DRINKS) + "\n" + "\n".join(d + "," + ",".join(r) for d, r in zip(DRINKS, cells)) + "\n")
    assert read_matrix_csv(f).shape == (7, 7)
    assert main(["ahp", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [round(out["weights"][d], 3) for d in DRINKS] == PUBLISHED and round(out["cr"], 3) == 0.022
    bad = tmp_path / "bad.csv"
    bad.write_text(",a,b\na,1,3\nb,3,1\n")
    assert main(["ahp", str(bad)]) == 2
    assert "not reciprocal" in capsys.readouterr().err
    text = tmp_path / "text.csv"
    text.write_text(",a,b\na,1,x\nb,1,1\n")
    assert main(["ahp", str(text)]) == 2


def test_cli_expert_weights_stores_valid_weights_only(tmp_path, capsys):
    from csi.data import store

    db = tmp_path / "s.duckdb"
    store.connect(db).close()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"first_level": {"weights": {"network": 0.5, "hotline": 0.4}},
                               "items": {"network": {"weights": {"qual2": 1}}, "hotline": {"weights": {"qual3": 1}}}}))
    assert main(["expert-weights", str(bad), "--db", str(db)]) == 2
    assert "sum to 1" in capsys.readouterr().err
    con = store.connect(db, read_only=True)
    assert store.get_setting(con, "expert_weights") is None
    con.close()
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"first_level": {"matrix": [[1, 2], [0.5, 1]], "names": ["network", "hotline"]},
                                "items": {"network": {"weights": {"qual2": 1}}, "hotline": {"weights": {"qual3": 1}}}}))
    assert main(["expert-weights", str(good), "--db", str(db)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["first_level"]["weights"] == pytest.approx({"network": 2 / 3, "hotline": 1 / 3})
    con = store.connect(db, read_only=True)
    assert json.loads(store.get_setting(con, "expert_weights"))["first_level"]["names"] == ["network", "hotline"]
    con.close()
