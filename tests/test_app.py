"""The dashboard under streamlit.testing: every page × both languages × every role, the data page's
upload → validate → commit flow, role guards, downloads that re-import to the same numbers, speed.

A small demo database (300 respondents per wave, 6 waves) is built once per session in a tmp dir and
handed to the app through ``CSI_DB``; ``CSI_APP_BOOTSTRAP`` keeps the on-page bootstraps small.
"""
from __future__ import annotations

import ast
import io
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "model", "drivers", "compare", "classic", "data", "downloads")
TITLE_KEY = {"overview": "ov_title", "model": "md_title", "drivers": "dr_title", "compare": "cp_title",
             "classic": "cl_title", "data": "da_title", "downloads": "dl_title"}
PER_WAVE = 300
BOOT = "30"

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import auth, state  # noqa: E402
from app.i18n import TEXT, placeholders, t  # noqa: E402
from conftest import app_test, clear_streamlit_caches as _clear_streamlit_caches  # noqa: E402


# ------------------------------------------------------------------ fixtures
def _raw(df: pd.DataFrame) -> pd.DataFrame:
    """A demo wave as a file would arrive: every cell text, blanks empty."""
    return df.astype(object).where(df.notna(), "").astype(str)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("appdb") / "csi.duckdb", PER_WAVE)


def _use_copy(source, tmp_path, monkeypatch):
    """The app's environment on a private copy of the database ``source``: its path."""
    from conftest import app_environment

    return app_environment(monkeypatch, tmp_path, copy_of=source, bootstrap=BOOT).db


@pytest.fixture()
def app_env(demo_db, tmp_path, monkeypatch):
    """A private copy of the small database per test (tests that write must not leak into others)."""
    yield _use_copy(demo_db, tmp_path, monkeypatch)


def _app(secrets: dict | None = None) -> AppTest:
    return app_test(secrets=secrets)


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Each test has its own database file; cached connections of the previous file must go.
    _clear_streamlit_caches()
    yield
    from app import state

    reg = state.jobs()
    for key in list(reg._jobs):
        reg.wait(key, 120)
    _clear_streamlit_caches()


def _set_lang(at: AppTest, lang: str) -> None:
    at.session_state["lang"] = lang


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
    # the pages' catch-all turns an unexpected error into a message with an incident id: that is a failure too
    internal = [t("err_internal", lang, incident="")[:40] for lang in ("en", "zh")]
    shown = [e.value for e in at.error]
    assert not any(s.startswith(i) for s in shown for i in internal), shown


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.title] + [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [m.label for m in at.metric] + [e.value for e in at.info] + [e.value for e in at.subheader]
    return "\n".join(str(p) for p in parts)


def _wait_jobs():
    from app import state

    reg = state.jobs()
    for key in list(reg._jobs):
        job = reg.wait(key, 180)
        assert job.state in ("done", "cancelled"), job.error  # cancelled: superseded by a newer selection


def _bcrypt(pw: str) -> str:
    import bcrypt

    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()


USERS = {"vera": "viewer", "anna": "analyst", "rex": "researcher"}


def _password_secrets() -> dict:
    return {"cookie": {"name": "csi_test", "key": "csi-test-cookie-key-9Qf2LmX7vR4nT8wZ", "expiry_days": 1},
            "credentials": {"usernames": {u: {"email": f"{u}@example.com", "first_name": u, "last_name": "T",
                                              "password": _bcrypt("pw-" + u), "roles": [r]}
                                          for u, r in USERS.items()}}}


def _signed_in(user: str) -> AppTest:
    at = _app(_password_secrets())
    at.session_state["authentication_status"] = True
    at.session_state["username"] = user
    at.session_state["name"] = user
    return at


# ------------------------------------------------------------ translation table
def test_every_key_has_both_languages_and_same_placeholders():
    for key, pair in TEXT.items():
        assert isinstance(pair, tuple) and len(pair) == 2, key
        en, zh = pair
        assert en.strip() and zh.strip(), key
        assert placeholders(en) == placeholders(zh), key


def test_no_duplicate_keys_in_translation_source():
    tree = ast.parse((ROOT / "csi" / "text" / "i18n.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "TEXT":
            keys = [k.value for k in node.value.keys]
            dup = {k for k in keys if keys.count(k) > 1}
            assert not dup, dup
            return
    pytest.fail("TEXT not found")


def test_every_key_the_app_uses_exists():
    used = set()
    for f in [ROOT / "streamlit_app.py", *(ROOT / "app").glob("*.py"), *(ROOT / "app_pages").glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", f.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in TEXT)
    assert not missing, missing


def test_chinese_side_is_chinese():
    # a zh text equal to the English one is an untranslated key (except symbols and codes)
    same = [k for k, (en, zh) in TEXT.items() if en == zh and re.search(r"[A-Za-z]{4,}", en)
            and not k.startswith(("col_pls", "col_cbsem", "col_htmt", "col_vif", "col_ave", "col_alpha"))]
    assert not same, same


def test_csi_never_imports_streamlit():
    for f in (ROOT / "csi").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", f.read_text(encoding="utf-8"), re.M), f.name


# ------------------------------------------------------------------- roles
def test_roles_are_cumulative():
    assert auth.pages_for("viewer") == ("overview", "model", "drivers", "compare", "classic", "verbatims")
    assert auth.pages_for("analyst") == auth.pages_for("viewer") + ("data",)
    assert auth.pages_for("researcher") == auth.pages_for("analyst") + ("downloads",)
    assert auth.pages_for(None) == () and auth.pages_for("admin") == ()
    assert auth.best_role(["viewer", "researcher"]) == "researcher"
    assert auth.best_role("Analyst") == "analyst" and auth.best_role(["boss"]) is None


def test_auth_mode_from_secrets():
    assert auth.auth_mode({}) == "open"
    assert auth.auth_mode(_password_secrets()) == "password"
    assert auth.auth_mode({"auth": {"client_id": "x"}, **_password_secrets()}) == "oidc"
    assert auth.role_for_email({"roles": {"analyst": ["A@x.com"]}}, "a@x.com") == "analyst"
    assert auth.role_for_email({"roles": {"analyst": ["a@x.com"]}}, "b@x.com") == "viewer"


# ------------------------------------------------------ pages × languages (open)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_opens_in_both_languages(app_env, lang):
    at = _app()
    at.run()
    _no_exception(at)
    _set_lang(at, lang)
    timings = {}
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        t0 = time.perf_counter()
        at.run()
        timings[page] = time.perf_counter() - t0
        _no_exception(at)
        assert [x.value for x in at.title][-1] == t(TITLE_KEY[page], lang), page
        if lang == "zh":
            assert t("open_banner", "zh") in [w.value for w in at.warning]
            # every result table speaks Chinese: no raw snake_case header, no checkbox column
            for d in at.dataframe:
                frame = d.value
                # an editor keeps the store's names in its data and shows labels from its column config
                import json

                labels = {k: v.get("label") for k, v in json.loads(d.proto.columns or "{}").items()}
                raw = [c for c in frame.columns if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", str(labels.get(c) or c))]
                assert not raw, (page, raw)
                assert not [c for c in frame.columns if frame[c].dtype == bool], (page, list(frame.columns))
                assert not frame.astype(str).isin(["None"]).any().any(), (page, list(frame.columns))
                assert not frame.isna().any().any() or not d.proto.editing_mode == 0, (page, list(frame.columns))
    print(f"\npage render seconds ({lang}):", {k: round(v, 2) for k, v in timings.items()})


def test_open_mode_shows_banner_and_every_page(app_env):
    at = _app()
    at.run()
    assert t("open_banner", "en") in [w.value for w in at.warning]
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")  # raises ValueError for a page that is not registered


# ----------------------------------------------------------------- roles × pages
@pytest.mark.parametrize("user", list(USERS))
def test_each_role_sees_exactly_its_pages(app_env, user):
    role = USERS[user]
    at = _signed_in(user)
    at.run()
    _no_exception(at)
    assert t("signed_in_as", "en", name=user, role=role) in [c.value for c in at.sidebar.caption]
    for page in PAGES:
        if auth.can(role, page):
            at.switch_page(f"app_pages/{page}.py")
            at.run()
            _no_exception(at)
            assert [x.value for x in at.title][-1] == t(TITLE_KEY[page], "en")
        else:
            with pytest.raises(ValueError):  # not registered: not reachable by URL either
                at.switch_page(f"app_pages/{page}.py")


def test_viewer_is_stopped_inside_the_data_page_too(app_env):
    # Run the page file on its own (as if navigation had been bypassed): the page re-checks the role.
    at = app_test("app_pages/data.py", secrets=_password_secrets(), timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "vera"
    at.run()
    assert t("not_allowed", "en", role=t("role_viewer", "en")) in [e.value for e in at.error]
    assert len(at.get("file_uploader")) == 0


def test_session_cannot_raise_its_own_role(app_env):
    at = _signed_in("vera")
    at.session_state["roles"] = ["researcher"]  # roles come from the secrets file, not the session
    at.run()
    with pytest.raises(ValueError):
        at.switch_page("app_pages/downloads.py")


def test_password_login_form(app_env):
    at = _app(_password_secrets())
    at.run()
    _no_exception(at)
    assert t("login_prompt", "en") in [i.value for i in at.info]
    at.switch_page("app_pages/data.py")  # asking for a page by URL before signing in shows the login only
    at.run()
    assert not at.title and t("login_prompt", "en") in [i.value for i in at.info]
    assert len(at.get("file_uploader")) == 0
    at.text_input[0].input("anna")
    at.text_input[1].input("wrong")
    at.button[0].click()
    at.run()
    assert t("login_failed", "en") in [e.value for e in at.error]
    at.text_input[0].input("anna")
    at.text_input[1].input("pw-anna")
    at.button[0].click()
    at.run()
    _no_exception(at)
    at.switch_page("app_pages/data.py")
    at.run()
    assert [x.value for x in at.title][-1] == t("da_title", "en")


# ---------------------------------------------------------------- overview
def test_overview_numbers_and_chinese_actions(app_env):
    at = _app()
    at.run()
    _no_exception(at)
    labels = [m.label for m in at.metric]
    assert labels[0] == t("ov_index", "en", wave="2025Q4")
    sat = float(at.metric[0].value)
    assert 0 < sat < 100
    _wait_jobs()
    at.run()
    _no_exception(at)
    caps = [c.value for c in at.caption]
    assert any("2025Q3" in c and ("significant" in c) for c in caps), caps
    _set_lang(at, "zh")
    at.run()
    _no_exception(at)
    assert at.metric[0].label == t("ov_index", "zh", wave="2025Q4")
    assert float(at.metric[0].value) == sat  # language never changes a number
    actions = [m.value for m in at.markdown if m.value.startswith("1. ")]
    assert actions and "重要性" in actions[0], actions
    assert "- 1." not in _texts(at) and "• 1." not in _texts(at)  # one clean numbered list
    assert actions[0].count("1. ") == 1
    # only genuine fix-first drivers are actions: never "keep up" or "low priority" in the list
    lines = actions[0].split("\n")
    assert all(re.match(r"\d\. 优先改进", ln) for ln in lines), lines
    assert all(re.search(r"表现[\d.]+分（低于平均）", ln) for ln in lines), lines  # fix first = below average
    # the demo's planted weak spot: the own brand's hotline (qual3), named in plain Chinese
    assert "客服热线服务" in _texts(at)
    _set_lang(at, "en")
    at.run()
    assert "Customer-service hotline" in _texts(at)


def test_overview_index_matches_the_engine(app_env):
    """The headline equals csi.index on the same rows (own brand, latest wave, weighted)."""
    from csi.analytics import index
    from csi.engine import pls
    from csi.data import store
    from csi.model import templates

    at = _app()
    at.run()
    shown = float(at.metric[0].value)
    con = store.connect(app_env, read_only=True)
    try:
        df = store.load_responses(con, waves=["2025Q4"])
        scales = store.item_scales(con, ["2025Q4"])
    finally:
        con.close()
    df = df[df["brand"] == "Skyline Mobile"].reset_index(drop=True)
    df["weight"] = pd.to_numeric(df["weight"])
    spec = templates.template("ccsi", items=list(df.columns))
    res = pls.estimate_pls(df, spec, weights="weight")
    want = index.index_scores(res, scales).set_index("construct").loc["SAT", "index"]
    assert shown == pytest.approx(round(want, 1), abs=1e-9)


def test_filter_change_on_cached_selection_is_fast(app_env):
    at = _app()
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    _no_exception(at)
    at.sidebar.multiselect(key="f_region").set_value(["North"]).run()
    at.sidebar.multiselect(key="f_region").set_value([]).run()  # back to a cached selection
    t0 = time.perf_counter()
    at.sidebar.multiselect(key="f_region").set_value(["North"]).run()
    cached = time.perf_counter() - t0
    _no_exception(at)
    print(f"\noverview first render {first:.2f} s; filter change on a cached selection {cached:.2f} s")
    assert cached < 1.0


# --------------------------------------------------------------- data page
def _new_wave_csv(label_seed: int = 7, n: int = 250, bad: bool = False) -> bytes:
    from csi.data import demo

    df = demo.generate(label_seed).waves["2025Q4"].head(n).copy()
    df["respondent_id"] = [f"N-{i:05d}" for i in range(len(df))]
    raw = _raw(df)
    if bad:
        raw.loc[3, "qual1"] = "abc"
    return raw.to_csv(index=False).encode("utf-8")


def _data_page(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    _no_exception(at)
    return at


def test_upload_validate_commit_then_in_trend(app_env):
    at = _data_page(_app())
    at.file_uploader[0].upload("wave_2026Q1.csv", _new_wave_csv(), "text/csv")
    at.run()
    _no_exception(at)
    assert any(t("da_valid_ok", "en", n=250, items=0).split(":")[0] in s.value for s in at.success)
    at.text_input(key="da_label").input("2026Q1")
    at.run()
    commit = at.button(key="da_commit")
    assert not commit.disabled
    commit.click()
    at.run()
    _no_exception(at)
    sel = at.session_state["csi_selection"]
    assert sel.all_waves[-1] == "2026Q1" and "2026Q1" in sel.waves  # a new wave joins the selection
    at.switch_page("app_pages/overview.py")
    at.run()
    _no_exception(at)
    assert at.metric[0].label == t("ov_index", "en", wave="2026Q1")


def test_bad_file_cannot_be_committed_and_writes_nothing(app_env):
    from csi.data import store

    con = store.connect(app_env, read_only=True)
    before = store.data_version(con)
    con.close()
    at = _data_page(_app())
    at.file_uploader[0].upload("bad.csv", _new_wave_csv(bad=True), "text/csv")
    at.run()
    at.text_input(key="da_label").input("2026Q1")
    at.run()
    _no_exception(at)
    assert at.error, "validation errors must be shown"
    frames = [d.value for d in at.dataframe]
    problems = next(f for f in frames if t("col_reason", "en") in f.columns)
    row = problems[problems[t("col_column", "en")] == "qual1"]
    assert len(row) == 1 and int(row[t("col_row", "en")].iloc[0]) == 5 and row[t("col_value", "en")].iloc[0] == "abc"
    assert at.button(key="da_commit").disabled
    # in Chinese the same problem reads in Chinese (Problem.reason_zh from csi.messages)
    _set_lang(at, "zh")
    at.run()
    frames = [d.value for d in at.dataframe]
    problems = next(f for f in frames if t("col_reason", "zh") in f.columns)
    reason = problems[problems[t("col_column", "zh")] == "qual1"][t("col_reason", "zh")].iloc[0]
    assert re.search(r"[\u4e00-\u9fff]", reason) and "abc" not in reason.replace("'abc'", ""), reason
    at._tree = None
    _clear_streamlit_caches()
    con = store.connect(app_env, read_only=True)
    assert store.data_version(con) == before and "2026Q1" not in store.wave_labels(con)
    con.close()


def test_delete_needs_the_typed_label(app_env):
    from csi.data import store

    at = _data_page(_app())
    at.selectbox(key="da_delete_label").set_value("2024Q3")
    at.text_input(key="da_delete_typed").input("2024Q")
    at.get("form")  # forms submit through their button
    [b for b in at.button if b.label == t("da_delete_btn", "en")][0].click()
    at.run()
    assert t("da_delete_mismatch", "en") in [e.value for e in at.error]
    at.text_input(key="da_delete_typed").input("2024Q3")
    [b for b in at.button if b.label == t("da_delete_btn", "en")][0].click()
    at.run()
    _no_exception(at)
    _clear_streamlit_caches()
    con = store.connect(app_env, read_only=True)
    assert "2024Q3" not in store.wave_labels(con)
    con.close()


# -------------------------------------------------------------- downloads
def test_workbook_and_csv_reimport_to_the_same_numbers_and_never_execute():
    import openpyxl

    from app.downloads import csv_bytes, json_bytes, sheet_name, workbook_bytes

    rng = np.random.default_rng(5)
    paths = pd.DataFrame({"from": ["IMAG", "QUAL"], "to": ["SAT", "SAT"], "estimate": rng.normal(size=2)})
    evil = pd.DataFrame({"label": ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "plain", "\t=1"],
                         "value": [-0.123456789012345, 1e-17, -3.0, 2.5, np.nan, 7.0]})
    tables = {"paths": paths, "evil": evil, "a/b:c*?[x]" + "y" * 40: paths}
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(tables)))
    assert wb.sheetnames[:2] == ["paths", "evil"] and len(wb.sheetnames) == 3
    assert all(len(s) <= 31 and not re.search(r"[\[\]\*\?/\\:]", s) for s in wb.sheetnames)
    back = pd.read_excel(io.BytesIO(workbook_bytes(tables)), sheet_name=None)
    np.testing.assert_array_equal(back["paths"]["estimate"].to_numpy(), paths["estimate"].to_numpy())
    ws = wb["evil"]
    cells = [ws.cell(row=r, column=1) for r in range(2, 8)]
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    assert [c.value for c in cells][:4] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)"]
    assert ws.cell(row=2, column=2).value == -0.123456789012345  # numbers untouched
    csv = pd.read_csv(io.BytesIO(csv_bytes(evil)))
    assert csv["label"].tolist()[:4] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)"]
    np.testing.assert_array_equal(csv["value"].to_numpy(), evil["value"].to_numpy())
    import json

    doc = json.loads(json_bytes({"evil": evil}, {"seed": 1}))
    assert doc["tables"]["evil"][4]["value"] is None and doc["manifest"]["seed"] == 1
    assert sheet_name("x", {"x"}) == "x_2"


def test_draws_long_is_lavaan_style_and_every_value_is_its_draw():
    """draws_long: (draw, kind, lhs, op, rhs, value); pivoted back it is boot.draws exactly, NaN rows kept."""
    from app.downloads import draws_long
    from csi.engine.bootstrap import bootstrap_pls
    from csi.model.templates import template

    ecsi = pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)
    boot = bootstrap_pls(ecsi, template("ecsi"), n_boot=200, seed=123, plsc=True, jackknife=False)
    assert boot.dropped.get("inadmissible PLSc correlation", 0) > 0          # NaN rows in the PLSc kinds
    long = draws_long(boot)
    assert list(long.columns) == ["draw", "kind", "lhs", "op", "rhs", "value"]
    assert len(long) == sum(d.size for d in boot.draws.values())
    ops = long.groupby("kind")["op"].unique().map(list).to_dict()
    assert ops == {"paths": ["~"], "total_effects": ["total"], "loadings": ["=~"], "weights": ["<~"], "r2": ["r2"],
                   "htmt": ["htmt"], "item_mean": ["mean"], "item_sd": ["sd"]}
    for kind, d in boot.draws.items():
        part = long[long["kind"] == kind]
        assert set(part["draw"]) == set(d.index)                               # resample numbers
        if kind in ("paths", "total_effects"):                                 # lhs outcome, rhs predictor
            keys, cols = ["rhs", "lhs"], ["from", "to"]
        elif kind == "htmt":
            keys, cols = ["lhs", "rhs"], ["construct_1", "construct_2"]
        elif kind == "r2":
            assert (part["lhs"] == part["rhs"]).all()
            keys, cols = ["lhs"], ["construct"]
        else:
            keys, cols = ["rhs" if kind in ("loadings", "weights") else "lhs"], ["indicator"]
        back = part.pivot(index="draw", columns=keys, values="value")            # raises on a duplicate
        back.columns = back.columns.set_names(cols)
        back = back.reindex(index=d.index, columns=d.columns)
        np.testing.assert_array_equal(back.to_numpy(), d.to_numpy())           # NaN where the kind dropped
    assert long.loc[long["kind"] == "paths", "value"].isna().sum() == boot.draws["paths"].isna().sum().sum() > 0
    w = long[long["kind"] == "weights"]
    assert set(w.loc[w["rhs"] == "sat2", "lhs"]) == {"SAT"}
    assert set(long.loc[long["kind"] == "item_sd", "rhs"]) == {""}
    p = long[(long["kind"] == "paths") & (long["lhs"] == "SAT") & (long["rhs"] == "QUAL")]
    np.testing.assert_array_equal(p["value"].to_numpy(), boot.draws["paths"][("QUAL", "SAT")].to_numpy())


def test_downloads_page_offers_everything(app_env):
    at = _app()
    at.run()
    at.switch_page("app_pages/downloads.py")
    at.run()
    _no_exception(at)
    keys = {b.key for b in at.get("download_button")}
    for k in ("dl_xlsx", "dl_json", "dl_manifest", "dl_scores", "dl_syntax", "dl_report", "dl_t_paths",
              "dl_t_trend", "dl_t_constructs"):
        assert k in keys, (k, keys)
    at.button(key="dl_run_boot").click()
    at.run()
    _wait_jobs()
    at.run()
    _no_exception(at)
    assert "dl_draws" in {b.key for b in at.get("download_button")}


def test_html_report_is_self_contained():
    """The HTML report moved to csi/report/html.py (tested in tests/test_report_html.py: offline, no script, both
    languages); the app's module re-exports it, so the app and the CLI give the same HTML."""
    import app.report_html as shim
    from csi.report import html as pure

    assert shim.report_html is pure.report_html
    assert "Noto Sans CJK SC" in pure.FONT


def test_construct_colours_are_fixed_and_distinct():
    from app.charts import CONSTRUCT_COLORS, construct_color

    assert len(set(CONSTRUCT_COLORS.values())) == len(CONSTRUCT_COLORS)
    assert construct_color("SAT") == CONSTRUCT_COLORS["SAT"]
    order = ("NEW1", "SAT", "NEW2")
    assert construct_color("NEW1", order) != construct_color("NEW2", order)
    assert construct_color("NEW1", order) == construct_color("NEW1", order)


def test_rename_wave_and_edit_dictionary(app_env, monkeypatch):
    from csi.data import store

    calls = []
    real = store.update_items
    monkeypatch.setattr(store, "update_item", lambda *a, **k: pytest.fail("one transaction per item"))
    monkeypatch.setattr(store, "update_items", lambda con, changes: (calls.append(dict(changes)), real(con, changes)))

    at = _data_page(_app())
    at.selectbox(key="da_rename_old").set_value("2025Q4")
    at.text_input(key="da_rename_new").input("2025Q4-final")
    [b for b in at.button if b.label == t("da_rename_btn", "en")][0].click()
    at.run()
    _no_exception(at)
    assert at.session_state["csi_selection"].all_waves[-1] == "2025Q4-final"
    # edit one dictionary text through the editor's state, then save
    dictionary = [d for d in at.dataframe if "text_zh" in d.value.columns][0].value
    row = int(dictionary.index[dictionary["item"] == "sat1"][0])
    row2 = int(dictionary.index[dictionary["item"] == "qual3"][0])
    at.session_state["da_dict_editor"] = {"edited_rows": {row: {"text_zh": "总体满意度（新）"},
                                                          row2: {"text_en": "Hotline: reached and solved"}},
                                          "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="da_dict_save").click()
    at.run()
    _no_exception(at)
    assert t("da_dict_saved", "en", n=2) in [s.value for s in at.success]
    _clear_streamlit_caches()
    con = store.connect(app_env, read_only=True)
    try:
        d = store.item_dictionary(con).set_index("item")
        assert d.loc["sat1", "text_zh"] == "总体满意度（新）"
        assert d.loc["qual3", "text_en"] == "Hotline: reached and solved"
        assert len(calls) == 1 and set(calls[0]) == {"sat1", "qual3"}  # both edits in ONE transaction
        assert "2025Q4-final" in store.wave_labels(con)
    finally:
        con.close()


def test_custom_model_syntax_good_and_bad(app_env):
    at = _app()
    at.run()
    at.sidebar.selectbox(key="f_model").set_value("custom").run()
    _no_exception(at)
    at.switch_page("app_pages/model.py")
    at.run()
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    at.sidebar.text_area(key="f_syntax").input("QUAL =~ qual1 + qual2 + qual3\nSAT =~ sat1 + sat2\nSAT ~ QUAL\n").run()
    _no_exception(at)
    paths = [d.value for d in at.dataframe if t("col_from", "en") in d.value.columns][0]
    assert len(paths) == 1
    at.sidebar.text_area(key="f_syntax").input("SAT =~ sat1 + \nSAT ~ NOPE\n").run()
    _no_exception(at)  # a bad model is a message, never a traceback
    assert any("NOPE" in e.value or "sat1" in e.value for e in at.error), [e.value for e in at.error]


def test_a_wave_from_another_questionnaire_breaks_no_page(app_env):
    """The public ECSI file (0–10 scale, other items, no brand/weight columns) joins the demo waves:
    every page still opens; models use the items all selected waves share; weights are dropped where
    a wave has none."""
    at = _data_page(_app())
    at.file_uploader[0].upload("ecsi.csv", (ROOT / "data" / "ecsi_satisfaction.csv").read_bytes(), "text/csv")
    at.run()
    at.checkbox(key="da_scale_dict").uncheck()
    at.run()
    at.number_input(key="da_lo").set_value(0.0)
    at.number_input(key="da_hi").set_value(10.0)
    at.text_input(key="da_label").input("ECSI")
    at.run()
    at.button(key="da_commit").click()
    at.run()
    _no_exception(at)
    assert t("da_committed", "en", wave="ECSI", n=250) in [s.value for s in at.success]
    assert not at.error  # the uploader was reset: the committed file is not validated again
    at.sidebar.multiselect(key="f_brand").set_value([]).run()
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        _no_exception(at)
    at.switch_page("app_pages/overview.py")
    at.run()
    assert at.metric[0].label == t("ov_index", "en", wave="ECSI")


def test_bars_and_their_labels_sit_inside_the_axes():
    """Every bar (with its interval) ends inside its axis; before, a 73 bar overran an axis ending at 60."""
    from app import charts

    brands = pd.DataFrame({"brand": ["Skyline Mobile", "Horizon Telecom"], "index": [73.0, 67.8],
                           "ci_low": [71.9, 66.5], "ci_high": [74.2, 69.0]})
    for lang in ("en", "zh"):
        fig = charts.brand_chart(brands, lang, "Skyline Mobile")
        lo, hi = fig.layout.xaxis.range
        assert lo <= 0 and hi >= 100 and hi >= brands["ci_high"].max()
        change = pd.DataFrame({"construct": ["IMAG", "EXPE", "SAT"], "change": [0.08, -0.24, 0.73]})
        fig = charts.bar_chart(change, "construct", "change", lang, "t")
        lo, hi = fig.layout.yaxis.range
        assert lo < -0.24 and hi > 0.73  # room for the value printed outside each bar
        assert fig.data[0].cliponaxis is False


def test_action_lines_are_plain_and_numbered_once():
    from app import actions

    assert actions.short_item_text("Customer-service hotline: getting through.") == "Customer-service hotline"
    assert actions.short_item_text("客服热线服务：接通速度与问题解决能力。") == "客服热线服务"
    assert actions.short_item_text("Accuracy and transparency of billing.") == "Accuracy and transparency of billing"
    assert actions.numbered(["a", "b"]) == "1. a\n2. b"


def test_bootstrap_progress_moves_by_resamples_and_keeps_the_cache_key():
    """The job's bar counts resamples inside a group (it used to jump 0 → done for one wave), and
    the progress hook does not change the fit-cache key (a second request is a cache hit)."""
    from csi.data import demo
    from csi.runtime.cache import FitCache

    from app import state

    from csi.report.build import Settings, prepare

    df = demo.generate(3).waves["2025Q4"].head(400).copy()
    df["wave"] = "2025Q4"
    prep = prepare(df, settings=Settings(weights=False))
    cache = FitCache(None)
    calls = []
    fits = state._estimate(prep, ("waves",), 60, cache, progress=lambda d, n: calls.append((d, n)))
    assert fits[("2025Q4",)].ok and fits[("2025Q4",)].boot.n_kept > 0
    done = [d for d, _ in calls]
    assert calls[-1] == (60, 60) and any(0 < d < 60 for d in done), calls
    assert done == sorted(done)
    again = []
    state._estimate(prep, ("waves",), 60, cache, progress=lambda d, n: again.append((d, n)))
    assert not any(0 < d < 60 for d, _ in again), again  # served from the cache, no resampling


# ------------------------------------------------ small samples, targets, a finished bilingual UI (issue 12)
@pytest.fixture(scope="module")
def db_44(tmp_path_factory):
    """Two demo waves of 334 respondents: the own brand in region South has exactly 44 respondents in 2025Q4
    (53 in 2025Q3) — a segment big enough to fit (30) and far too small for verdicts and actions (100)."""
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("db44") / "csi.duckdb", 334, waves=2)


def _app_44(db_44, tmp_path, monkeypatch, lang):
    _use_copy(db_44, tmp_path, monkeypatch)
    at = _app()
    at.session_state["f_region"] = ["South"]
    at.session_state["lang"] = lang
    at.run()
    _no_exception(at)
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_44_respondent_segment_shows_a_notice_instead_of_verdicts(db_44, tmp_path, monkeypatch, lang):
    from csi.report import build

    at = _app_44(db_44, tmp_path, monkeypatch, lang)
    sel = at.session_state["csi_selection"]
    assert dict(sel.filters)["region"] == ("South",) and dict(sel.filters)["brand"] == ("Skyline Mobile",)
    # the engine: 44 respondents in the segment, the model used them (or fewer), no verdict
    prep = build.prepare(str(sel.path), build.Selection(waves=sel.waves, filters=sel.filters), build.Settings())
    assert len(prep.rows_of("2025Q4")) == 44
    _wait_jobs()  # the bootstrap that would bring significance has finished: still no verdict
    at.run()
    _no_exception(at)
    need = build.MIN_VERDICT
    n_used = build.n_used(build.wave_fits(prep)[("2025Q4",)])  # the count the estimate used (listwise)
    assert 30 <= n_used <= 44
    infos = [i.value for i in at.info]
    assert t("ss_no_actions", lang, n=n_used, need=need) in infos          # a plain notice: why, and what n
    text = _texts(at)
    assert t("ov_small_sample", lang, n=n_used, need=need) in text           # no verdict on the change
    assert t("ov_actions", lang) not in [s.value for s in at.subheader]      # no action list
    for key in ("ov_change_sig", "ov_change_nsig"):
        assert t(key, lang, prev="2025Q3", lo=0.0, hi=0.0)[:25] not in text
    badges = " ".join(m.value for m in at.markdown if "-badge[" in m.value)
    assert t("badge_sig_drop", lang) not in badges and t("badge_sig_rise", lang) not in badges
    assert t("badge_no_verdict", lang, n=n_used) in badges
    # the Drivers page: the same notice, no ranked actions
    at.switch_page("app_pages/drivers.py")
    at.run()
    _no_exception(at)
    assert t("ss_no_actions", lang, n=n_used, need=need) in [i.value for i in at.info]
    assert t("dr_actions", lang) not in [s.value for s in at.subheader]
    # the Compare page: segments under the minimum are marked, no group test on them
    at.switch_page("app_pages/compare.py")
    at.run()
    _no_exception(at)
    heads = (t("ss_groups_small_verdict", lang, need=need, groups="")[:12], t("ss_no_group_fitted", lang, need=30))
    assert any(i.value.startswith(heads) for i in at.info), [i.value for i in at.info]
    assert not at.error, [e.value for e in at.error]  # too small is a notice, never an error


def test_targets_editor_saves_and_the_overview_badges_a_miss(app_env):
    import json

    from csi.data import store

    at = _app()
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    _no_exception(at)
    assert t("ed_targets", "en") in _texts(at) and t("ed_labels", "en") in _texts(at)  # the editors are there
    # AppTest cannot type into a data editor: store the targets as the editor's save does, then read the pages
    from app import state

    with state.writer(str(app_env)) as con:  # the app's own short write (its reader is released first)
        store.set_setting(con, "targets", json.dumps({"SAT": 99.0, "NPS": -100.0}))
    at.switch_page("app_pages/overview.py")
    at.run()
    _no_exception(at)
    sat = float(at.metric[0].value)
    text = _texts(at)
    assert t("badge_below_target", "en", target=99.0, gap=sat - 99.0) in text
    assert t("badge_on_target", "en", target=-100.0) in text  # NPS met its (trivial) target
    assert t("ov_alerts_all", "en") in [e.label.split(" (")[0] for e in at.expander]


def test_chinese_ui_has_no_raw_codes_or_english(app_env):
    """Every page in Chinese: texts, widget labels and options, tab labels, metric labels and every result table's
    headers and cells (the browser test reads the rendered page; tables are canvases there, so they are read here).
    The Data page's editors show the stored codes they edit and are left out."""
    import json

    from test_i18n import leaks

    at = _app()
    at.run()
    _set_lang(at, "zh")
    allowed = ["Skyline Mobile", "Horizon Telecom", "18-29", "30-44", "45-59", "60+"]
    found = {}
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        _no_exception(at)
        parts = [str(e.value) for kind in ("title", "markdown", "caption", "info", "warning", "error", "success",
                                           "subheader", "header") for e in getattr(at, kind)
                 if not str(e.value).startswith(t("open_banner", "zh")[:10])]
        parts += [m.label for m in at.metric] + [x.label for x in at.tabs]
        main_widgets = [w for kind in ("selectbox", "radio", "toggle", "checkbox", "button", "number_input",
                                       "slider") for w in getattr(at, kind) if not str(w.key or "").startswith("f_")]
        parts += [str(w.label) for w in main_widgets]
        parts += [str(o) for w in main_widgets for o in (getattr(w, "options", None) or [])]
        if page != "data":  # the data page's tables are the stored dictionary, files and editors
            for d in at.dataframe:
                labels = {k: v.get("label") for k, v in json.loads(d.proto.columns or "{}").items()}
                frame = d.value
                parts += [str(labels.get(c) or c) for c in frame.columns]
                parts += [str(v) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                          for v in pd.unique(frame[c].dropna().astype(str))]  # a missing number shows blank
        bad = sorted({w for p in parts for w in leaks(p, "zh", allowed)})
        if bad:
            found[page] = bad
    assert not found, found


def test_engine_tables_are_shared_by_identity_and_copied_out():
    """The overview's engine tables are computed once per (Prepared, fits) objects and handed out as copies:
    a page adding a column cannot change what the next session sees; errors are raised again, not memoised."""
    from csi.errors import DataError

    calls = []

    def table(prep, fits, construct="SAT"):
        calls.append(construct)
        if construct == "bad":
            raise DataError("too few")
        return pd.DataFrame({"x": [1.0, 2.0]})

    prep, fits = object(), {"w": 1}
    a = state.engine_table(table, prep, fits, construct="SAT")
    a["y"] = 0  # a page's own column
    b = state.engine_table(table, prep, fits, construct="SAT")
    assert calls == ["SAT"] and list(b.columns) == ["x"]
    state.engine_table(table, prep, {"w": 1}, construct="SAT")  # equal but another object: computed again
    state.engine_table(table, prep, fits, construct="LOY")
    assert calls == ["SAT", "SAT", "LOY"]
    for _ in range(2):
        with pytest.raises(DataError):
            state.engine_table(table, prep, fits, construct="bad")
    assert calls.count("bad") == 2
    state.supersede_old_versions("/nowhere/csi.duckdb", "v1")
    state.engine_table(table, prep, fits, construct="SAT")  # a new data version empties the memo
    assert calls.count("SAT") == 3
    state.supersede_old_versions("/nowhere/csi.duckdb", "v1")  # the same version again: kept
    state.engine_table(table, prep, fits, construct="SAT")
    assert calls.count("SAT") == 3
