"""The finished bilingual UI: segment labels kept with the dictionary, path labels, and the display copy of result
tables (app.ui.localize / table_view) free of raw codes and, in Chinese, of English words.

``leaks(text, lang)`` is the one rule of what counts as a raw code or a stray English word; the AppTest
(tests/test_app.py) and the browser test (tests/test_browser.py) use it on every page.
"""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from csi.model import dictionary as dic
from csi.text.i18n import path_label

CONSTRUCT_CODES = ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY")
# Latin words a Chinese page may show: product and method names, statistics, file formats, authors cited.
ALLOWED_LATIN = {
    "NPS", "PLS", "CB-SEM", "SEM", "CCSI", "ECSI", "ACSI", "HTMT", "VIF", "AVE", "CFI", "TLI", "RMSEA", "SRMR",
    "Cronbach", "lavaan", "semopy", "CSV", "XLSX", "SAV", "JSON", "HTML", "PDF", "PPTX", "Excel", "Chin", "Dibbern",
    "Henseler", "Fornell", "Larcker", "ML", "OLS", "CI", "ID", "UTC", "ACSI", "streamlit", "secrets", "toml",
    "Skyline", "Mobile", "Horizon", "Telecom", "GB", "MB", "KB", "UTF", "GBK", "GB18030", "BOM", "cp",
    "ULS", "NFI", "PLSpredict", "Bollen", "Stine", "LM", "RMSE", "MAE", "NN", "NCA", "cIPMA", "CE-FDH", "HI95", "HI99",
    "AHP", "CI", "CR", "RI", "TARP", "RATER", "SERVQUAL", "Saaty", "Goodman", "Spearman", "Wilson",
    "MICOM", "MGA", "IPMA", "PLSc", "FIML", "Hauff", "Zhao", "Lynch", "Chen", "Sarstedt", "Ringle", "Hair",
}
_WAVE = re.compile(r"\b\d{4}\s*[QqHh]\d\b|\b\d{4}[-/]\d{1,2}\b")
_RAW = re.compile(r"\b(?:%s)\b|\b(?:imag|expe|qual|val|sat|comp|loy)\d+\b|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|->"
                  % "|".join(CONSTRUCT_CODES))
_CODE = re.compile(r"`[^`]*`")  # a command or column name shown as code (Markdown backticks) is meant as typed
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]")


def leaks(text: str, lang: str, allowed=()) -> list[str]:
    """Raw codes in ``text`` (construct codes, item codes such as qual3, snake_case tokens, ``A->B``) and, when
    ``lang`` is Chinese, Latin words outside :data:`ALLOWED_LATIN` and ``allowed`` (e.g. the store's brand and
    wave names). Wave labels such as 2025Q4 and text shown as code (`python -m csi ...`, a column name) are ignored."""
    text = _CODE.sub(" ", _WAVE.sub(" ", str(text))).replace("Q²predict", " ").replace("λmax", " ")
    for a in allowed:
        text = text.replace(str(a), " ")
    found = _RAW.findall(text)
    if lang == "zh":
        found += [w for w in _LATIN.findall(text) if w not in ALLOWED_LATIN and not _RAW.fullmatch(w)]
    return found


def test_leaks_finds_what_the_issue_names_and_passes_clean_text():
    for bad in ("IMAG->EXPE", "qual3", "very_satisfied", "age_group", "SAT 73.0"):
        assert leaks(bad, "en"), bad
    for bad in ("overall", "hotline", "keep", "small", "medium", "none", "chi2", "converged", "Raising"):
        assert leaks(f"网络 {bad} 客服", "zh"), bad
    assert not leaks("满意度指数（2025Q4）：73.0，净推荐值 (NPS) 10，PLS 与 CB-SEM", "zh")
    assert not leaks("Satisfaction 73.0 (2025Q4); Image → Expectation", "en")


# ------------------------------------------------------------------ segment labels
def test_segment_labels_round_trip_and_stored_labels_win():
    stored = {"names": {"age_group": ("Age band", "年龄组"), "tier": ("Tier", "等级")},
              "values": {"channel": {"Online": ("Web", "网上")}, "tier": {"gold": ("Gold", "金卡")}}}
    text = dic.dump_segment_labels(stored)
    assert dic.parse_segment_labels(text) == stored
    labels = dic.segment_labels(text)
    assert dic.segment_name("age_group", "zh", labels) == "年龄组"          # stored beats built-in 年龄段
    assert dic.segment_name("region", "zh", labels) == "地区"                # built-in kept
    assert dic.segment_value("channel", "Online", "zh", labels) == "网上"
    assert dic.segment_value("channel", "Hotline", "zh", labels) == "客服热线"
    assert dic.segment_value("tier", "gold", "en", labels) == "Gold"
    assert dic.segment_value("tier", "silver", "zh", labels) == "silver"     # no label: the value as stored
    assert dic.segment_name("store_type", "en", labels) == "Store type"      # never a snake_case token


def test_malformed_segment_labels_read_as_empty_not_an_error():
    assert dic.parse_segment_labels("{not json") == {"names": {}, "values": {}}
    assert dic.parse_segment_labels(json.dumps([1, 2])) == {"names": {}, "values": {}}
    odd = json.dumps({"names": {"a": "just a string", "b": ["B", "乙"]}, "values": {"x": {"1": [1, 2]}}})
    assert dic.parse_segment_labels(odd) == {"names": {"b": ("B", "乙")}, "values": {}}


def test_segment_labels_live_in_the_store_settings(tmp_path):
    from csi.data import store

    con = store.connect(tmp_path / "s.duckdb")
    try:
        labels = {"names": {"gender": ("Sex", "性别")}, "values": {"gender": {"Female": ("Women", "女性")}}}
        store.set_setting(con, dic.SEGMENT_LABELS_KEY, dic.dump_segment_labels(labels))
        back = dic.segment_labels(store.get_setting(con, dic.SEGMENT_LABELS_KEY))
    finally:
        con.close()
    assert dic.segment_value("gender", "Female", "zh", back) == "女性"
    assert dic.segment_name("gender", "en", back) == "Sex"


def test_path_labels_come_from_construct_labels():
    assert path_label("IMAG", "EXPE") == "Image → Expectation"
    assert path_label("IMAG", "EXPE", "zh") == "企业形象 → 顾客预期"
    assert path_label("X1", "SAT") == "X1 → Satisfaction"  # a custom construct keeps its own name


# ------------------------------------------------------------ display copies of tables
@pytest.fixture()
def result_like():
    return pd.DataFrame({
        "construct": ["QUAL", "QUAL", "SAT"], "indicator": ["qual3", "qual2", "sat1"],
        "from": ["IMAG", "QUAL", "VAL"], "to": ["EXPE", "SAT", "SAT"],
        "action": ["keep", "review: remove only if that raises AVE or rho_C above threshold", "remove"],
        "size": ["small", "medium", "none"], "mode": ["A", "A", "A"],
        "first_level": ["hotline", "overall", "TOTAL"], "grade": ["very_satisfied", "neutral", "fairly_satisfied"],
        "quadrant": ["fix_first", "keep_up", "low_priority"], "path": ["IMAG > EXPE > SAT", "IMAG->EXPE", "IMAG > SAT | IMAG > QUAL > SAT"],
        "segment": ["channel", "age_group", "gender"], "value": ["Retail shop", "18-29", "Male"],
        "loading": [0.81, 0.77, 0.9],
    })


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_localized_tables_show_no_raw_codes(result_like, lang):
    from app.ui import localize

    items = {"qual3": ("Customer-service hotline", "客服热线服务"), "qual2": ("Network", "网络覆盖"),
             "sat1": ("Overall satisfaction", "总体满意度")}
    out = localize(result_like, lang, items=items, segments=dic.segment_labels(None))
    text = " | ".join(map(str, out.columns)) + " | " + " | ".join(out.astype(str).to_numpy().ravel())
    assert not leaks(text, lang), (lang, leaks(text, lang))
    if lang == "zh":
        row = out.iloc[0].tolist()
        assert "客服热线服务" in row and "营业厅" in row and "感知质量" in row and "保留" in row


def test_table_view_keeps_numbers_sortable_and_translates(result_like):
    from app.ui import table_view

    styled = table_view(result_like.drop(columns=["indicator"]), "zh")
    frame = styled.data
    assert pd.api.types.is_float_dtype(frame["载荷"] if "载荷" in frame.columns else frame.iloc[:, -1])
    assert not leaks(" ".join(map(str, frame.columns)), "zh")


def test_drop_reasons_are_translated():
    """Every reason the bootstrap counts dropped resamples under has a Chinese text; unknown reasons pass through."""
    import re
    from csi.text.i18n import drop_reasons

    src = "".join(open(f"csi/{m}.py", encoding="utf-8").read()
                  for m in ("engine/bootstrap", "engine/hoc", "evaluate/modelfit"))
    reasons = set(re.findall(r'tag\("([^"]+)"', src)) | set(re.findall(r'reason = "([^"]+)" if', src)) \
        | set(re.findall(r'else "([^"]+)"\n', src))
    assert {"zero-variance indicator", "not converged", "inadmissible PLSc correlation"} <= reasons
    zh = drop_reasons({r: 2 for r in reasons}, "zh")
    assert not re.findall(r"[A-Za-z]{3,}", zh.replace("PLSc", ""))
    assert drop_reasons({"not converged": 3, "other": 1}, "en") == "not converged: 3; other: 1"
