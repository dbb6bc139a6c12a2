"""The lavaan-syntax parser: a corpus of broken model strings, round trips, derived views."""
from __future__ import annotations

import re

import numpy as np
import pytest

from csi.errors import SpecError
from csi.model.syntax import ModelSpec, parse_model
from csi.model.templates import template

ECSI = """
# ECSI (Tenenhaus et al. 2005)
IMAG =~ imag1 + imag2 + imag3 + imag4 + imag5
EXPE =~ expe1 + expe2 + expe3 + expe4 + expe5
QUAL =~ qual1 + qual2 + qual3 + qual4 + qual5
VAL  =~ val1 + val2 + val3 + val4
SAT  =~ sat1 + sat2 + sat3 + sat4
LOY  =~ loy1 + loy2 + loy3 + loy4
EXPE ~ IMAG
QUAL ~ EXPE
VAL ~ EXPE + QUAL
SAT ~ IMAG + EXPE + QUAL + VAL
LOY ~ IMAG + SAT
"""

BROKEN = [
    ("", "empty"),
    ("   \n# only a comment\n", "no statements"),
    ("IMAG imag1 imag2", "no operator"),
    ("IMAG =~", "has no indicators"),
    ("=~ imag1 + imag2", "nothing on the left"),
    ("IMAG =~ imag1 +\n", "dangling '+'"),
    ("IMAG =~ imag1 ++ imag2", "dangling '+'"),
    ("IMAG =~ 0.7*imag1 + imag2", "coefficient labels"),
    ("IMAG =~ imag1\nSAT =~ sat1\nSAT ~~ IMAG", "covariances"),
    ("IMAG =~ imag1 + imag-2", "not a valid name"),
    ("IMAG =~ imag1 =~ imag2", "more than one operator"),
    ("A =~ x1 + x2\nB =~ x2 + x3\nB ~ A", "in two blocks"),
    ("A =~ x1 + x1\nB =~ y1\nB ~ A", "listed twice in block"),
    ("A =~ x1\nA <~ x2\nB =~ y1\nB ~ A", "both reflective"),
    ("A =~ x1\nB =~ A\nB ~ A", "needs at least two dimensions"),
    # higher-order constructs and interaction terms
    ("A =~ x1\nC =~ z1\nH =~ A + C\nH ~ A", "share a structural path with its own dimension"),
    ("A =~ x1\nC =~ z1\nH =~ A + z2\nY =~ y1\nY ~ H", "mixes constructs"),
    ("A =~ x1\nC =~ z1\nH =~ A + C\nD =~ d1\nG =~ H + D\nY =~ y1\nY ~ G", "only second-order"),
    ("A =~ x1\nB =~ y1\nY =~ z1\nY ~ A + A:B", "add the main effect B"),
    ("A =~ x1\nB =~ y1\nY =~ z1\nY ~ A + B + A:C", "'C' is not a declared construct"),
    ("A =~ x1\nB =~ y1\nY =~ z1\nY ~ A + A:A", "quadratic terms"),
    ("A =~ x1\nB =~ y1\nC =~ c1\nY =~ z1\nY ~ A + B + C + A:B:C", "only two-way interactions"),
    ("A =~ x1\nB =~ y1\nY =~ z1\nY ~ A + B + A:B + B:A", "listed twice"),
    ("A =~ x1\nB =~ y1\nB ~ C", "'C' is not a declared construct"),
    ("A =~ x1\nB =~ y1\nB ~ x1", "it is an indicator of 'A'"),
    ("A =~ x1\nB =~ y1\nB ~ B", "cannot predict itself"),
    ("A =~ x1\nB =~ y1\nB ~ A\nB ~ A", "listed twice"),
    ("A =~ x1\nB =~ y1\nC =~ z1\nB ~ A", "not connected"),
    ("A =~ x1\nB =~ y1\nC =~ z1\nB ~ A\nC ~ B\nA ~ C", "cycle"),
]


@pytest.mark.parametrize("text,message", BROKEN, ids=[m for _, m in BROKEN])
def test_broken_model_strings_are_refused_with_a_reason(text, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_model(text)


def test_line_numbers_in_messages():
    with pytest.raises(SpecError, match="line 3"):
        parse_model("A =~ x1\nB =~ y1\nB ~ A + \n")  # statement starting on line 3 ends with a dangling '+'


def test_ecsi_parses_to_the_published_structure():
    spec = parse_model(ECSI, name="ecsi")
    assert spec.constructs == ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY")
    assert spec.blocks["VAL"] == ("val1", "val2", "val3", "val4")
    assert len(spec.paths) == 10 and ("IMAG", "LOY") in spec.paths
    assert spec.predecessors("SAT") == ("IMAG", "EXPE", "QUAL", "VAL")
    assert spec.exogenous == ("IMAG",)
    assert spec.adjacency.sum() == 10 and spec.adjacency[0, 1] == 1 and spec.adjacency[1, 0] == 0
    assert spec.ancestors("VAL") == ("IMAG", "EXPE", "QUAL")
    assert spec.descendants("QUAL") == ("VAL", "SAT", "LOY")
    built_in = template("ecsi")
    assert set(spec.paths) == set(built_in.paths) and spec.blocks == built_in.blocks


def test_continuations_semicolons_comments_and_formative_blocks():
    spec = parse_model("""
        IMAG =~ imag1 +
                imag2        ! a comment in the LISREL style
        VAL <~ val1 + val2 ; SAT =~ sat1
        SAT ~ IMAG
            + VAL            # a leading '+' continues the statement
    """)
    assert spec.modes == {"IMAG": "A", "VAL": "B", "SAT": "A"}
    assert spec.blocks["IMAG"] == ("imag1", "imag2")
    assert spec.predecessors("SAT") == ("IMAG", "VAL")


def test_constructs_come_in_topological_order_whatever_the_declaration_order():
    spec = parse_model("LOY =~ loy1\nSAT =~ sat1\nQUAL =~ q1\nLOY ~ SAT\nSAT ~ QUAL")
    assert spec.constructs == ("QUAL", "SAT", "LOY")


def test_round_trip_through_syntax():
    for name in ("ccsi", "ecsi", "acsi"):
        spec = template(name)
        again = parse_model(spec.to_syntax(), name=name)
        assert again.blocks == spec.blocks and set(again.paths) == set(spec.paths) and again.modes == spec.modes
    b = ModelSpec.from_parts({"A": ["x1", "x2"], "B": ["y1"]}, [("A", "B")], modes={"A": "B"})
    assert parse_model(b.to_syntax()).modes == {"A": "B", "B": "A"}


def test_with_items_and_check_columns():
    spec = parse_model(ECSI)
    smaller = spec.with_items([i for i in spec.indicators if i != "imag5"])
    assert "imag5" not in smaller.indicators and len(smaller.indicators) == 26
    with pytest.raises(SpecError, match="no indicators|has no"):
        ModelSpec.from_parts({"A": [], "B": ["y"]}, [("A", "B")])
    with pytest.raises(SpecError, match="unknown indicators imag4, imag5"):
        spec.check_columns([i for i in spec.indicators if i not in ("imag4", "imag5")])


def test_specs_are_hashable_cache_keys():
    a, b = parse_model(ECSI), parse_model(ECSI)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert isinstance(a.adjacency, np.ndarray)


def test_higher_order_and_interaction_views_and_round_trip():
    spec = parse_model("""
    TANG =~ t1 + t2
    REL  =~ r1 + r2
    SQ   <~ TANG + REL
    VAL  =~ v1 + v2
    PRICE =~ p1 + p2
    SAT  =~ s1 + s2
    SAT ~ SQ + VAL + PRICE + VAL : PRICE
    """)
    assert spec.is_extended
    assert spec.higher_order == {"SQ": ("TANG", "REL")}
    assert spec.interactions == (("VAL:PRICE", "VAL", "PRICE", "SAT"),)
    assert spec.modes["SQ"] == "B"
    # the data's columns are the manifest items only; the dimensions are not columns
    assert spec.indicators == ("t1", "t2", "r1", "r2", "v1", "v2", "p1", "p2", "s1", "s2")
    assert ("VAL", "SAT") in spec.paths and all(":" not in f for f, _ in spec.paths)
    again = parse_model(spec.to_syntax())
    assert set(again.params) == set(spec.params)
    assert spec.with_items(spec.indicators).params == spec.params
    assert not parse_model(ECSI).is_extended
