"""A seeded, realistic multi-wave CSI survey of a mobile operator and its competitor, with its truth.

The demo is drawn from a KNOWN structural model so that the dashboard tells a true story and
tests can check that the estimators recover what was put in.

Generating model (per brand × wave; latent variables standardised to variance 1)::

    EXPE ~ IMAG
    QUAL ~ IMAG + EXPE
    VAL  ~ EXPE + QUAL
    SAT  ~ IMAG + EXPE + QUAL + VAL
    COMP ~ SAT            # complaint propensity; the respondent complains when it exceeds a threshold
    LOY  ~ SAT + COMP

``eta_j = alpha_j + sum_k B[j, k] eta_k + sqrt(psi_j) * zeta_j``: ``B`` holds standardised path
coefficients, ``psi_j = 1 - R²_j`` makes every latent variable's variance exactly 1, ``alpha``
shifts the latent means (in standard-deviation units), and the disturbances ``zeta`` are
standardised skew-normal (shape -3, skewness about -0.67) for the rating constructs — real
satisfaction data have a long lower tail — and normal for COMP. Latent means are
``mu = (I - B)^-1 alpha``.

Measurement: a rating item ``i`` of construct ``j`` is
``round(tau_i + s * (lambda_i * eta_j + sqrt(1 - lambda_i²) * eps_i))`` clipped to its scale
(1–10; 0–10 for the recommend item ``loy3``), with ``s`` = :data:`POINTS_PER_SD` rating points per
standard deviation, loadings ``lambda`` 0.72–0.90, item intercepts ``tau`` in rating points. So
item means sit around 6.5–8.5 and the clipping at the top of the scale adds the ceiling effect of
real CSI data. ``comp1`` = 1 when complaint propensity exceeds :data:`COMPLAINT_THRESHOLD`;
``comp2`` (complaint handling, 1–10, asked of complainers only) correlates 0.55 with SAT at the
latent level and is not part of the structural truth.

The story (all of it is in the parameters, see :data:`TRUTH`):

* Skyline Mobile (own brand) runs a network-upgrade programme after 2025Q1: its perceived quality
  rises from 2025Q2 (latent shift plus a network-specific rise of ``qual2``), satisfaction and
  loyalty follow through the paths, image follows with a lag.
* Its customer-service hotline (``qual3``) stays the weakest quality item in every wave — the
  "fix first" item.
* Horizon Telecom (competitor) raises prices in 2025Q2: its perceived value drops (``val2``,
  price given quality, most), value weighs more in satisfaction afterwards, satisfaction and
  price tolerance (``loy2``) fall, complaints rise.
* The West region has a weaker network (``qual2`` lower), more so for Skyline.

Sampling: ~1,500 respondents per brand × wave; regional quotas boost the West and the panel
over-represents young people, as real panels do; ``weight`` is the post-stratification weight to region × age population shares
(mean 1 within each brand × wave). Segments do not drive the latent variables (apart from the
West ``qual2`` effect), so weighted and unweighted estimates share the same truth.
Missing data: "don't know" coded ``99`` (about 1% in quality items, more for new services), a few
blank cells, ``comp2`` blank for non-complainers.
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from csi.errors import InputError, Problem, StoreError

# ----------------------------------------------------------------------------- design
WAVES: tuple[str, ...] = ("2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4")
# Fieldwork windows (first, last interview day), ISO dates.
WAVE_DATES: dict[str, tuple[str, str]] = {
    "2024Q3": ("2024-08-05", "2024-08-30"),
    "2024Q4": ("2024-11-04", "2024-11-29"),
    "2025Q1": ("2025-02-17", "2025-03-14"),
    "2025Q2": ("2025-05-12", "2025-06-06"),
    "2025Q3": ("2025-08-04", "2025-08-29"),
    "2025Q4": ("2025-11-03", "2025-11-28"),
}
OWN_BRAND = "Skyline Mobile"
COMPETITOR = "Horizon Telecom"
BRANDS: tuple[str, ...] = (OWN_BRAND, COMPETITOR)
REGIONS: tuple[str, ...] = ("North", "East", "South", "West")
CHANNELS: tuple[str, ...] = ("Online", "Retail shop", "Hotline")
GENDERS: tuple[str, ...] = ("Female", "Male")
AGE_GROUPS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
SEGMENT_COLUMNS: tuple[str, ...] = ("brand", "region", "channel", "gender", "age_group", "weight")

CONSTRUCTS: tuple[str, ...] = ("IMAG", "EXPE", "QUAL", "VAL", "SAT", "COMP", "LOY")
BLOCKS: dict[str, tuple[str, ...]] = {
    "IMAG": ("imag1", "imag2", "imag3", "imag4"),
    "EXPE": ("expe1", "expe2", "expe3"),
    "QUAL": ("qual1", "qual2", "qual3", "qual4", "qual5", "qual6"),
    "VAL": ("val1", "val2", "val3"),
    "SAT": ("sat1", "sat2", "sat3"),
    "COMP": ("comp1", "comp2"),
    "LOY": ("loy1", "loy2", "loy3"),
}
ITEMS: tuple[str, ...] = tuple(i for c in CONSTRUCTS for i in BLOCKS[c])
PATHS: tuple[tuple[str, str], ...] = (
    ("IMAG", "EXPE"),
    ("IMAG", "QUAL"), ("EXPE", "QUAL"),
    ("EXPE", "VAL"), ("QUAL", "VAL"),
    ("IMAG", "SAT"), ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"),
    ("SAT", "COMP"),
    ("SAT", "LOY"), ("COMP", "LOY"),
)

POINTS_PER_SD = 1.7          # rating points per latent standard deviation
SKEW_SHAPE = -3.0            # skew-normal shape of the rating constructs' disturbances
COMPLAINT_THRESHOLD = 1.05   # complaint propensity (SD units) above which a respondent complained
COMP2_SAT_CORRELATION = 0.55
N_PER_CELL = 1500            # respondents per brand × wave, ± N_JITTER
N_JITTER = 60

# Item scales (theoretical bounds).
SCALES: dict[str, tuple[int, int]] = {i: (1, 10) for i in ITEMS}
SCALES["loy3"] = (0, 10)
SCALES["comp1"] = (0, 1)

LOADINGS: dict[str, float] = {
    "imag1": 0.82, "imag2": 0.85, "imag3": 0.74, "imag4": 0.72,
    "expe1": 0.80, "expe2": 0.76, "expe3": 0.72,
    "qual1": 0.86, "qual2": 0.80, "qual3": 0.72, "qual4": 0.75, "qual5": 0.73, "qual6": 0.74,
    "val1": 0.88, "val2": 0.86, "val3": 0.76,
    "sat1": 0.90, "sat2": 0.87, "sat3": 0.83,
    "loy1": 0.86, "loy2": 0.72, "loy3": 0.82,
}

# Item intercepts (rating points at latent value 0), before brand/wave/region adjustments.
_BASE_TAU: dict[str, float] = {
    "imag1": 7.7, "imag2": 7.5, "imag3": 7.2, "imag4": 7.4,
    "expe1": 7.9, "expe2": 8.0, "expe3": 7.6,
    "qual1": 7.6, "qual2": 7.4, "qual3": 6.6, "qual4": 7.4, "qual5": 7.2, "qual6": 7.3,
    "val1": 7.1, "val2": 6.8, "val3": 7.2,
    "sat1": 7.6, "sat2": 7.3, "sat3": 7.0,
    "comp2": 6.8,
    "loy1": 7.8, "loy2": 6.6, "loy3": 7.5,
}

# Population shares the weights restore, and the (biased) shares the panel delivers.
POPULATION_REGION = {"North": 0.27, "East": 0.33, "South": 0.25, "West": 0.15}
POPULATION_AGE = {"18-29": 0.20, "30-44": 0.31, "45-59": 0.29, "60+": 0.20}
_SAMPLE_REGION = {"North": 0.25, "East": 0.30, "South": 0.27, "West": 0.18}
_SAMPLE_AGE = {"18-29": 0.27, "30-44": 0.33, "45-59": 0.26, "60+": 0.14}
# Main service channel by age group (older customers use shops and the hotline more).
_CHANNEL_BY_AGE = {
    "18-29": (0.65, 0.25, 0.10),
    "30-44": (0.55, 0.32, 0.13),
    "45-59": (0.38, 0.42, 0.20),
    "60+": (0.20, 0.52, 0.28),
}
# "Don't know" (99) and blank-cell rates per item.
_DONT_KNOW = {**{i: 0.005 for i in BLOCKS["EXPE"]}, **{i: 0.010 for i in BLOCKS["QUAL"]},
              "qual3": 0.015, "qual5": 0.030, **{i: 0.003 for i in BLOCKS["VAL"]}}
_BLANK = 0.002
_COMP2_DONT_KNOW = 0.01


# ----------------------------------------------------------------------------- parameters
def _scenario(brand: str, k: int) -> dict:
    """Paths, structural intercepts and item-intercept shifts of ``brand`` in wave number ``k`` (0-based)."""
    own = brand == OWN_BRAND
    after_upgrade = own and k >= 3        # network upgrade visible from 2025Q2
    after_price_rise = (not own) and k >= 3  # competitor's price rise in 2025Q2
    paths = {
        ("IMAG", "EXPE"): 0.55,
        ("IMAG", "QUAL"): 0.30, ("EXPE", "QUAL"): 0.40,
        ("EXPE", "VAL"): 0.15, ("QUAL", "VAL"): 0.55,
        ("IMAG", "SAT"): 0.20 if own else 0.15,
        ("EXPE", "SAT"): 0.05,
        ("QUAL", "SAT"): 0.40 if own else 0.35,
        ("VAL", "SAT"): 0.30 if own else 0.35,
        ("SAT", "COMP"): -0.45,
        ("SAT", "LOY"): 0.60, ("COMP", "LOY"): -0.15,
    }
    if after_upgrade:
        paths[("QUAL", "SAT")] = 0.43    # the network became salient
    if after_price_rise:
        paths[("VAL", "SAT")] = 0.42     # price became salient
        paths[("QUAL", "SAT")] = 0.32
    alpha = dict.fromkeys(CONSTRUCTS, 0.0)
    tau_shift: dict[str, float] = {}
    if own:
        alpha["QUAL"] = (0.0, 0.0, -0.02, 0.12, 0.22, 0.28)[k]
        alpha["IMAG"] = (0.0, 0.0, 0.0, 0.0, 0.03, 0.06)[k]
        tau_shift["qual2"] = (0.0, 0.0, 0.0, 0.25, 0.40, 0.45)[k]
    else:
        alpha["IMAG"] = 0.05
        alpha["QUAL"] = 0.10
        alpha["VAL"] = (0.15, 0.15, 0.12, -0.35, -0.40, -0.38)[k]
        tau_shift["qual2"] = 0.40      # a better network to begin with
        tau_shift["val2"] = (0.0, 0.0, 0.0, -0.30, -0.35, -0.30)[k]
        tau_shift["loy2"] = (0.0, 0.0, 0.0, -0.20, -0.25, -0.20)[k]
    return {"paths": paths, "alpha": alpha, "tau_shift": tau_shift}


# West has a weaker network: qual2 offset in rating points.
REGION_QUAL2_OFFSET = {OWN_BRAND: {"West": -0.6}, COMPETITOR: {"West": -0.3}}


def _path_matrix(paths: dict[tuple[str, str], float]) -> np.ndarray:
    """B (7 x 7), B[j, k] = effect of construct k on construct j, constructs in CONSTRUCTS order."""
    pos = {c: n for n, c in enumerate(CONSTRUCTS)}
    b = np.zeros((len(CONSTRUCTS), len(CONSTRUCTS)))
    for (frm, to), coef in paths.items():
        b[pos[to], pos[frm]] = coef
    return b


def _latent_moments(b: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disturbance variances psi (7,), latent correlation matrix R (7 x 7) and means mu (7,).

    CONSTRUCTS is a topological order, so each psi_j can be solved in turn such that Var(eta_j) = 1.
    """
    m = len(CONSTRUCTS)
    r = np.eye(m)
    psi = np.ones(m)
    for j in range(m):
        bj = b[j, :j]
        explained = float(bj @ r[:j, :j] @ bj)
        if not explained < 1.0:
            raise ValueError(f"paths into {CONSTRUCTS[j]} explain {explained:.3f} >= 1 of its variance")
        psi[j] = 1.0 - explained
        r[j, :j] = r[:j, :j] @ bj
        r[:j, j] = r[j, :j]
    mu = np.linalg.solve(np.eye(m) - b, alpha)
    return psi, r, mu


def _build_truth() -> dict:
    by_brand: dict[str, dict] = {}
    for brand in BRANDS:
        by_brand[brand] = {}
        for k, wave in enumerate(WAVES):
            sc = _scenario(brand, k)
            b = _path_matrix(sc["paths"])
            alpha = np.array([sc["alpha"][c] for c in CONSTRUCTS])
            psi, r, mu = _latent_moments(b, alpha)
            tau = {i: round(_BASE_TAU[i] + sc["tau_shift"].get(i, 0.0), 6) for i in _BASE_TAU}
            by_brand[brand][wave] = {
                "paths": {f"{frm}->{to}": float(c) for (frm, to), c in sc["paths"].items()},
                "r2": {c: round(1.0 - float(psi[n]), 10) for n, c in enumerate(CONSTRUCTS) if b[n].any()},
                "structural_intercepts": {c: float(sc["alpha"][c]) for c in CONSTRUCTS},
                "latent_means": {c: round(float(mu[n]), 10) for n, c in enumerate(CONSTRUCTS)},
                "latent_correlations": {c: {d: round(float(r[n, q]), 10) for q, d in enumerate(CONSTRUCTS)}
                                        for n, c in enumerate(CONSTRUCTS)},
                "item_intercepts": tau,
                "region_item_offsets": {"qual2": dict(REGION_QUAL2_OFFSET[brand])},
            }
    return {
        "description": "Generating parameters of the csi.demo survey; see the csi.demo module docstring.",
        "waves": list(WAVES),
        "wave_dates": {w: list(d) for w, d in WAVE_DATES.items()},
        "brands": list(BRANDS),
        "own_brand": OWN_BRAND,
        "competitor": COMPETITOR,
        "constructs": list(CONSTRUCTS),
        "blocks": {c: list(v) for c, v in BLOCKS.items()},
        "paths": [list(p) for p in PATHS],
        "scales": {i: list(v) for i, v in SCALES.items()},
        "loadings": dict(LOADINGS),
        "points_per_sd": POINTS_PER_SD,
        "skew_shape": SKEW_SHAPE,
        "complaint_threshold": COMPLAINT_THRESHOLD,
        "comp2_sat_correlation": COMP2_SAT_CORRELATION,
        "population_shares": {"region": dict(POPULATION_REGION), "age_group": dict(POPULATION_AGE)},
        "story": {
            "network_upgrade": {"brand": OWN_BRAND, "first_wave_after": "2025Q2", "items": ["qual2", "qual1"]},
            "fix_first_item": {"brand": OWN_BRAND, "item": "qual3"},
            "price_rise": {"brand": COMPETITOR, "first_wave_after": "2025Q2", "items": ["val1", "val2", "val3"]},
            "weak_region": {"region": "West", "item": "qual2"},
        },
        "by_brand_wave": by_brand,
    }


TRUTH: dict = _build_truth()


def truth_paths(truth: dict | None = None) -> pd.DataFrame:
    """Tidy generating path coefficients: columns ``brand, wave, from, to, coef`` (standardised)."""
    truth = truth or TRUTH
    rows = [
        {"brand": brand, "wave": wave, "from": key.split("->")[0], "to": key.split("->")[1], "coef": coef}
        for brand, waves in truth["by_brand_wave"].items()
        for wave, cell in waves.items()
        for key, coef in cell["paths"].items()
    ]
    return pd.DataFrame(rows, columns=["brand", "wave", "from", "to", "coef"])


def implied_paths(brand: str, wave: str, paths, truth: dict | None = None) -> dict[str, float]:
    """Population standardised coefficients of another structural model on the true latent variables.

    ``paths``: ``(from, to)`` pairs of the model being estimated (e.g. a template without COMP).
    Each endogenous construct is regressed on its predictors using the true latent correlations,
    so omitted paths are absorbed as they would be in the population (e.g. SAT→LOY without COMP
    equals the total effect 0.60 + 0.45 × 0.15). Returns ``{"FROM->TO": coef}``.
    """
    truth = truth or TRUTH
    corr = truth["by_brand_wave"][brand][wave]["latent_correlations"]
    preds: dict[str, list[str]] = {}
    for frm, to in paths:
        preds.setdefault(to, []).append(frm)
    out: dict[str, float] = {}
    for to, xs in preds.items():
        rxx = np.array([[corr[a][b] for b in xs] for a in xs])
        rxy = np.array([corr[a][to] for a in xs])
        beta = np.linalg.solve(rxx, rxy)
        out.update({f"{x}->{to}": float(v) for x, v in zip(xs, beta)})
    return out


# ----------------------------------------------------------------------------- RATER / SERVQUAL block
# Added after the core survey from a SEPARATE generator (seed sequence [seed, RATER_STREAM]), so every core
# column above is bit-identical with or without it. Story, true by construction: reliability has the largest
# negative gap (expected most, delivered least) and the highest importance for satisfaction; tangibles the
# smallest gap and the lowest importance. Each perception dimension D_d = c_d * s + sqrt(1 - c_d^2) * noise,
# s = the respondent's standardised mean of sat1-sat3, so the regression of satisfaction on the dimensions
# orders them as c_d does (beta_d is increasing in c_d). Expectations do not depend on satisfaction.
RATER_STREAM = 7_013
RATER_DIMENSIONS: tuple[str, ...] = ("REL", "ASS", "TAN", "EMP", "RES")
_RATER_STEM = {"REL": "rel", "ASS": "ass", "TAN": "tan", "EMP": "emp", "RES": "res"}
RATER_SAT_LOADING = {"REL": 0.60, "RES": 0.48, "ASS": 0.38, "EMP": 0.30, "TAN": 0.15}
RATER_EXPECTATION_TAU = {"REL": 8.8, "RES": 8.5, "ASS": 8.4, "EMP": 8.2, "TAN": 7.6}
RATER_PERCEPTION_TAU = {"REL": 7.0, "RES": 7.3, "ASS": 7.8, "EMP": 7.3, "TAN": 7.4}
RATER_ITEMS: tuple[str, ...] = tuple(f"{_RATER_STEM[d]}{kind}{k}" for d in RATER_DIMENSIONS for k in (1, 2)
                                     for kind in ("exp", "per"))
_RATER_POINTS_PER_SD = {"exp": 1.2, "per": 1.6}
_RATER_LOADING = 0.8


def add_rater_block(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` with the RATER expectation/perception columns appended (1-10 ratings, nullable integers)."""
    sat = frame[["sat1", "sat2", "sat3"]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    sat[sat == 99] = np.nan
    m = np.nanmean(np.where(np.isnan(sat), np.nan, sat), axis=1) if len(sat) else np.zeros(0)
    m = np.where(np.isnan(m), np.nanmean(m) if np.isfinite(m).any() else 0.0, m)
    s = (m - m.mean()) / (m.std() or 1.0)
    n = len(frame)
    out = frame.copy()
    for d in RATER_DIMENSIONS:
        c = RATER_SAT_LOADING[d]
        latent = {"exp": rng.standard_normal(n), "per": c * s + np.sqrt(1 - c * c) * rng.standard_normal(n)}
        for k in (1, 2):
            for kind in ("exp", "per"):
                tau = (RATER_EXPECTATION_TAU if kind == "exp" else RATER_PERCEPTION_TAU)[d]
                x = _RATER_LOADING * latent[kind] + np.sqrt(1 - _RATER_LOADING**2) * rng.standard_normal(n)
                score = np.clip(np.floor(tau + _RATER_POINTS_PER_SD[kind] * x + 0.5), 1, 10)
                out[f"{_RATER_STEM[d]}{kind}{k}"] = pd.array(score, dtype="Int64")
    return out


def management_survey(seed: int = 20240601) -> pd.DataFrame:
    """A demo management importance survey (text cells, as a file would give them): 8 managers rate the five
    RATER dimensions 1-10. By construction managers rate tangibles highest and reliability below
    customers' view: the first gap of the gap model ("management overrates tangibles")."""
    rng = np.random.default_rng([int(seed), RATER_STREAM, 1])
    centre = {"REL": 6.5, "ASS": 7.0, "TAN": 9.0, "EMP": 6.0, "RES": 7.5}
    rows = {"manager": [f"M{i:02d}" for i in range(1, 9)]}
    for d in RATER_DIMENSIONS:
        rows[d] = [str(int(v)) for v in np.clip(np.floor(centre[d] + 0.8 * rng.standard_normal(8) + 0.5), 1, 10)]
    return pd.DataFrame(rows, dtype=object)


# ----------------------------------------------------------------------------- verbatims (open-text comments)
# Drawn at build time from a SEPARATE generator (seed sequence [seed, COMMENT_STREAM, wave number]), so every
# survey number is identical with or without them. Story, true by construction (s = the respondent's
# standardised mean of sat1-sat3 within the wave): about 40% write a comment, half of them in Chinese; the less
# satisfied mention waiting and price more, the more satisfied praise the staff; Horizon's customers mention
# price more after its 2025Q2 price rise; the West mentions the network more. Each phrase holds keywords of its
# own theme only (csi/analytics/verbatim_themes.json; tests/test_verbatims.py checks it).
COMMENT_STREAM = 7_027
COMMENT_RATE = 0.40
COMMENT_ZH_SHARE = 0.5
COMMENT_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # theme -> (English, Chinese)
    "price": (("The price is too high for what I get.", "Fees keep going up.", "Too expensive compared with others."),
              ("价格太贵了。", "资费又涨了，不划算。", "套餐费用太高。")),
    "waiting": (("I had to wait far too long.", "The queue at the counter was very slow.", "On hold for ages again."),
                ("排队等了很久。", "热线一直没人接。", "办理速度太慢。")),
    "staff_attitude": (("The staff were friendly and helpful.", "Very polite people at the counter."),
                       ("服务员态度很好。", "工作人员很热情，很有耐心。")),
    "network": (("The signal is weak indoors.", "Network coverage is poor where I live."),
                ("室内信号不好。", "网络经常掉线。")),
}
COMMENT_NEUTRAL = (("Nothing to add.", "All fine overall."), ("暂时没有。", "总体还行。"))
# logit of mentioning a theme given a comment: intercept + slope * s (+ the story's shifts below)
COMMENT_LOGIT = {"price": (-1.3, -0.9), "waiting": (-1.4, -0.9), "staff_attitude": (-1.6, 0.9),
                 "network": (-1.8, -0.3)}
COMMENT_PRICE_RISE = 0.9   # Horizon, from 2025Q2 on
COMMENT_WEST_NETWORK = 0.8


def add_comments(frame: pd.DataFrame, wave: str, seed: int = 20240601) -> pd.DataFrame:
    """``frame`` (one wave of :func:`generate`) with a bilingual open-text ``comment`` column ('' = none)."""
    rng = np.random.default_rng([int(seed), COMMENT_STREAM, WAVES.index(wave) + 1])
    sat = frame[["sat1", "sat2", "sat3"]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    sat[sat == 99] = np.nan
    with np.errstate(all="ignore"):
        m = np.nanmean(sat, axis=1) if len(sat) else np.zeros(0)
    m = np.where(np.isnan(m), np.nanmean(m) if np.isfinite(m).any() else 0.0, m)
    s = (m - m.mean()) / (m.std() or 1.0)
    n = len(frame)
    writes = rng.random(n) < COMMENT_RATE
    zh = rng.random(n) < COMMENT_ZH_SHARE
    shift = {"price": COMMENT_PRICE_RISE * ((frame["brand"] == COMPETITOR).to_numpy()
                                            & (WAVES.index(wave) >= WAVES.index("2025Q2"))),
             "network": COMMENT_WEST_NETWORK * (frame["region"] == "West").to_numpy()}
    mention = {th: rng.random(n) < 1 / (1 + np.exp(-(a + b * s + shift.get(th, 0.0))))
               for th, (a, b) in COMMENT_LOGIT.items()}
    pick = {th: rng.integers(0, 1 << 30, n) for th in COMMENT_PHRASES}
    neutral = rng.integers(0, 1 << 30, n)
    out = np.full(n, "", dtype=object)
    for i in np.flatnonzero(writes):
        lang = 1 if zh[i] else 0
        parts = [COMMENT_PHRASES[th][lang][pick[th][i] % len(COMMENT_PHRASES[th][lang])]
                 for th in COMMENT_PHRASES if mention[th][i]]
        if not parts:
            parts = [COMMENT_NEUTRAL[lang][neutral[i] % len(COMMENT_NEUTRAL[lang])]]
        out[i] = ("" if lang else " ").join(parts)
    return frame.assign(comment=out)


# ----------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class DemoSurvey:
    """The demo survey: one agency-style DataFrame per wave (chronological) and the truth behind it."""

    waves: dict[str, pd.DataFrame]
    truth: dict
    own_brand: str = OWN_BRAND
    competitor: str = COMPETITOR
    seed: int = field(default=20240601)


def _skew_normal(rng: np.random.Generator, n: int, shape: float) -> np.ndarray:
    """n draws of a skew-normal variable standardised to mean 0 and variance 1."""
    delta = shape / np.sqrt(1.0 + shape * shape)
    u0 = np.abs(rng.standard_normal(n))
    u1 = rng.standard_normal(n)
    z = delta * u0 + np.sqrt(1.0 - delta * delta) * u1
    mean = delta * np.sqrt(2.0 / np.pi)
    return (z - mean) / np.sqrt(1.0 - mean * mean)


def draw_latents(rng: np.random.Generator, b: np.ndarray, alpha: np.ndarray, psi: np.ndarray, n: int) -> np.ndarray:
    """n x 7 latent variables in CONSTRUCTS (topological) order: ``eta_j = alpha_j + B[j] eta + sqrt(psi_j) zeta_j``
    (skew-normal disturbances for the rating constructs, normal for COMP). Reused by csi.data.national."""
    eta = np.zeros((n, len(CONSTRUCTS)))
    for j, c in enumerate(CONSTRUCTS):
        zeta = rng.standard_normal(n) if c == "COMP" else _skew_normal(rng, n, SKEW_SHAPE)
        eta[:, j] = alpha[j] + eta[:, :j] @ b[j, :j] + np.sqrt(psi[j]) * zeta
    return eta


def draw_ratings(rng: np.random.Generator, eta: np.ndarray, tau: dict, offsets: dict | None = None) -> dict:
    """Item ratings ``{item: float array}`` from latent variables (see the module text: rounding, clipping,
    complaints). ``offsets``: ``{item: [rating-point arrays added in turn]}``. Reused by csi.data.national."""
    n = len(eta)
    offsets = offsets or {}
    cols: dict[str, np.ndarray] = {}
    for j, c in enumerate(CONSTRUCTS):
        if c == "COMP":
            continue
        for item in BLOCKS[c]:
            lam = LOADINGS[item]
            latent = lam * eta[:, j] + np.sqrt(1.0 - lam * lam) * rng.standard_normal(n)
            score = tau[item] + POINTS_PER_SD * latent
            for off in offsets.get(item, ()):
                score = score + off
            lo, hi = SCALES[item]
            cols[item] = np.clip(np.floor(score + 0.5), lo, hi)
    j_comp, j_sat = CONSTRUCTS.index("COMP"), CONSTRUCTS.index("SAT")
    complained = eta[:, j_comp] > COMPLAINT_THRESHOLD
    rho = COMP2_SAT_CORRELATION
    handling = tau["comp2"] + POINTS_PER_SD * (rho * eta[:, j_sat] + np.sqrt(1 - rho * rho) * rng.standard_normal(n))
    cols["comp1"] = complained.astype(float)
    cols["comp2"] = np.where(complained, np.clip(np.floor(handling + 0.5), 1, 10), np.nan)
    return cols


def _draw_cell(rng: np.random.Generator, brand: str, wave: str, n: int) -> pd.DataFrame:
    """Respondents of one brand × wave: segments, weight and item ratings (99 = don't know, <NA> = blank)."""
    cell = TRUTH["by_brand_wave"][brand][wave]
    k = WAVES.index(wave)
    sc = _scenario(brand, k)
    b = _path_matrix(sc["paths"])
    alpha = np.array([sc["alpha"][c] for c in CONSTRUCTS])
    psi, _, _ = _latent_moments(b, alpha)

    # Segments
    # Regional quotas, as fieldwork agencies set them (the West is boosted for a readable base).
    quota = np.floor(n * np.array(list(_SAMPLE_REGION.values()))).astype(int)
    quota[np.argmax(quota)] += n - quota.sum()
    region = rng.permutation(np.repeat(np.array(REGIONS), quota))
    age = rng.choice(np.array(AGE_GROUPS), size=n, p=list(_SAMPLE_AGE.values()))
    gender = rng.choice(np.array(GENDERS), size=n, p=[0.51, 0.49])
    u = rng.random(n)
    channel = np.empty(n, dtype=object)
    for group, probs in _CHANNEL_BY_AGE.items():
        cut = np.cumsum(probs)
        sel = age == group
        channel[sel] = np.array(CHANNELS)[np.searchsorted(cut, u[sel], side="right").clip(max=2)]

    eta = draw_latents(rng, b, alpha, psi, n)
    offsets = {"qual2": [off * (region == reg) for reg, off in REGION_QUAL2_OFFSET[brand].items()]}
    cols = draw_ratings(rng, eta, cell["item_intercepts"], offsets)

    # Missingness: "don't know" and blank cells, drawn item by item in a fixed order
    for item in ITEMS:
        if item in ("comp1",):
            continue
        x = cols[item]
        answered = ~np.isnan(x)
        dk_rate = _COMP2_DONT_KNOW if item == "comp2" else _DONT_KNOW.get(item, 0.0)
        dk = answered & (rng.random(n) < dk_rate)
        blank = answered & ~dk & (rng.random(n) < _BLANK)
        x[dk] = 99.0
        x[blank] = np.nan

    # Post-stratification weight to region × age population shares
    cell_key = pd.Series(region).str.cat(pd.Series(age), sep="|")
    sample_share = cell_key.map(cell_key.value_counts(normalize=True)).to_numpy()
    target = np.array([POPULATION_REGION[r] * POPULATION_AGE[a] for r, a in zip(region, age)])
    weight = target / sample_share
    weight = np.round(weight / weight.mean(), 6)

    frame = pd.DataFrame({
        "brand": brand, "region": region, "channel": channel.astype(str), "gender": gender,
        "age_group": age, "weight": weight,
    })
    for item in ITEMS:
        frame[item] = pd.array(cols[item], dtype="Int64")  # NaN becomes <NA>
    return frame


def generate(seed: int = 20240601) -> DemoSurvey:
    """Draw the demo survey. Same seed → identical frames.

    Returns a :class:`DemoSurvey` whose ``waves`` maps each label of :data:`WAVES` (chronological)
    to a DataFrame (n_w x 51): ``respondent_id`` (``W3-000123``, unique within the wave), the
    segment columns ``brand, region, channel, gender, age_group, weight``, then the item columns
    (nullable integers; 99 = "don't know", <NA> = blank) in questionnaire order, then the RATER block
    (:data:`RATER_ITEMS`, from its own generator, see :func:`add_rater_block`). Both brands are
    interleaved within a wave, as a fieldwork agency delivers them.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(Problem(file="demo", column="seed", value=str(seed),
                                 reason="the seed must be a non-negative whole number"))
    rng = np.random.default_rng(seed)
    waves: dict[str, pd.DataFrame] = {}
    for k, wave in enumerate(WAVES, start=1):
        parts = []
        for brand in BRANDS:
            n = N_PER_CELL + int(rng.integers(-N_JITTER, N_JITTER + 1))
            parts.append(_draw_cell(rng, brand, wave, n))
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        frame.insert(0, "respondent_id", [f"W{k}-{i:06d}" for i in range(1, len(frame) + 1)])
        waves[wave] = frame
    rater_rng = np.random.default_rng([int(seed), RATER_STREAM])  # separate stream: core columns unchanged
    waves = {wave: add_rater_block(frame, rater_rng) for wave, frame in waves.items()}
    truth = copy.deepcopy(TRUTH)
    truth["seed"] = int(seed)
    return DemoSurvey(waves=waves, truth=truth, own_brand=OWN_BRAND, competitor=COMPETITOR, seed=int(seed))


# ----------------------------------------------------------------------------- mystery-shopping audits
AUDIT_STREAM = 7_027  # own random stream: the survey's draws are unchanged
AUDIT_PERIODS: tuple[str, ...] = ("2025H1", "2025H2")
AUDIT_CATEGORIES: dict[str, int] = {  # category -> points possible (100 in all)
    "environment": 15, "signage": 10, "facilities": 15, "VIP area": 10, "staff appearance": 10,
    "staff competence": 20, "business handling": 20}
AUDIT_OUTLETS: tuple[tuple[str, str], ...] = tuple((f"{r}-{k:02d}", r) for r in REGIONS for k in (1, 2))
AUDIT_WEAK = ("West-01", "staff competence")  # loses most points there in both periods (by construction)


def audit_files(seed: int = 20240601) -> dict[str, pd.DataFrame]:
    """Two demo audit periods of Skyline Mobile's eight outlets (two per survey region; text cells as an audit
    agency's file: outlet, region, category, possible, obtained, total, note). By construction every outlet
    obtains 85-100% of each category's points in 2025H1 and moves by at most 1.5 points per category in 2025H2,
    except West-01, which keeps 45% (2025H1) and 55% (2025H2) of staff competence: it is the outlet losing most
    points, and staff competence the category losing most, in both periods, and the West region (whose survey
    respondents rate the network ``qual2`` lower by construction) has the lowest audit percent. The survey's
    satisfaction does not depend on the region by construction: the link shows the survey as drawn."""
    rng = np.random.default_rng([int(seed), AUDIT_STREAM])
    base = {(o, c): 0.85 + 0.15 * rng.random() for o, _ in AUDIT_OUTLETS for c in AUDIT_CATEGORIES}
    out = {}
    for k, period in enumerate(AUDIT_PERIODS):
        rows = []
        for outlet, region in AUDIT_OUTLETS:
            got = {}
            for c, possible in AUDIT_CATEGORIES.items():
                if (outlet, c) == AUDIT_WEAK:
                    share = (0.45, 0.55)[k]
                else:
                    share = min(1.0, base[(outlet, c)] + (rng.uniform(-1.5, 1.5) / possible if k else 0.0))
                got[c] = min(possible, max(0.0, np.floor(2 * share * possible + 0.5) / 2))  # half points
            total = sum(got.values())
            for c, possible in AUDIT_CATEGORIES.items():
                note = "could not explain the tariff options" if (outlet, c) == AUDIT_WEAK else ""
                rows.append({"outlet": outlet, "region": region, "category": c, "possible": str(possible),
                             "obtained": f"{got[c]:g}", "total": f"{total:g}", "note": note})
        out[period] = pd.DataFrame(rows, dtype=object)
    return out


def add_demo_audits(con, seed: int, by: str | None = None) -> None:
    """Store :func:`audit_files` through the ordinary audit validation (csi.data.audit.store_audit)."""
    from csi.data.audit import store_audit

    for period, raw in audit_files(seed).items():
        store_audit(con, raw, period, f"demo_audit_{period}.csv", by=by)


# ----------------------------------------------------------------------------- database
def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the cells of the CSV an agency would deliver (text, blank = missing).

    ``csi.ingest`` takes raw text cells (what ``read_survey`` returns), so the demo goes through
    exactly the path a user's file takes.
    """
    return pd.DataFrame({c: [("" if pd.isna(v) else str(v)) for v in frame[c].astype(object)] for c in frame.columns},
                        dtype=object)


def build_demo_database(path: str | os.PathLike, seed: int = 20240601, force: bool = False,
                        actor: str | None = None) -> Path:
    """Create a DuckDB store at ``path`` holding every demo wave; returns the path.

    Each wave goes through the ordinary ingest (``csi.ingest.ingest_frame``), so the demo exercises
    the same validation as a user's file. Settings ``own_brand``, ``competitor``, ``brand_column``
    and ``demo_seed`` are recorded. An existing store is refused unless ``force``. The build is one
    write through :func:`csi.data.store.writing` from an empty store (``fresh``): it is published as a
    new version only when complete, so a failed or killed build never leaves a half-filled database
    and the old one stays current (running dashboards keep reading it and see the new one at their next
    version check); the temporary files of a killed build are swept by the next write or connect.
    """
    from csi.data import store
    from csi.data.ingest import ingest_frame

    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path.name} is a folder; give the path of a database file")
    if path.exists() and not force:
        raise StoreError(f"{path.name} already exists; use force=True (--force) to replace it")
    survey = generate(seed)
    detail = {"seed": int(survey.seed), "waves": list(survey.waves), "replaced": path.exists()}
    with store.writing(path, actor=actor, action="demo", detail=detail, fresh=True) as con:
        if path.exists() and not force:  # appeared meanwhile (another first start): never clobber it
            raise StoreError(f"{path.name} already exists; use force=True (--force) to replace it")
        for label, df in survey.waves.items():
            start, end = WAVE_DATES[label]
            df = add_comments(df, label, survey.seed)  # verbatims, from their own random stream
            ingest_frame(con, as_text(df), wave=label, source_name=f"demo_{label}.csv",
                         field_start=start, field_end=end)
        store.set_setting(con, "own_brand", survey.own_brand)
        store.set_setting(con, "competitor", survey.competitor)
        store.set_setting(con, "brand_column", "brand")
        store.set_setting(con, "demo_seed", str(survey.seed))
        add_demo_audits(con, survey.seed, by=actor)  # mystery-shopping audits of the own brand's outlets
    return path


def _remove_database(path: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if present."""
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            p.unlink()


if __name__ == "__main__":  # quick manual check: python -m csi.demo
    t0 = time.perf_counter()
    s = generate()
    print({w: len(f) for w, f in s.waves.items()}, f"{time.perf_counter() - t0:.2f} s")
