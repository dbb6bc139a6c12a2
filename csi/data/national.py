"""A seeded national CSI programme (ACSI-like): industries x companies x waves, drawn from a known truth.

``python -m csi demo --national --db PATH [--seed S]`` writes it into a store (brand = company, a segment
``industry`` and a segment ``market_share``) and its truth as ``PATH.truth.json`` beside the database.

Generating model: the csi.data.demo measurement and structural model (same constructs, items, loadings,
skew-normal disturbances, rounding and clipping; its :func:`~csi.data.demo.draw_latents` and
:func:`~csi.data.demo.draw_ratings` pieces), with

* industry-specific paths: ``QUAL -> SAT`` = q_I drawn in [0.25, 0.50] and ``VAL -> SAT`` = 0.72 - q_I
  (some industries are quality-driven, others value-driven);
* an industry level L_I (evenly spaced from -0.5 to 0.5 latent SD, in a seeded order) and a company effect
  c_k ~ N(0, 0.3²), centred within the industry, plus a small industry drift d_I per wave; the effect
  e = L_I + c_k + d_I * wave shifts the structural intercepts of QUAL (e) and IMAG (e / 2), so the
  true latent SAT mean ``mu_SAT`` follows through the paths (saved per company-wave in the truth);
* 250-1,000 respondents per company-wave, market shares Dirichlet(2, ..., 2) within each industry.

Same seed, same programme (one ``numpy.random.default_rng`` for the truth, one per company-wave cell for the
respondents, seeded from (seed, industry, company, wave)).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from csi.data import demo
from csi.errors import StoreError

WAVES: tuple[str, ...] = ("2025Q1", "2025Q2", "2025Q3", "2025Q4")
INDUSTRIES: tuple[str, ...] = ("Airlines", "Banking", "Fast food", "Hotels", "Insurance", "Internet service",
                               "Mobile phones", "Online retail", "Supermarkets", "Utilities", "Automobiles",
                               "Parcel delivery")
N_MIN, N_MAX = 250, 1000
REGIONS = demo.REGIONS
GENDERS = demo.GENDERS
AGE_GROUPS = demo.AGE_GROUPS


@dataclass(frozen=True)
class NationalSurvey:
    """One respondent frame per wave and the truth behind them."""

    waves: dict[str, pd.DataFrame]
    truth: dict


def _paths(q_sat: float) -> dict[tuple[str, str], float]:
    base = demo._scenario(demo.OWN_BRAND, 0)["paths"]  # the demo's own-brand paths as the base
    return {**base, ("QUAL", "SAT"): round(q_sat, 4), ("VAL", "SAT"): round(0.72 - q_sat, 4)}


def national_truth(seed: int = 20240601, n_industries: int = 10, n_companies: int = 12,
                   waves: tuple[str, ...] = WAVES, n_range: tuple[int, int] = (N_MIN, N_MAX)) -> dict:
    """The generating parameters (JSON-ready)."""
    if not 1 <= n_industries <= len(INDUSTRIES):
        raise StoreError(f"n_industries must lie between 1 and {len(INDUSTRIES)}, got {n_industries}")
    if n_companies < 2:
        raise StoreError(f"n_companies must be at least 2, got {n_companies}")
    rng = np.random.default_rng([int(seed), 7])
    names = INDUSTRIES[:n_industries]
    levels = np.linspace(-0.5, 0.5, n_industries) if n_industries > 1 else np.zeros(1)
    levels = levels[rng.permutation(n_industries)]
    industries, companies, cells = {}, {}, {}
    for i, ind in enumerate(names):
        q = float(rng.uniform(0.25, 0.50))
        drift = float(rng.uniform(-0.04, 0.06))
        eff = rng.normal(0.0, 0.3, n_companies)
        eff = eff - eff.mean()
        share = rng.dirichlet(np.full(n_companies, 2.0))
        industries[ind] = {"level": float(levels[i]), "drift_per_wave": drift,
                           "paths": {f"{a}->{b}": c for (a, b), c in _paths(q).items()}}
        for k in range(n_companies):
            comp = f"{ind} {chr(65 + k) if k < 26 else k + 1}"
            companies[comp] = {"industry": ind, "effect": float(eff[k]), "market_share": round(float(share[k]), 6)}
            b = demo._path_matrix(_paths(q))
            cells[comp] = {}
            for w, wave in enumerate(waves):
                e = float(levels[i] + eff[k] + drift * w)
                alpha = dict.fromkeys(demo.CONSTRUCTS, 0.0)
                alpha["QUAL"], alpha["IMAG"] = e, e / 2
                a = np.array([alpha[c] for c in demo.CONSTRUCTS])
                _, _, mu = demo._latent_moments(b, a)
                cells[comp][wave] = {"n": int(rng.integers(n_range[0], n_range[1] + 1)), "effect": e,
                                     "latent_means": {c: float(mu[j]) for j, c in enumerate(demo.CONSTRUCTS)}}
    return {"description": "Generating parameters of the csi.data.national programme; see its module text.",
            "seed": int(seed), "waves": list(waves), "industries": industries, "companies": companies,
            "cells": cells, "constructs": list(demo.CONSTRUCTS), "scales": {i: list(v) for i, v in demo.SCALES.items()}}


def _draw(truth: dict, comp: str, wave: str, seed: int) -> pd.DataFrame:
    info = truth["companies"][comp]
    ind = truth["industries"][info["industry"]]
    cell = truth["cells"][comp][wave]
    paths = {tuple(k.split("->")): v for k, v in ind["paths"].items()}
    b = demo._path_matrix(paths)
    alpha = dict.fromkeys(demo.CONSTRUCTS, 0.0)
    alpha["QUAL"], alpha["IMAG"] = cell["effect"], cell["effect"] / 2
    a = np.array([alpha[c] for c in demo.CONSTRUCTS])
    psi, _, _ = demo._latent_moments(b, a)
    key = [int(seed), *map(ord, f"{comp}|{wave}")]
    rng = np.random.default_rng(key)
    n = cell["n"]
    eta = demo.draw_latents(rng, b, a, psi, n)
    cols = demo.draw_ratings(rng, eta, demo._BASE_TAU)
    frame = pd.DataFrame({
        "brand": comp, "industry": info["industry"], "market_share": f"{info['market_share']:.6f}",
        "region": rng.choice(np.array(REGIONS), size=n), "gender": rng.choice(np.array(GENDERS), size=n),
        "age_group": rng.choice(np.array(AGE_GROUPS), size=n)})
    for item in demo.ITEMS:
        frame[item] = pd.array(cols[item], dtype="Int64")
    return frame


def generate(seed: int = 20240601, **size) -> NationalSurvey:
    """Draw the programme: ``size`` = n_industries, n_companies, waves, n_range (see :func:`national_truth`)."""
    truth = national_truth(seed, **size)
    waves = {}
    for k, wave in enumerate(truth["waves"], start=1):
        frame = pd.concat([_draw(truth, comp, wave, seed) for comp in truth["companies"]], ignore_index=True)
        frame.insert(0, "respondent_id", [f"N{k}-{i:07d}" for i in range(1, len(frame) + 1)])
        waves[wave] = frame
    return NationalSurvey(waves=waves, truth=truth)


def truth_path(db: str | os.PathLike) -> Path:
    db = Path(db)
    return db.with_name(db.name + ".truth.json")


def build_national_database(path: str | os.PathLike, seed: int = 20240601, force: bool = False,
                            **size) -> Path:
    """Write the programme into a new store at ``path`` through the ordinary ingest (all or nothing: built
    under a temporary name, moved into place when complete) and its truth beside it."""
    from csi.data import store
    from csi.data.ingest import ingest_frame

    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path.name} is a folder; give the path of a database file")
    if path.exists() and not force:
        raise StoreError(f"{path.name} already exists; use --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    survey = generate(seed, **size)
    first = list(survey.truth["companies"])

    def fill(con) -> None:
        for label, df in survey.waves.items():
            ingest_frame(con, demo.as_text(df), wave=label, source_name=f"national_{label}.csv",
                         keep_columns=["industry", "market_share"])
        for key, value in (("brand_column", "brand"), ("own_brand", first[0]), ("competitor", first[1]),
                           ("demo_seed", str(int(seed))), ("programme", "national")):
            store.set_setting(con, key, value)

    writing = getattr(store, "writing", None)
    if writing is not None:  # the store's one write path (versioned, published atomically)
        with writing(path, action="demo", detail={"seed": int(seed), "national": True}, fresh=True) as con:
            fill(con)
    else:
        tmp = store.debris_name(path)
        try:
            con = store.connect(tmp)
            try:
                fill(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            for p in (path.with_name(path.name + ".wal"), tmp.with_name(tmp.name + ".wal")):
                p.unlink(missing_ok=True)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    truth_path(path).write_text(json.dumps(survey.truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def run_cli(args) -> int:
    """``python -m csi demo --national``."""
    from csi.cli.main import default_db

    path = Path(args.db) if args.db is not None else default_db()
    build_national_database(path, seed=args.seed, force=args.force)
    truth = json.loads(truth_path(path).read_text(encoding="utf-8"))
    n = sum(c["n"] for cells in truth["cells"].values() for c in cells.values())
    print(f"national demo {path}: {len(truth['industries'])} industries, {len(truth['companies'])} companies, "
          f"{len(truth['waves'])} waves, {n:,} respondents; truth in {truth_path(path).name}")
    return 0
