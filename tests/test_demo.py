"""The seeded demo survey and the built-in item dictionary.

Recovery of the generating truth uses a deliberately simple estimator (block means, disattenuated
by the reliability the true loadings imply, then OLS on the correlation matrix), so a failure
points at the generator, not at an estimator; the PLS recovery test lives with the PLS engine.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.data import demo
from csi.data.demo import (BLOCKS, BRANDS, COMPETITOR, ITEMS, LOADINGS, OWN_BRAND, PATHS, POINTS_PER_SD, SCALES, TRUTH,
                      WAVES, generate, implied_paths, truth_paths)
from csi.model.dictionary import CONSTRUCTS, DEFAULT_ITEMS, ECSI_ONLY_ITEMS, ITEM_COLUMNS, RATER_ITEMS

ROOT = Path(__file__).resolve().parents[1]
RATING_CONSTRUCTS = ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def survey():
    return generate()


@pytest.fixture(scope="module")
def pooled(survey):
    """All waves stacked, items as float with 99 ("don't know") → NaN."""
    frame = pd.concat([df.assign(wave=w) for w, df in survey.waves.items()], ignore_index=True)
    for item in ITEMS:
        x = frame[item].astype("float64")
        frame[item] = x.where(x != 99)
    return frame


def _cell(pooled, brand, waves):
    waves = [waves] if isinstance(waves, str) else list(waves)
    return pooled[(pooled["brand"] == brand) & pooled["wave"].isin(waves)]


def _block_means(frame, constructs=RATING_CONSTRUCTS) -> pd.DataFrame:
    return pd.DataFrame({c: frame[list(BLOCKS[c])].mean(axis=1) for c in constructs})


# --------------------------------------------------------------------------- determinism and shape
def test_same_seed_gives_identical_frames_and_other_seed_differs(survey):
    again = generate()
    assert list(again.waves) == list(survey.waves)
    for w in survey.waves:
        pd.testing.assert_frame_equal(again.waves[w], survey.waves[w])
    assert again.truth == survey.truth
    other = generate(seed=7)
    assert not other.waves["2024Q3"][list(ITEMS)].equals(survey.waves["2024Q3"][list(ITEMS)])


def test_waves_brands_segments_and_sizes(survey):
    assert list(survey.waves) == list(WAVES) == ["2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert survey.own_brand == OWN_BRAND == "Skyline Mobile" and survey.competitor == COMPETITOR == "Horizon Telecom"
    for k, (w, df) in enumerate(survey.waves.items(), start=1):
        assert list(df.columns) == ["respondent_id", "brand", "region", "channel", "gender", "age_group", "weight",
                                    *ITEMS, *RATER_ITEMS]
        assert df["respondent_id"].is_unique
        assert df["respondent_id"].str.fullmatch(rf"W{k}-\d{{6}}").all()
        assert set(df["brand"]) == set(BRANDS)
        assert set(df["region"]) == {"North", "East", "South", "West"}
        assert set(df["channel"]) == {"Online", "Retail shop", "Hotline"}
        assert set(df["age_group"]) == {"18-29", "30-44", "45-59", "60+"}
        assert set(df["gender"]) == {"Female", "Male"}
        sizes = df["brand"].value_counts()
        assert sizes.between(1400, 1600).all(), sizes
    sizes = [len(df) for df in survey.waves.values()]
    assert len(set(sizes)) > 1  # sizes vary a little, like real fieldwork


def test_weights_have_mean_one_and_restore_population_shares(survey):
    for df in survey.waves.values():
        for _, cell in df.groupby("brand"):
            w = cell["weight"].to_numpy()
            assert (w > 0).all()
            assert abs(w.mean() - 1.0) < 1e-5
            shares = cell.groupby("region")["weight"].sum() / w.sum()
            for region, target in demo.POPULATION_REGION.items():
                assert abs(shares[region] - target) < 1e-4
            raw = cell["region"].value_counts(normalize=True)
            assert raw["West"] > demo.POPULATION_REGION["West"] + 0.01  # the panel over-samples the West


# --------------------------------------------------------------------------- scales and missingness
def test_every_answer_is_on_its_scale_or_a_missing_code(pooled, survey):
    raw = pd.concat(survey.waves.values(), ignore_index=True)
    for item in ITEMS:
        x = raw[item].astype("float64")
        lo, hi = SCALES[item]
        ok = x.isna() | (x == 99) | ((x >= lo) & (x <= hi) & (x == np.round(x)))
        assert ok.all(), item
    assert set(raw["comp1"].dropna().unique()) == {0, 1} and raw["comp1"].notna().all()
    assert raw["loy3"].eq(0).any()  # the recommend item really uses its 0–10 range
    assert raw["qual2"].eq(10).mean() > 0.05  # ceiling mass, as in real CSI data


def test_missingness_is_realistic(pooled, survey):
    raw = pd.concat(survey.waves.values(), ignore_index=True)
    for item in BLOCKS["QUAL"]:
        rate = (raw[item] == 99).mean()
        assert 0.004 < rate < 0.045, (item, rate)
    assert (raw["qual5"] == 99).mean() > (raw["qual1"] == 99).mean()  # new services: more "don't know"
    blanks = raw[["imag1", "sat1", "loy1"]].isna().mean()
    assert ((blanks > 0) & (blanks < 0.01)).all()
    # comp2 is asked of complainers only
    assert raw.loc[raw["comp1"] == 0, "comp2"].isna().all()
    assert raw.loc[raw["comp1"] == 1, "comp2"].notna().mean() > 0.95


def test_item_means_and_skew_look_like_csi_data(pooled):
    means = pooled[[i for c in RATING_CONSTRUCTS for i in BLOCKS[c]]].mean()
    assert means.between(6.5, 8.5).all(), means[~means.between(6.5, 8.5)]
    skew = pooled[[i for c in RATING_CONSTRUCTS for i in BLOCKS[c]]].skew()
    assert (skew < -0.15).all(), skew  # long lower tail
    rate = pooled.groupby(["brand", "wave"])["comp1"].mean()
    assert rate.between(0.08, 0.22).all(), rate


# --------------------------------------------------------------------------- the story
PRE, POST = ("2024Q3", "2024Q4", "2025Q1"), ("2025Q2", "2025Q3", "2025Q4")


def test_own_network_quality_rises_after_the_upgrade(pooled):
    own = pooled[pooled["brand"] == OWN_BRAND]
    by_wave = own.groupby("wave")["qual2"].mean()
    pre = _cell(pooled, OWN_BRAND, PRE)
    post = _cell(pooled, OWN_BRAND, POST)
    assert post["qual2"].mean() - pre["qual2"].mean() > 0.5
    assert post["qual1"].mean() - pre["qual1"].mean() > 0.2
    assert by_wave["2025Q4"] - by_wave["2025Q1"] > 0.6
    # before the upgrade, the network is flat (no trend hiding in the baseline)
    assert abs(by_wave["2025Q1"] - by_wave["2024Q3"]) < 0.15
    # satisfaction follows
    assert post[list(BLOCKS["SAT"])].mean(axis=1).mean() - pre[list(BLOCKS["SAT"])].mean(axis=1).mean() > 0.1


def test_own_hotline_is_the_weakest_quality_item_in_every_wave(pooled):
    own = pooled[pooled["brand"] == OWN_BRAND]
    means = own.groupby("wave")[list(BLOCKS["QUAL"])].mean()
    assert (means.idxmin(axis=1) == "qual3").all()
    gap = means.drop(columns="qual3").min(axis=1) - means["qual3"]
    assert (gap > 0.3).all(), gap


def test_competitor_value_and_satisfaction_fall_after_the_price_rise(pooled):
    pre, post = _cell(pooled, COMPETITOR, PRE), _cell(pooled, COMPETITOR, POST)
    val_drop = _block_means(pre, ["VAL"])["VAL"].mean() - _block_means(post, ["VAL"])["VAL"].mean()
    sat_drop = _block_means(pre, ["SAT"])["SAT"].mean() - _block_means(post, ["SAT"])["SAT"].mean()
    assert val_drop > 0.4
    assert sat_drop > 0.15
    assert post["comp1"].mean() > pre["comp1"].mean()
    # the own brand's value does not fall: the drop is the competitor's story, not a market trend
    own_change = (_block_means(_cell(pooled, OWN_BRAND, POST), ["VAL"])["VAL"].mean()
                  - _block_means(_cell(pooled, OWN_BRAND, PRE), ["VAL"])["VAL"].mean())
    assert own_change > 0


def test_west_has_the_weaker_network(pooled):
    own = pooled[pooled["brand"] == OWN_BRAND]
    by_region = own.groupby("region")["qual2"].mean()
    assert by_region.drop("West").min() - by_region["West"] > 0.3
    # only the network item carries the regional gap
    qual4 = own.groupby("region")["qual4"].mean()
    assert qual4.max() - qual4.min() < 0.2


def test_complaining_falls_with_satisfaction(pooled):
    sat = _block_means(pooled, ["SAT"])["SAT"]
    tercile = pd.qcut(sat, 3, labels=["low", "mid", "high"])
    rate = pooled.groupby(tercile, observed=True)["comp1"].mean()
    assert rate["low"] > 2 * rate["high"]


# --------------------------------------------------------------------------- recovery of the truth
def _reliability(construct: str) -> float:
    """Reliability of the block mean implied by the true loadings and the rounding error (1/12 point²)."""
    lam = np.array([LOADINGS[i] for i in BLOCKS[construct]])
    rounding = 1.0 / (12.0 * POINTS_PER_SD ** 2)
    return lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam ** 2).sum() + len(lam) * rounding)


def _recovered_paths(frame: pd.DataFrame, paths) -> dict[str, float]:
    comp = _block_means(frame).dropna()
    r = comp.corr().to_numpy()
    rel = np.sqrt([_reliability(c) for c in RATING_CONSTRUCTS])
    rho = r / np.outer(rel, rel)
    np.fill_diagonal(rho, 1.0)
    pos = {c: k for k, c in enumerate(RATING_CONSTRUCTS)}
    preds: dict[str, list[str]] = {}
    for frm, to in paths:
        preds.setdefault(to, []).append(frm)
    out = {}
    for to, xs in preds.items():
        ix = [pos[x] for x in xs]
        beta = np.linalg.solve(rho[np.ix_(ix, ix)], rho[ix, pos[to]])
        out.update({f"{x}->{to}": float(b) for x, b in zip(xs, beta)})
    return out


RATING_PATHS = [p for p in PATHS if "COMP" not in p]  # COMP is measured by a 0/1 item only


def test_truth_is_json_serialisable_and_carried_by_the_survey(survey):
    text = json.dumps(survey.truth)
    assert json.loads(text)["by_brand_wave"][OWN_BRAND]["2025Q4"]["paths"]["QUAL->SAT"] == 0.43
    assert survey.truth["seed"] == 20240601
    assert {k: v for k, v in survey.truth.items() if k != "seed"} == TRUTH
    tidy = truth_paths()
    assert len(tidy) == len(BRANDS) * len(WAVES) * len(PATHS)
    assert list(tidy.columns) == ["brand", "wave", "from", "to", "coef"]


def test_truth_is_internally_consistent():
    """Regressing on the implied latent correlations returns the generating paths exactly."""
    for brand in BRANDS:
        for wave in WAVES:
            cell = TRUTH["by_brand_wave"][brand][wave]
            back = implied_paths(brand, wave, PATHS)
            for key, coef in cell["paths"].items():
                assert back[key] == pytest.approx(coef, abs=1e-8)
            for c in TRUTH["constructs"]:
                assert cell["latent_correlations"][c][c] == pytest.approx(1.0)
    # without COMP, SAT -> LOY absorbs the indirect path through complaints
    no_comp = implied_paths(OWN_BRAND, "2024Q3", RATING_PATHS)
    assert no_comp["SAT->LOY"] == pytest.approx(0.60 + 0.45 * 0.15, abs=1e-9)


def test_standardised_skew_normal_has_mean_zero_variance_one_and_a_long_lower_tail():
    z = demo._skew_normal(np.random.default_rng(1), 400_000, demo.SKEW_SHAPE)
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01
    skew = ((z - z.mean()) ** 3).mean() / z.std() ** 3
    assert -0.75 < skew < -0.55  # theory for shape -3: -0.667


def test_latent_variables_have_unit_variance_and_the_true_correlations():
    """Draw the latent model alone (large n): empirical moments must match the truth."""
    rng = np.random.default_rng(3)
    sc = demo._scenario(COMPETITOR, 4)
    b = demo._path_matrix(sc["paths"])
    alpha = np.array([sc["alpha"][c] for c in demo.CONSTRUCTS])
    psi, r, mu = demo._latent_moments(b, alpha)
    n = 200_000
    eta = np.zeros((n, len(demo.CONSTRUCTS)))
    for j in range(len(demo.CONSTRUCTS)):
        eta[:, j] = alpha[j] + eta[:, :j] @ b[j, :j] + np.sqrt(psi[j]) * demo._skew_normal(rng, n, demo.SKEW_SHAPE)
    assert np.abs(eta.var(axis=0) - 1).max() < 0.015
    assert np.abs(np.corrcoef(eta, rowvar=False) - r).max() < 0.01
    assert np.abs(eta.mean(axis=0) - mu).max() < 0.01
    truth_mu = TRUTH["by_brand_wave"][COMPETITOR]["2025Q3"]["latent_means"]
    assert [truth_mu[c] for c in demo.CONSTRUCTS] == pytest.approx(list(mu), abs=1e-9)


def test_simple_estimator_recovers_the_paths_in_every_brand_wave(pooled):
    errors = []
    for brand in BRANDS:
        for wave in WAVES:
            est = _recovered_paths(_cell(pooled, brand, wave), RATING_PATHS)
            true = implied_paths(brand, wave, RATING_PATHS)
            errors += [est[k] - true[k] for k in true]
    errors = np.abs(errors)
    # n ≈ 1,500 per cell: a path's sampling error is about 0.03–0.05, so the worst of 120 sits near
    # 3 SE (0.113 for the default seed); the mean error is the sharper check.
    assert errors.max() < 0.15, errors.max()
    assert errors.mean() < 0.035, errors.mean()


def test_pooled_waves_recover_the_paths_tightly_and_in_order(pooled):
    # Skyline's paths are identical in 2024Q3–2025Q1 (only a latent mean moves), so the waves pool.
    frame = _cell(pooled, OWN_BRAND, PRE)
    est = _recovered_paths(frame, RATING_PATHS)
    true = implied_paths(OWN_BRAND, "2024Q3", RATING_PATHS)
    for k in true:
        assert est[k] == pytest.approx(true[k], abs=0.05), k
    assert est["QUAL->SAT"] > est["VAL->SAT"] > est["IMAG->SAT"] > est["EXPE->SAT"]


def test_value_weighs_more_in_competitor_satisfaction_after_the_price_rise(pooled):
    before = _recovered_paths(_cell(pooled, COMPETITOR, PRE), RATING_PATHS)["VAL->SAT"]
    after = _recovered_paths(_cell(pooled, COMPETITOR, POST), RATING_PATHS)["VAL->SAT"]
    assert after > before


def test_latent_mean_shifts_are_recovered_from_block_means(pooled):
    """Δ block mean ≈ s · mean(λ) · Δμ + mean Δτ (rating points), three waves before vs three after.

    Pooling three waves a side keeps the sampling error of the difference near 0.035 points; the
    ceiling/floor clipping biases it by about 0.02 (measured on 300,000 draws), hence 0.12.
    """
    cases = [(OWN_BRAND, "QUAL"), (COMPETITOR, "VAL"), (OWN_BRAND, "SAT"), (COMPETITOR, "SAT"),
             (COMPETITOR, "IMAG")]
    for brand, construct in cases:
        items = [i for i in BLOCKS[construct] if i != "qual2"]  # qual2 also has a regional offset
        lam = np.mean([LOADINGS[i] for i in items])
        cells = TRUTH["by_brand_wave"][brand]

        def level(waves):
            return np.mean([POINTS_PER_SD * lam * cells[w]["latent_means"][construct]
                            + np.mean([cells[w]["item_intercepts"][i] for i in items]) for w in waves])

        expected = level(POST) - level(PRE)
        observed = (_cell(pooled, brand, POST)[items].mean(axis=1).mean()
                    - _cell(pooled, brand, PRE)[items].mean(axis=1).mean())
        assert observed == pytest.approx(expected, abs=0.12), (brand, construct, observed, expected)


# --------------------------------------------------------------------------- dictionary
ECSI_ITEMS = [f"imag{i}" for i in range(1, 6)] + [f"expe{i}" for i in range(1, 6)] + \
    [f"qual{i}" for i in range(1, 6)] + [f"val{i}" for i in range(1, 5)] + [f"sat{i}" for i in range(1, 5)] + \
    [f"loy{i}" for i in range(1, 5)]


def test_dictionary_has_the_contract_columns_and_valid_values():
    assert tuple(DEFAULT_ITEMS.columns) == ITEM_COLUMNS == (
        "item", "construct", "text_en", "text_zh", "scale_min", "scale_max", "missing_codes", "kind", "attribute")
    assert DEFAULT_ITEMS["item"].is_unique
    assert set(DEFAULT_ITEMS["construct"]) == set(CONSTRUCTS["construct"])
    assert set(DEFAULT_ITEMS["kind"]) == {"rating", "recommend", "binary"}
    assert (DEFAULT_ITEMS["scale_min"] < DEFAULT_ITEMS["scale_max"]).all()
    assert DEFAULT_ITEMS["item"].str.fullmatch(r"[a-z]+\d+").all()
    by = DEFAULT_ITEMS.set_index("item")
    assert by.loc["loy3", "kind"] == "recommend" and (by.loc["loy3", "scale_min"], by.loc["loy3", "scale_max"]) == (0, 10)
    assert by.loc["comp1", "kind"] == "binary" and (by.loc["comp1", "scale_min"], by.loc["comp1", "scale_max"]) == (0, 1)
    rating = by[by["kind"] == "rating"]
    assert (rating["missing_codes"] == "99;不知道").all()
    assert (by.loc[by["kind"] != "rating", "missing_codes"] == "99").all()
    attrs = by["attribute"].dropna()
    assert set(attrs) == {"overall", "network", "hotline", "shop", "new_services", "billing"}
    # expectation and perception items pair up by attribute (gap analysis)
    for a in ("overall", "network", "hotline"):
        assert set(by.index[by["attribute"] == a].str[:4]) == {"expe", "qual"}


def test_every_demo_and_ecsi_item_has_english_and_chinese_text():
    by = DEFAULT_ITEMS.set_index("item")
    for item in list(ITEMS) + ECSI_ITEMS:
        assert item in by.index, item
        en, zh = by.loc[item, "text_en"], by.loc[item, "text_zh"]
        assert isinstance(en, str) and len(en.strip()) > 10, item
        assert isinstance(zh, str) and len(_CJK.findall(zh)) >= 4, item
        assert not _CJK.search(en), item
    for item in ITEMS:  # demo scales agree with the dictionary
        assert (by.loc[item, "scale_min"], by.loc[item, "scale_max"]) == SCALES[item], item
        assert by.loc[item, "construct"] == next(c for c, v in BLOCKS.items() if item in v)
    assert set(ECSI_ONLY_ITEMS) == set(ECSI_ITEMS) - set(ITEMS)
    assert set(DEFAULT_ITEMS["item"]) == set(ITEMS) | set(ECSI_ITEMS) | set(RATER_ITEMS)


def test_construct_labels():
    labels = CONSTRUCTS.set_index("construct")
    assert list(CONSTRUCTS.sort_values("order")["construct"]) == ["IMAG", "EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY",
                                                                  "REL", "ASS", "TAN", "EMP", "RES", "SQE"]
    labels = labels.loc[["IMAG", "EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY"]]  # the RATER block: test_servqual
    assert labels["label_zh"].to_dict() == {"IMAG": "企业形象", "EXPE": "顾客预期", "QUAL": "感知质量", "VAL": "感知价值",
                                            "SAT": "顾客满意度", "COMP": "顾客抱怨", "LOY": "顾客忠诚"}


def test_shipped_ecsi_file_matches_its_documented_shape():
    df = pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv")
    assert df.shape == (250, 29)
    assert list(df.columns[1:28]) == ECSI_ITEMS and df.columns[28] == "gender"
    items = df[ECSI_ITEMS]
    assert items.notna().all().all() and items.min().min() >= 0 and items.max().max() <= 10
    assert (ROOT / "data" / "README.md").exists()


# --------------------------------------------------------------------------- database
@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    t0 = time.perf_counter()
    demo.build_demo_database(path)
    return path, time.perf_counter() - t0


def test_demo_database_holds_every_wave_with_settings(demo_db, survey):
    from csi.data import store

    path, seconds = demo_db
    assert seconds < 30, seconds
    con = store.connect(path, read_only=True)
    try:
        waves = store.list_waves(con)
        assert list(waves["label"]) == list(WAVES)
        assert list(waves["n_respondents"]) == [len(df) for df in survey.waves.values()]
        assert store.get_setting(con, "own_brand") == OWN_BRAND
        assert store.get_setting(con, "brand_column") == "brand"
        stored = store.load_responses(con, waves=["2025Q2"])
    finally:
        con.close()
    src = survey.waves["2025Q2"].set_index("respondent_id")
    stored = stored.set_index("respondent_id").loc[src.index]
    for item in ITEMS:
        expected = src[item].astype("float64")
        expected = expected.where(expected != 99)  # 99 is a missing code in the dictionary
        np.testing.assert_array_equal(stored[item].to_numpy(dtype=float), expected.to_numpy(), err_msg=item)
    assert (stored["brand"] == src["brand"]).all()


def test_existing_database_is_refused_unless_forced(demo_db):
    from csi.errors import StoreError

    path, _ = demo_db
    with pytest.raises(StoreError, match="already exists"):
        demo.build_demo_database(path)


def test_ecsi_file_ingests_with_the_default_dictionary(tmp_path):
    from csi.data import store
    from csi.data.ingest import ingest_file

    con = store.connect(tmp_path / "ecsi.duckdb")
    try:
        report = ingest_file(con, ROOT / "data" / "ecsi_satisfaction.csv", "ECSI", scale=(0.0, 10.0))
        assert set(ECSI_ITEMS) <= set(report.items)
        df = store.load_responses(con)
    finally:
        con.close()
    assert len(df) == 250 and df[ECSI_ITEMS].notna().all().all()


def test_force_replaces_and_a_failed_build_leaves_the_old_database_intact(tmp_path, monkeypatch):
    from csi.data import ingest, store
    from csi.errors import InputError

    path = tmp_path / "csi.duckdb"
    demo.build_demo_database(path, seed=5)
    demo.build_demo_database(path, seed=6, force=True)
    con = store.connect(path, read_only=True)
    try:
        assert store.get_setting(con, "demo_seed") == "6"
    finally:
        con.close()

    calls = []

    def failing(con, raw, wave, source_name, **kw):
        calls.append(wave)
        if len(calls) == 3:
            raise InputError("simulated rejection", file=source_name)
        return real(con, raw, wave, source_name, **kw)

    real = ingest.ingest_frame
    monkeypatch.setattr(ingest, "ingest_frame", failing)
    with pytest.raises(InputError, match="simulated"):
        demo.build_demo_database(path, seed=7, force=True)
    assert calls == list(WAVES[:3])
    # no half-built file left behind: the store, its writers' lock and its published versions only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csi.duckdb", "csi.duckdb.lock", "csi.duckdb.versions"]
    assert sorted(p.name for p in store.versions_dir(path).iterdir()) == ["000001.duckdb", "000002.duckdb"]
    con = store.connect(path, read_only=True)
    try:
        assert store.get_setting(con, "demo_seed") == "6"
        assert len(store.list_waves(con)) == len(WAVES)
    finally:
        con.close()


@pytest.mark.parametrize("seed", [-1, "1", 1.5, True])
def test_bad_seed_is_refused_with_a_message(seed):
    from csi.errors import InputError

    with pytest.raises(InputError, match="non-negative whole number"):
        generate(seed)


def test_implied_paths_for_the_shipped_templates():
    """The truth answers for any template: paths a template omits are absorbed, extra paths are ~0."""
    from csi.model.templates import template

    ccsi = implied_paths(OWN_BRAND, "2025Q4", template("ccsi", items=ITEMS).paths)
    assert ccsi["IMAG->LOY"] == pytest.approx(0.0, abs=1e-9)  # not in the generating model
    assert ccsi["SAT->LOY"] == pytest.approx(0.60 + 0.45 * 0.15, abs=1e-9)
    assert ccsi["QUAL->SAT"] == pytest.approx(0.43, abs=1e-9)
    acsi = implied_paths(COMPETITOR, "2025Q4", template("acsi", items=ITEMS).paths)
    assert acsi["SAT->COMP"] == pytest.approx(-0.45) and acsi["COMP->LOY"] == pytest.approx(-0.15)
    # without IMAG, EXPE -> QUAL carries IMAG's share: 0.40 + 0.30 * 0.55
    assert acsi["EXPE->QUAL"] == pytest.approx(0.40 + 0.30 * 0.55, abs=1e-9)


@pytest.mark.parametrize("wave", ["2024Q3", "2025Q4"])
def test_consistent_pls_recovers_the_generating_paths(wave):
    """The engine on the demo tells the generator's story: PLSc hits the true paths within sampling error,
    plain PLS is attenuated on average (as the PLS literature predicts for factor-model data)."""
    from csi.engine.pls import estimate_pls
    from csi.model.templates import template

    survey = generate()
    for brand in (survey.own_brand, survey.competitor):
        frame = survey.waves[wave]
        items = [c for c in frame.columns if c[-1].isdigit() and c[:4] != "comp"]
        X = frame.loc[frame["brand"] == brand, items].astype(float).where(lambda x: x != 99)
        spec = template("ccsi", list(X.columns))
        truth = implied_paths(brand, wave, spec.paths)
        errors = {}
        for plsc in (False, True):
            r = estimate_pls(X, spec, plsc=plsc)
            est = dict(zip(r.paths["from"] + "->" + r.paths["to"], r.paths["estimate"]))
            errors[plsc] = np.array([est[k] - truth[k] for k in truth])
        assert np.abs(errors[True]).mean() < 0.04, (brand, errors[True])
        assert np.abs(errors[True]).max() < 0.15, (brand, errors[True])
        assert errors[False].mean() < errors[True].mean(), brand
