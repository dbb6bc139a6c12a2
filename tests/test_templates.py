"""Model templates: binding by item prefix, structure, loader."""
from __future__ import annotations

import pandas as pd
import pytest

from csi.errors import SpecError
from csi.model.templates import CONSTRUCT_LABELS, TEMPLATE_NAMES, load_model, template


def test_names_and_labels():
    assert TEMPLATE_NAMES == ("ccsi", "ecsi", "acsi")
    assert CONSTRUCT_LABELS["SAT"] == ("Satisfaction", "顾客满意度")
    assert set(CONSTRUCT_LABELS) == {"IMAG", "EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY",
                                     "REL", "ASS", "TAN", "EMP", "RES", "SQE"}  # + the RATER/SERVQUAL block


def test_ecsi_structure_and_defaults():
    s = template("ecsi")
    assert s.constructs == ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY")
    assert set(s.paths) == {("IMAG", "EXPE"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("IMAG", "SAT"),
                            ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("IMAG", "LOY"), ("SAT", "LOY")}
    assert s.blocks["VAL"] == ("val1", "val2", "val3", "val4") and len(s.indicators) == 27
    assert all(m == "A" for m in s.modes.values())


def test_ccsi_is_six_constructs_without_complaints():
    s = template("ccsi")
    assert set(s.constructs) == {"IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"}
    assert ("IMAG", "QUAL") in s.paths and ("SAT", "LOY") in s.paths and ("IMAG", "LOY") in s.paths


def test_acsi_complaints():
    s = template("acsi")
    assert "IMAG" not in s.constructs and s.blocks["COMP"] == ("comp1",)
    assert {("SAT", "COMP"), ("COMP", "LOY"), ("SAT", "LOY")} <= set(s.paths)
    s2 = template("acsi", ["comp2", "comp1", "expe1", "qual1", "val1", "sat1", "loy1"])
    assert s2.blocks["COMP"] == ("comp1",)          # comp2 is asked of complainers only: never bound
    s3 = template("acsi", ["expe1", "qual1", "val1", "sat1", "loy1"])   # complaints are optional in the ACSI
    assert "COMP" not in s3.constructs and ("SAT", "LOY") in s3.paths
    assert "COMP" not in template("acsi", ["comp2", "expe1", "qual1", "val1", "sat1", "loy1"]).constructs


def test_binding_by_prefix_ignores_other_columns_and_sorts_numerically():
    cols = ["respondent_id", "gender", "imag10", "imag2", "imag1", "expe1", "expe2", "qual1", "val1", "sat1",
            "loy1", "loy2", "imagery", "sat1_text", "nps"]
    s = template("ecsi", cols)
    assert s.blocks["IMAG"] == ("imag1", "imag2", "imag10")
    assert s.blocks["SAT"] == ("sat1",)
    assert "comp1" not in s.indicators


def test_missing_required_construct_is_named():
    with pytest.raises(SpecError, match="CCSI model needs EXPE"):
        template("ccsi", ["imag1", "qual1", "val1", "sat1", "loy1"])
    with pytest.raises(SpecError, match="VAL.*LOY|needs VAL, LOY"):
        template("ecsi", ["imag1", "expe1", "qual1", "sat1"])
    with pytest.raises(SpecError, match="unknown model template"):
        template("nsci")


def test_load_model(tmp_path):
    assert load_model("ECSI").constructs == template("ecsi").constructs
    assert load_model("ecsi", ["imag1", "expe1", "qual1", "val1", "sat1", "loy1"]).blocks["IMAG"] == ("imag1",)
    f = tmp_path / "m.lavaan"
    f.write_text("A =~ x1 + x2\nB =~ y1 + y2\nB ~ A\n", encoding="utf-8")
    m = load_model(str(f))
    assert m.paths == (("A", "B"),) and m.name == "m"
    assert load_model(f).blocks == m.blocks
    assert load_model("A =~ x1 + x2\nB =~ y1\nB ~ A").paths == (("A", "B"),)
    with pytest.raises(SpecError, match="not found"):
        load_model(str(tmp_path / "nope.lavaan"))
    with pytest.raises(SpecError, match="unknown model 'nsci'"):
        load_model("nsci")
    bad = tmp_path / "bad.lavaan"
    bad.write_text("A =~ x1 +\n", encoding="utf-8")
    with pytest.raises(SpecError, match="dangling"):
        load_model(bad)


def test_ecsi_template_fits_the_ecsi_file():
    df = pd.read_csv(__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "ecsi_satisfaction.csv",
                     index_col=0)
    assert template("ecsi", df.columns).indicators == template("ecsi").indicators
