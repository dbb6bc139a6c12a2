"""One analysis everywhere: the command line, the Python API and the dashboard give the same numbers for the same
selection, on a store whose newest wave lacks an item (a routine questionnaire change).

The store: three demo waves (400 respondents each) plus a wave ``2026Q1`` loaded from a file without ``qual3``.
The engine binds the model to the items answered in every selected wave, so every wave is analysed without
``qual3`` and a note says so; survey weights are used by default everywhere.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi
from csi.analytics.index import index_scores
from csi.cli.main import main
from csi.data import demo, store
from csi.data.ingest import ingest_frame
from csi.engine.pls import estimate_pls
from csi.model.templates import template
from csi.report.build import Selection, Settings, analyze_selection, build_report, prepare

ROOT = Path(__file__).resolve().parents[1]
N = 400
WAVES = ("2025Q2", "2025Q3", "2025Q4")
OWN = demo.OWN_BRAND
BOOT = 40


def _raw(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), "").astype(str)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "csi.duckdb"
    survey = demo.generate(20240601)
    con = store.connect(path)
    try:
        for label in WAVES:
            ingest_frame(con, _raw(survey.waves[label].head(N)), wave=label, source_name=f"{label}.csv")
        new = demo.generate(11).waves["2025Q4"].head(N).drop(columns=["qual3"])
        new["respondent_id"] = [f"X-{i:04d}" for i in range(len(new))]
        ingest_frame(con, _raw(new), wave="2026Q1", source_name="2026Q1.csv")
        store.set_setting(con, "own_brand", OWN)
        store.set_setting(con, "competitor", demo.COMPETITOR)
        store.set_setting(con, "brand_column", "brand")
    finally:
        con.close()
    return path


def _direct_index(db: Path, wave: str, weighted: bool) -> pd.Series:
    """The satisfaction model fitted here by hand: own brand, one wave, every wave's common items (no qual3)."""
    con = store.connect(db, read_only=True)
    try:
        df = store.load_responses(con, [wave], {"brand": OWN})
        scales = store.item_scales(con, [wave])
    finally:
        con.close()
    items = [c for c in df.columns if c.rstrip("0123456789") in ("imag", "expe", "qual", "val", "sat", "loy", "comp")
             and c != "qual3"]
    spec = template("ccsi", items=items)
    assert "qual3" not in spec.indicators
    kw = {}
    if weighted:
        df["weight"] = pd.to_numeric(df["weight"])
        kw["weights"] = "weight"
    return index_scores(estimate_pls(df, spec, **kw), scales).set_index("construct")["index"]


@pytest.fixture(scope="module")
def cli_report(db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "report"
    assert main(["report", "--db", str(db), "--bootstrap", str(BOOT), "--out", str(out)]) == 0
    return out


def test_a_wave_lacking_an_item_reports_in_the_cli(cli_report, db):
    man = json.loads((cli_report / "manifest.json").read_text(encoding="utf-8"))
    assert man["focus"]["wave"] == "2026Q1" and man["focus"]["brand"] == OWN
    assert man["model"]["items_missing_by_wave"] == {"2026Q1": ["qual3"]}
    assert "qual3" not in man["model"]["items"]
    assert any(n["code"] == "wave_lacks_items" and "qual3" in n["message"] and "qual3" in n["message_zh"]
               for n in man["notes"])
    assert man["settings"]["survey_weights"] == "weight"
    tr = pd.read_csv(cli_report / "trends.csv")
    assert list(dict.fromkeys(tr["wave"])) == [*WAVES, "2026Q1"]
    for wave in ("2025Q4", "2026Q1"):  # every wave analysed without qual3, weighted
        got = tr[tr["wave"] == wave].set_index("construct")["index"]
        want = _direct_index(db, wave, weighted=True)
        np.testing.assert_allclose(got[want.index], want, atol=1e-9)
    assert not np.allclose(tr[tr["wave"] == "2026Q1"].set_index("construct")["index"][want.index],
                           _direct_index(db, "2026Q1", weighted=False), atol=1e-6)  # weights did matter
    pri = pd.read_csv(cli_report / "priorities.csv")
    assert "qual3" not in set(pri["driver"])


def test_api_report_equals_the_cli_files(cli_report, db):
    """Same engine, same numbers: with the CLI's two worker processes every CSV value is identical; fitted in
    this process (the API's default) the bootstrap's matrix products may run on several BLAS threads, which can
    move a last binary digit, so those agree to 1e-12."""
    names = ("indices", "trends", "changes", "priorities", "competitor_gap", "brands", "nps", "bands", "groups",
             "segments", "complaints", "classic/item_ranking", "classic/fuzzy", "classic/key_drivers")
    for workers, exact in ((2, True), (1, False)):
        rep = csi.build_report(db, Selection(), Settings(bootstrap=BOOT), workers=workers)
        assert rep.manifest["settings"]["survey_weights"] == "weight"
        for name in names:
            a = pd.read_csv(cli_report / f"{name}.csv")
            b = pd.read_csv(pd.io.common.StringIO(rep.tables[name].to_csv(index=False)))
            pd.testing.assert_frame_equal(a, b, check_exact=exact, rtol=1e-12, atol=1e-12, obj=name)


def test_cli_fit_without_flags_is_the_dashboards_model_page(db, tmp_path):
    """`python -m csi fit --db` with no other flag fits what the Model page shows first: the latest wave, the own
    brand, weighted, the model bound to the items of every wave."""
    out = tmp_path / "fit"
    r = subprocess.run([sys.executable, "-m", "csi", "fit", "--db", str(db), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "2026Q1" in r.stdout and "weighted by weight" in r.stdout
    cons = pd.read_csv(out / "constructs.csv").set_index("construct")["index"]
    want = _direct_index(db, "2026Q1", weighted=True)
    np.testing.assert_allclose(cons[want.index], want, atol=1e-9)
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["selection"]["survey_weights"] == "weight" and man["selection"]["focus_brand"] == OWN
    params = pd.read_csv(out / "params.csv")
    paths = pd.read_csv(out / "paths.csv")
    reg = params[params["op"] == "~"]
    np.testing.assert_array_equal(reg["estimate"].to_numpy(), paths["estimate"].to_numpy())  # derived from it
    assert list(reg["lhs"]) == list(paths["to"]) and list(reg["rhs"]) == list(paths["from"])
    r = subprocess.run([sys.executable, "-m", "csi", "fit", "--db", str(db), "--no-weights", "--out",
                        str(tmp_path / "u")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "unweighted" in r.stdout
    cons_u = pd.read_csv(tmp_path / "u" / "constructs.csv").set_index("construct")["index"]
    np.testing.assert_allclose(cons_u[want.index], _direct_index(db, "2026Q1", weighted=False), atol=1e-9)


def test_engine_picks_brands_and_weights_from_the_store(db):
    prep = prepare(db)
    assert (prep.focus_brand, prep.competitor, prep.brand_column) == (OWN, demo.COMPETITOR, "brand")
    assert prep.weight_col == "weight" and prep.frame["weight"].dtype == float
    pooled = prepare(db, Selection(own_brand_by_default=False))
    assert pooled.focus_brand is None and set(pooled.frame["brand"]) == {OWN, demo.COMPETITOR}
    assert set(prep.frame["brand"]) == {OWN}
    other = prepare(db, Selection(own_brand=demo.COMPETITOR))
    assert (other.focus_brand, other.competitor) == (demo.COMPETITOR, OWN)
    off = prepare(db, settings=Settings(weights=False))
    assert off.weight_col is None
    with pytest.raises(csi.DataError, match="nope"):
        prepare(db, settings=Settings(weights="nope"))


def test_engine_uses_the_edited_dictionary_texts(db, tmp_path):
    copy = tmp_path / "edited.duckdb"
    shutil.copy(db, copy)
    con = store.connect(copy)
    try:
        store.update_items(con, {"qual1": {"text_en": "Network: coverage where I live (edited)",
                                           "text_zh": "网络覆盖（已编辑）"}})
    finally:
        con.close()
    rep = build_report(copy, settings=Settings(bootstrap=0), segments=[])
    pri = rep.tables["priorities"].set_index("driver")
    assert pri.loc["qual1", "label_en"].iloc[0] == "Network: coverage where I live (edited)"
    assert pri.loc["qual1", "label_zh"].iloc[0] == "网络覆盖（已编辑）"
    rk = rep.tables["classic/item_ranking"].set_index("item")
    assert "(edited)" in " ".join(map(str, rk.loc["qual1"].to_numpy()))


# ------------------------------------------------------------------ the dashboard
@pytest.fixture()
def app_env(db, tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from conftest import app_environment, clear_streamlit_caches

    yield app_environment(monkeypatch, tmp_path, copy_of=db, bootstrap=BOOT, clear=True).db
    from app import state

    reg = state.jobs()
    for key in list(reg._jobs):
        reg.wait(key, 120)
    clear_streamlit_caches()


def test_dashboard_shows_the_cli_numbers_with_a_wave_lacking_an_item(app_env, cli_report):
    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    idx = pd.read_csv(cli_report / "indices.csv").set_index("construct")["index"]
    assert at.metric[0].label.endswith("(2026Q1)")
    assert at.metric[0].value == f"{idx['SAT']:.1f}"
    assert at.metric[2].value == f"{idx['LOY']:.1f}"
    assert any("qual3" in c.value for c in at.caption), [c.value for c in at.caption]
    # every page opens on this store
    for page in ("model", "drivers", "compare", "classic", "downloads"):
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
    # the tables behind the pages are the engine's, to the last digit: the Downloads page's fit equals
    # `python -m csi report`'s indices and the overview's trend equals trends.csv
    sel = at.session_state["csi_selection"]
    fit = state.full_fit(sel.path, sel.version, sel.waves, sel.filters, sel.model, sel.syntax, sel.method,
                         sel.weighted, "2026Q1", 0, 1)
    got = fit.tables["constructs"].set_index("construct")["index"]
    np.testing.assert_array_equal(got[idx.index].to_numpy(), idx.to_numpy())
    tr_app = state.extra_tables(sel)["trend"]
    tr_cli = pd.read_csv(cli_report / "trends.csv")
    np.testing.assert_array_equal(tr_app["index"].to_numpy(), tr_cli["index"].to_numpy())
    assert state.prepared(sel).weight_col == "weight"


def test_small_samples_get_no_verdict_and_no_actions(db):
    """A selection whose model uses fewer than min_n_verdict respondents: no significance verdicts, no action
    list, and the notice says how many respondents were used and how many are needed."""
    small = Settings(bootstrap=30, min_n_verdict=10_000)
    rep = build_report(db, settings=small, segments=[])
    ch = rep.tables["changes"]
    assert len(ch) and ch["significant"].isna().all()
    assert ch["verdict_en"].str.contains("10000 needed").all() and ch["verdict_zh"].str.contains("10000").all()
    assert "priorities" not in rep.tables
    assert any(n["code"] == "no_priorities" and "10000" in n["message"] for n in rep.notes)
    assert rep.tables["competitor_gap"]["significant"].isna().all()
    head = csi.report.build.headline(rep.prepared, rep.fits)
    assert head["small_sample"] is not None and head["index"]["significant"] is None
    assert head["n"] < head["n_respondents"]            # the count shown is the count the model used
    normal = build_report(db, settings=Settings(bootstrap=30), segments=[])
    assert normal.tables["changes"]["significant"].notna().all() and len(normal.tables["priorities"])


def test_dashboard_small_segment_shows_a_notice_not_verdicts(app_env):
    from streamlit.testing.v1 import AppTest

    from app.i18n import t

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.sidebar.multiselect(key="f_region").set_value(["North"]).run()
    assert not at.exception, [e.message for e in at.exception]
    caps = [c.value for c in at.caption]
    assert any(c.startswith(t("ov_small_sample", "en", n=0, need=100).split("only")[0]) for c in caps), caps
    assert not any("statistically significant" in c for c in caps), caps
    assert not any(m.value.startswith("1. ") for m in at.markdown)           # no action list
    notice = t("ss_no_actions", "en", n=0, need=100).split("0")[0]          # the plain notice, not an action list
    assert any(i.value.startswith(notice) for i in at.info), [i.value for i in at.info]


def test_dashboard_shows_alerts_for_targets_missed(app_env):
    from streamlit.testing.v1 import AppTest

    con = store.connect(app_env)
    try:
        store.set_setting(con, "targets", json.dumps({"SAT": 99.0}))
    finally:
        con.close()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    warn = " ".join(w.value for w in at.warning)
    assert "Alerts for 2026Q1" in warn and "below its target 99" in warn, warn
