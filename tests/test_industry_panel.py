"""Own company against its industry on the Overview and Compare pages (issue 10; app/industry_panel.py).

A small national programme (2 industries x 3 companies x 2 waves, csi.data.national): the panel's own index and
industry index are checked against the engine's per-company fits combined by hand (the industry index is the
market-share / respondent weighted mean of the companies' indices); a brand-scoped user sees no other company.
"""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.i18n import t
from conftest import app_environment, app_test, clear_streamlit_caches
from csi.data.national import build_national_database

SIZE = {"n_industries": 2, "n_companies": 3, "waves": ("2025Q1", "2025Q2"), "n_range": (250, 350)}
COOKIE_KEY = "csi-test-cookie-key-industry-panel-7Hq"


@pytest.fixture(scope="module")
def national_db(tmp_path_factory):
    return build_national_database(tmp_path_factory.mktemp("nat") / "nat.duckdb", seed=11, **SIZE)


@pytest.fixture()
def env(national_db, tmp_path, monkeypatch):
    yield app_environment(monkeypatch, tmp_path, copy_of=national_db, bootstrap=30, open_mode=True,
                          stub_cookies=True, clear=True).db
    from app import state

    reg = state.jobs()
    for key in list(reg._jobs):  # noqa: SLF001 - let background bootstraps end before the next test
        reg.wait(key, 120)
    clear_streamlit_caches()


def _ok(at: AppTest) -> None:
    assert not at.exception, [(e.message, e.stack_trace) for e in at.exception]
    internal = [t("err_internal", x, incident="")[:40] for x in ("en", "zh")]
    assert not [e.value for e in at.error if any(e.value.startswith(i) for i in internal)]


def _frames(at: AppTest):
    return [d.value for d in at.dataframe]


def _truth(db, company: str):
    """SAT point indices of every company of ``company``'s industry in the latest wave, fitted one by one by
    the engine, and the industry index as their weighted mean (market shares, else respondents)."""
    from csi.report import build

    prep = build.prepare(str(db), build.Selection(own_brand_by_default=False))
    industry_of, share_of = build.industry_members(prep)
    wave = prep.waves[-1]
    peers = sorted(c for c, i in industry_of.items() if i == industry_of[company])
    idx, n = {}, {}
    for c in peers:
        p = build.prepare(str(db), build.Selection(waves=(wave,), filters=(("brand", (c,)),)))
        tr = build.trends_table(build.wave_fits(p, n_boot=0))
        row = tr[tr["construct"] == "SAT"].iloc[0]
        idx[c], n[c] = float(row["index"]), int(row["n"])
    shares = [share_of.get((wave, c)) for c in peers]
    w = np.array(shares, float) if all(s is not None for s in shares) else np.array([n[c] for c in peers], float)
    return wave, industry_of[company], idx, float(np.dot(w, [idx[c] for c in peers]) / w.sum())


def _secrets(**users) -> dict:
    import bcrypt

    table = {}
    for name, u in users.items():
        table[name] = {"email": f"{name}@example.com", "first_name": name, "last_name": "T",
                       "password": bcrypt.hashpw(("pw-" + name).encode(), bcrypt.gensalt(rounds=4)).decode(),
                       "roles": [u.get("role", "viewer")], **{k: v for k, v in u.items() if k != "role"}}
    return {"cookie": {"name": "csi_test", "key": COOKIE_KEY, "expiry_days": 1}, "credentials": {"usernames": table}}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_overview_and_compare_show_the_own_company_against_its_industry(env, lang):
    at = app_test(timeout=300)
    at.session_state["lang"] = lang
    at.run()
    _ok(at)
    sel = at.session_state["csi_selection"]
    own = sel.own_brand
    wave, ind, idx, ind_index = _truth(env, own)
    assert sel.latest == wave
    assert t("ip_title", lang) in [s.value for s in at.subheader]
    panel = next(f for f in _frames(at) if t("ip_col_rank", lang) in f.columns)
    sat = panel[panel[t("ind_col_construct", lang)].astype(str).str.contains("SAT|满意|Satisfaction", regex=True)]
    assert len(sat) == 1
    row = sat.iloc[0]
    assert row[t("ind_col_own", lang)].startswith(f"{idx[own]:.1f} [")
    assert row[t("ip_col_industry", lang)].startswith(f"{ind_index:.1f} [")
    gap = idx[own] - ind_index
    assert row[t("ind_col_gap", lang)].startswith(f"{gap:+.1f} [")
    assert row[t("ind_col_verdict", lang)] in (t("ind_sig", lang), t("ind_not_sig", lang))
    rank = 1 + sum(v > idx[own] for v in idx.values())
    assert row[t("ip_col_rank", lang)].startswith(t("ip_rank", lang, rank=rank, n=3)[:4])
    assert str(rank) in row[t("ip_col_rank", lang)]

    at.switch_page("app_pages/compare.py")
    at.run()
    _ok(at)
    league = next(f for f in _frames(at) if t("ind_col_next", lang) in f.columns)
    names = list(league[t("ind_col_company", lang)])
    assert len(names) == 3 and f"▶ {own}" in names
    ranked = sorted(idx, key=lambda c: -idx[c])
    assert [n.removeprefix("▶ ") for n in names] == ranked       # ranked by the engine's point indices
    assert t("ip_league_title", lang, industry=ind, construct="", wave=wave).split("：")[0].split(":")[0] in \
        " ".join(s.value for s in at.subheader)
    keys = {b.key for b in at.get("download_button")}
    assert {"dlb_league_compare_csv", "dlb_league_compare_xlsx"} <= keys   # the league rows are downloadable


def test_a_brand_scoped_user_sees_only_aggregates_of_other_companies(env):
    from csi.report import build

    prep = build.prepare(str(env), build.Selection(own_brand_by_default=False))
    industry_of, _ = build.industry_members(prep)
    company = sorted(industry_of)[-1]
    others = [c for c in industry_of if c != company]
    wave, ind, idx, ind_index = _truth(env, company)
    at = app_test(secrets=_secrets(kim={"role": "viewer", "brands": [company]}), timeout=300)
    at.run()
    at.text_input[0].input("kim")
    at.text_input[1].input("pw-kim")
    at.button[0].click()
    at.run()
    _ok(at)
    assert at.session_state["csi_selection"].allowed_brands == (company,)
    panel = next(f for f in _frames(at) if t("ip_col_rank", "en") in f.columns)
    sat = panel[panel[t("ind_col_construct", "en")].astype(str).str.contains("SAT|Satisfaction", regex=True)].iloc[0]
    assert sat[t("ind_col_own", "en")].startswith(f"{idx[company]:.1f}")
    assert sat[t("ip_col_industry", "en")].startswith(f"{ind_index:.1f}")  # the aggregate over all 3 companies

    at.switch_page("app_pages/compare.py")
    at.run()
    _ok(at)
    assert t("ind_scoped", "en") in [c.value for c in at.caption]
    shown = " ".join(f.to_string() for f in _frames(at)) + " ".join(str(s.value) for s in at.subheader)
    assert not [o for o in others if o in shown]                   # no other company named anywhere
    assert not [f for f in _frames(at) if t("ind_col_next", "en") in f.columns]   # no league table
    assert not [b for b in at.get("download_button") if b.key.startswith("dlb_league")]  # nor its download
