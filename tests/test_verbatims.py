"""Verbatims (issue 13, item 6): open-text columns detected at ingest (by name, by content, by the dictionary's
kind, or named), stored exactly as text (not as segments; schema 5 ``texts``), searchable with literal % and _,
kept by delete/restore of a wave, joined to the engine's satisfaction scores, counted by theme and driver, shown
by the Verbatims page (AppTest, Chinese) and the ``verbatims`` command, and written by ``report``."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from csi.analytics import verbatims as vb
from csi.data import demo, ingest, store
from csi.errors import InputError

RATING = ("sat1", "sat2", "sat3", "qual1")


def _wave(n: int, **extra) -> pd.DataFrame:
    """``n`` respondents: id, brand, four rating items (text cells) and the ``extra`` columns."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "brand": ["A", "B"] * (n // 2) + ["A"] * (n % 2)})
    for it in RATING:
        df[it] = [str(v) for v in rng.integers(1, 11, n)]
    for k, v in extra.items():
        df[k] = v
    return df.astype(object)


@pytest.fixture()
def con(tmp_path):
    c = store.connect(tmp_path / "t.duckdb")
    yield c
    c.close()


FREE = ["The staff at the shop were very friendly", "Waited forty minutes in the queue again",
        "价格太贵了，不划算", "Signal drops every evening at home", "Billing was wrong twice this year",
        "Great coverage in the mountains too"]


# ------------------------------------------------------------------ detection
def test_text_columns_found_by_name_and_by_content_not_stored_as_segments(con):
    raw = _wave(6, comment=["ok", "", "slow", "ok", "fine", "ok"],      # by name, though short and repeated
                意见=["好"] * 6, Q12_comment=["a"] * 6, 改进建议=["无"] * 6,   # names, Chinese inside a name
                notes_x=FREE,                                            # by content
                code=["A1", "A2", "A1", "A3", "A2", "A1"],               # a code: dropped as before
                email=[f"person{i}@example.com" for i in range(6)],      # distinct and long, but no words
                stamp=[f"2025-01-0{i + 1} 10:2{i}:00" for i in range(6)])  # time stamps: no words
    rep = ingest.validate_frame(con, raw, "f.csv")
    assert rep.ok
    assert rep.text_columns == ["comment", "意见", "q12_comment", "改进建议", "notes_x"]
    assert rep.segments == ["brand"]
    assert rep.extra_columns == ["code", "email", "stamp"]
    assert rep.summary["text_columns"] == rep.text_columns
    assert ingest.looks_like_text(pd.Series(FREE)) and not ingest.looks_like_text(pd.Series(["yes", "no"] * 3))


def test_a_comment_column_is_no_longer_a_segment(con):
    # an earlier wave kept the comment column as a segment (what happened before verbatims existed)
    ingest.ingest_frame(con, _wave(4, comment=["a b c d e f g h"] * 4), "W1", "w1.csv", keep_columns=["comment"])
    assert "comment" in store.segment_columns(con)
    rep = ingest.ingest_frame(con, _wave(4, comment=["等太久了", "", "The price is high", "ok"]), "W2", "w2.csv")
    assert rep.texts == ("comment",) and "comment" not in rep.segments
    resp = store.load_responses(con, waves=["W2"])
    assert "comment" not in resp.columns  # no segment values for W2
    assert store.load_texts(con, waves=["W2"])["value"].tolist() == ["等太久了", "The price is high", "ok"]


def test_explicit_text_columns_dictionary_kind_text_and_explicit_segments(con):
    con.execute("INSERT INTO items (item, construct, text_en, text_zh, scale_min, scale_max, kind) "
                "VALUES ('open1', NULL, 'Anything else?', '其他意见？', 0, 1, 'text')")
    raw = _wave(4, region=["East", "West", "East", "North"], open1=["x", "y", "z", "w"],
                feedback=["f1", "f2", "f3", "f4"])
    rep = ingest.validate_frame(con, raw, "f.csv", text_columns=["region"], keep_columns=["feedback"])
    assert rep.ok and rep.text_columns == ["region", "open1"] and rep.segments == ["brand", "feedback"]
    assert "open1" not in rep.items
    bad = ingest.validate_frame(con, raw, "f.csv", text_columns=["nope"])
    assert not bad.ok and any(p.code == "map_unknown_columns" for p in bad.errors)


# ------------------------------------------------------------------ exact text
TRICKY = ["  等待太久，服务员态度差！  ", "ＡＢＣ１２３ full-width kept", "two\nlines, \"quoted\"", "100% sure_it works",
          "Zürich café", "=cmd|' /C calc'!A0"]


def test_exact_round_trip_utf8_and_gbk_csv(tmp_path, con):
    df = _wave(len(TRICKY), comment=TRICKY)
    for enc, label in (("utf-8", "U"), ("gb18030", "G")):
        rows = TRICKY if enc == "utf-8" else [v for v in TRICKY if v.encode("gb18030", "strict")]
        frame = _wave(len(rows), comment=rows).assign(id=lambda d, lb=label: lb + d["id"])
        path = tmp_path / f"w{label}.csv"
        frame.to_csv(path, index=False, encoding=enc)
        rep = ingest.ingest_file(con, path, label)
        assert rep.encoding == ("utf-8" if enc == "utf-8" else "gb18030") and rep.texts == ("comment",)
        got = store.load_texts(con, waves=[label])
        assert got["value"].tolist() == [v.strip() for v in rows]  # outer spaces only; ，！ＡＢＣ１２３ unchanged
        assert got["respondent_id"].tolist() == frame["id"].tolist()
    assert len(df) == len(TRICKY)


def test_nul_and_cell_size_limits_refuse_text_as_for_every_cell(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,sat1,comment\nr1,5,bad\x00text\n")
    with pytest.raises(InputError) as e:
        ingest.read_survey(path)
    assert e.value.problems[0].code == "binary"
    big = tmp_path / "big.csv"
    _wave(2, comment=["x" * 300, "short answer here"]).to_csv(big, index=False)
    with pytest.raises(InputError) as e:
        ingest.read_survey(big, limits={"max_cell_bytes": 200})
    assert any(p.code == "cell_too_large" and p.column == "comment" for p in e.value.problems)


def test_search_is_case_insensitive_literal_and_works_for_chinese(con):
    ingest.ingest_frame(con, _wave(6, comment=["100% sure", "100 sure", "a_b", "axb", "排队等待太久", "WAITING long"]),
                        "W1", "w.csv")
    hits = lambda term: store.load_texts(con, search=term)["value"].tolist()  # noqa: E731
    assert hits("0%") == ["100% sure"]
    assert hits("a_b") == ["a_b"]
    assert hits("waiting") == ["WAITING long"] and hits("Waiting") == ["WAITING long"]
    assert hits("等待") == ["排队等待太久"]
    assert hits("%") == ["100% sure"] and hits("_") == ["a_b"]
    assert len(hits("")) == 6 and hits("nothing like it") == []
    assert store.load_texts(con, names=["other"]).empty


def test_delete_restore_and_purge_keep_and_drop_the_texts(con):
    ingest.ingest_frame(con, _wave(4, comment=["one a", "two b", "", "four d"]), "W1", "w.csv")
    before = store.load_texts(con)
    store.delete_wave(con, "W1")
    assert store.load_texts(con).empty
    assert con.execute("SELECT count(*) FROM trash_texts").fetchone()[0] == 3
    store.restore_wave(con, "W1")
    pd.testing.assert_frame_equal(store.load_texts(con), before)
    store.delete_wave(con, "W1")
    store.purge_trash(con)
    assert con.execute("SELECT count(*) FROM trash_texts").fetchone()[0] == 0


def test_store_without_schema_5_reads_no_texts(con):
    con.execute("DROP TABLE texts")
    assert store.load_texts(con).empty and store.text_columns(con) == []


# ------------------------------------------------------------------ themes on hand-made comments
def test_theme_counts_on_hand_made_comments():
    comments = ["Waiting far too long in the queue", "价格太贵了", "The staff were rude", "coffee was fine",
                "服务员态度差，等了半天", "feedback: too expensive", "Nothing to add"]
    sat = [20.0, 30.0, 50.0, 90.0, 10.0, 40.0, np.nan]
    joined = pd.DataFrame({"wave": "W", "respondent_id": list("abcdefg"), "name": "comment", "value": comments,
                           "satisfaction": sat})
    hits = vb.match_themes(joined["value"])
    assert hits.loc[0, "waiting"] and hits.loc[4, "waiting"] and not hits.loc[2, "waiting"]
    assert hits.loc[1, "price"] and hits.loc[5, "price"]
    assert not hits.loc[3].any()          # "coffee" is not "fee": ASCII keywords match at a word start
    assert not hits.loc[5, "staff_attitude"]  # "feedback" is no theme of its own
    th = vb.theme_counts(joined).set_index("theme")
    assert th.loc["waiting", "mentions"] == 2 and th.loc["waiting", "comments"] == 7
    assert th.loc["waiting", "share"] == pytest.approx(2 / 7)
    assert th.loc["waiting", "mean_sat_mentioning"] == pytest.approx(15.0)
    assert th.loc["waiting", "mean_sat_not"] == pytest.approx((30 + 50 + 90 + 40) / 4)  # NaN skipped
    assert th.loc["price", "mean_sat_mentioning"] == pytest.approx(35.0)
    assert th.loc["staff_attitude", "mentions"] == 2 and th.loc["billing", "mentions"] == 0
    dr = vb.theme_counts(joined, by="driver").set_index("driver")
    assert dr.loc["RES", "mentions"] == 2 and dr.loc["EMP", "driver_zh"] == "移情性"
    assert set(vb.satisfaction_band([10, 60, 60.5, 80, 80.5, np.nan])[:5]) == {"low", "mid", "high"}
    assert list(vb.satisfaction_band([10, 60, 60.5, 80, 80.5])) == ["low", "low", "mid", "mid", "high"]
    f = vb.filter_verbatims(joined.assign(band=vb.satisfaction_band(joined["satisfaction"])), bands=["low"],
                            search="TOO")
    assert f["respondent_id"].tolist() == ["a", "f"]


def test_demo_phrases_hold_their_own_theme_only():
    for theme, (en, zh) in demo.COMMENT_PHRASES.items():
        hits = vb.match_themes(pd.Series(list(en) + list(zh)))
        assert hits[theme].all(), theme
        assert not hits.drop(columns=theme).any().any(), (theme, hits.sum().to_dict())
    neutral = vb.match_themes(pd.Series([*demo.COMMENT_NEUTRAL[0], *demo.COMMENT_NEUTRAL[1]]))
    assert not neutral.any().any()


def test_demo_comments_tell_their_story_and_leave_the_survey_unchanged():
    survey = demo.generate(20240601)
    frames = {w: demo.add_comments(df, w, 20240601) for w, df in survey.waves.items()}
    for w, df in frames.items():
        pd.testing.assert_frame_equal(df.drop(columns="comment"), survey.waves[w])
        pd.testing.assert_frame_equal(demo.add_comments(survey.waves[w], w, 20240601), df)  # seeded
    allw = pd.concat([f.assign(wave=w) for w, f in frames.items()], ignore_index=True)
    written = allw[allw["comment"] != ""]
    assert 0.35 < len(written) / len(allw) < 0.45
    sat = written[["sat1", "sat2", "sat3"]].astype("Float64").replace(99, pd.NA).mean(axis=1).astype(float)
    hits = vb.match_themes(written["comment"])
    for theme, sign in (("price", -1), ("waiting", -1), ("staff_attitude", 1)):
        gap = sat[hits[theme].to_numpy()].mean() - sat[~hits[theme].to_numpy()].mean()
        assert sign * gap > 0.3, (theme, gap)
    horizon = written["brand"] == demo.COMPETITOR
    late = written["wave"].isin(["2025Q2", "2025Q3", "2025Q4"])
    price = hits["price"]
    assert price[horizon & late].mean() > price[horizon & ~late].mean() + 0.08
    west = written["region"] == "West"
    assert hits["network"][west].mean() > hits["network"][~west].mean() + 0.05
    zh = written["comment"].str.contains(r"[\u4e00-\u9fff]")
    assert 0.45 < zh.mean() < 0.55


# ------------------------------------------------------------------ engine, report, CLI, page
@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """Two demo waves, 300 respondents each, with their demo comments, through the ordinary ingest."""
    path = tmp_path_factory.mktemp("vb") / "csi.duckdb"
    survey = demo.generate(20240601)
    c = store.connect(path)
    try:
        for label in ("2025Q3", "2025Q4"):
            df = demo.add_comments(survey.waves[label], label, 20240601).head(300)
            ingest.ingest_frame(c, demo.as_text(df), wave=label, source_name=f"demo_{label}.csv")
        store.set_setting(c, "own_brand", survey.own_brand)
        store.set_setting(c, "competitor", survey.competitor)
        store.set_setting(c, "brand_column", "brand")
    finally:
        c.close()
    return path


def test_engine_joins_scores_and_respects_the_brand_scope(small_db):
    from csi.analytics.index import construct_scores_0_100
    from csi.report import build

    prep = build.prepare(small_db, build.Selection(own_brand_by_default=False), build.Settings(bootstrap=0))
    fits = build.wave_fits(prep)
    texts = build.read_texts(small_db, prep)
    joined = build.verbatims_joined(prep, fits, texts)
    assert len(joined) == len(texts) and {"brand", "region", "satisfaction", "band"} <= set(joined.columns)
    # the score is the engine's 0-100 SAT score of that respondent in its wave's fit
    rows = prep.rows_of("2025Q4")
    s = construct_scores_0_100(fits[("2025Q4",)].result, rows, prep.focus_scales("2025Q4"))["SAT"]
    one = joined[joined["wave"] == "2025Q4"].iloc[0]
    at = rows.index[rows["respondent_id"] == one["respondent_id"]][0]
    assert one["satisfaction"] == pytest.approx(s[at])
    scoped = build.prepare(small_db, build.Selection(own_brand_by_default=False, allowed_brands=("Horizon Telecom",)),
                           build.Settings(bootstrap=0))
    sj = build.verbatims_joined(scoped, build.wave_fits(scoped), texts)
    assert len(sj) and set(sj["brand"]) == {"Horizon Telecom"}
    assert len(sj) == int((joined["brand"] == "Horizon Telecom").sum())


def test_report_writes_verbatims_themes_csv(small_db, tmp_path):
    from csi.cli.main import main

    out = tmp_path / "rep"
    assert main(["report", "--db", str(small_db), "--bootstrap", "0", "--out", str(out)]) == 0
    themes = pd.read_csv(out / "verbatims_themes.csv")
    assert list(themes.columns) == vb.THEME_COLUMNS
    assert set(themes["theme"]) >= {"price", "waiting", "staff_attitude", "network"}
    assert (themes["comments"] > 0).all() and themes.set_index("theme").loc["price", "mentions"] > 0


def test_cli_verbatims_json_with_search(small_db, capsys):
    from csi.cli.main import main

    assert main(["verbatims", "--db", str(small_db), "--wave", "2025Q4", "--search", "价格", "--json",
                 "--limit", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_comments"] == len(out["comments"]) > 0
    assert all("价格" in c["value"] and c["wave"] == "2025Q4" for c in out["comments"])
    assert {t["theme"] for t in out["themes"] if t["mentions"] == out["n_comments"]} >= {"price"}
    assert main(["verbatims", "--db", str(small_db), "--band", "low"]) == 0
    assert "comment" in capsys.readouterr().out
    assert main(["verbatims", "--db", str(small_db), "--wave", "nope"]) == 2


def test_ingest_cli_text_columns(tmp_path, capsys):
    from csi.cli.main import main

    db = tmp_path / "c.duckdb"
    f = tmp_path / "w.csv"
    _wave(4, region=["East", "West", "East", "North"]).to_csv(f, index=False)
    assert main(["ingest", str(f), "--wave", "W1", "--db", str(db), "--text-columns", "region"]) == 0
    assert "verbatims: region" in capsys.readouterr().out
    c = store.connect(db, read_only=True)
    try:
        assert store.load_texts(c)["value"].tolist() == ["East", "West", "East", "North"]
        assert "region" not in store.segment_columns(c)
    finally:
        c.close()


def _app(small_db, tmp_path, monkeypatch):
    """An AppTest of the dashboard on a private copy of ``small_db``; returns (AppTest, db path)."""
    pytest.importorskip("streamlit")
    from conftest import app_environment, app_test

    env = app_environment(monkeypatch, tmp_path, copy_of=small_db, clear=True)
    return app_test(), env.db


@pytest.fixture(autouse=True)
def _clear_app_caches():
    yield
    from conftest import clear_streamlit_caches

    try:
        clear_streamlit_caches()
    except ImportError:  # no streamlit: nothing was cached
        pass


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_verbatims_page(small_db, tmp_path, monkeypatch, lang):
    from app.i18n import t
    from test_i18n import leaks

    at, db = _app(small_db, tmp_path, monkeypatch)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("app_pages/verbatims.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [x.value for x in at.title][-1] == t("vb_title", lang)
    chrome = [e.value for e in (*at.title, *at.caption, *at.subheader, *at.info, *at.markdown)]
    assert not [w for s in chrome for w in leaks(s, lang, allowed=("2025Q3", "2025Q4"))], chrome
    table = at.dataframe[-1].value
    text_col = t("vb_col_text", lang)
    assert text_col in table.columns and len(table) == 50  # the first page of 50
    c = store.connect(db, read_only=True)
    try:
        stored = set(store.load_texts(c)["value"])
    finally:
        c.close()
    assert set(table[text_col]) <= stored  # untranslated, as written
    assert at.get("download_button")  # the matching comments as CSV
    assert at.get("plotly_chart")  # theme shares per driver
    themes = at.dataframe[0].value
    assert t("vb_col_theme", lang) in themes.columns
    assert set(themes[t("vb_col_driver", lang)]) >= {"感知价值" if lang == "zh" else "Perceived value"}
    at.text_input(key="vb_search").set_value("价格").run()
    assert not at.exception
    found = at.dataframe[-1].value[text_col]
    assert len(found) and found.str.contains("价格").all()


def test_data_page_maps_and_stores_a_comment_column_as_verbatims(small_db, tmp_path, monkeypatch):
    from app.i18n import t

    at, db = _app(small_db, tmp_path, monkeypatch)
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    df = demo.add_comments(demo.generate(7).waves["2025Q4"], "2025Q4", 7).head(150)
    df["respondent_id"] = [f"N-{i:05d}" for i in range(len(df))]
    at.file_uploader[0].upload("new.csv", demo.as_text(df).to_csv(index=False).encode("utf-8"), "text/csv")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert t("vb_data_texts", "en", columns="comment") in [i.value for i in at.info]
    at.text_input(key="da_label").input("2026Q1")
    at.run()
    at.button(key="da_commit").click()
    at.run()
    assert not at.exception
    c = store.connect(db, read_only=True)
    try:
        got = store.load_texts(c, waves=["2026Q1"])
        assert "comment" not in store.segment_columns(c, ["2026Q1"])
    finally:
        c.close()
    assert got["value"].tolist() == [v for v in df["comment"] if v]
