"""Plotly figures of the dashboard and the HTML report (pure: no streamlit).

One colour per construct everywhere (:func:`construct_color`), titles and axis
labels through the translation table, a CJK-capable font stack so Chinese
renders in the browser and in exported HTML alike.
"""
from __future__ import annotations

import copy
import html

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

from csi.report.present import pval as present_p, stars

from .i18n import construct_label, t

# Okabe–Ito colour-blind-safe palette, one fixed colour per standard construct.
CONSTRUCT_COLORS: dict[str, str] = {
    "IMAG": "#0072B2",
    "EXPE": "#E69F00",
    "QUAL": "#009E73",
    "VAL": "#CC79A7",
    "SAT": "#D55E00",
    "COMP": "#56B4E9",
    "LOY": "#6A3D9A",
}
_EXTRA = ("#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#1F77B4", "#2CA02C", "#9467BD")
BAND_COLORS = ("#B2182B", "#EF8A62", "#BDBDBD", "#67A9CF", "#2166AC")
FONT = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
OWN_COLOR, OTHER_COLOR = "#D55E00", "#9E9E9E"
# (x, y) of the standard constructs in the path diagram: every arrow of the CCSI/ECSI/ACSI models
# clears every other node by > 1.5 node radii at the default figure size.
STANDARD_LAYOUT = {"IMAG": (0.0, 2.0), "EXPE": (0.0, 0.0), "QUAL": (1.0, -2.0), "VAL": (2.2, -1.6),
                   "SAT": (3.0, 0.4), "COMP": (4.2, -1.2), "LOY": (4.6, 1.6)}


def construct_color(code: str, others: tuple[str, ...] = ()) -> str:
    """The construct's colour; custom constructs get the extra colours in the order given
    by ``others`` (the model's construct order), so a colour never depends on hashing."""
    if code in CONSTRUCT_COLORS:
        return CONSTRUCT_COLORS[code]
    custom = [c for c in others if c not in CONSTRUCT_COLORS]
    k = custom.index(code) if code in custom else sum(map(ord, code))
    return _EXTRA[k % len(_EXTRA)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


TEMPLATE = "plotly_white"


def _set_template(fig: go.Figure) -> None:
    """``fig.layout.template = TEMPLATE`` without plotly validating the whole template again (~17 ms a figure:
    rebuilding every trace type's defaults); the registry's template is valid, and the figure gets its own copy
    (plotly copies it on assignment, so the registry's object is never shared)."""
    from plotly import io as pio

    layout = fig.layout
    was = layout._validate
    layout._validate = False
    try:
        layout.template = pio.templates[TEMPLATE]
    finally:
        layout._validate = was


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    # plotly reads HTML-like tags in text (<a href>, <b>); titles carry wave and brand names typed by users
    title = html.escape(str(title), quote=False)
    _set_template(fig)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=16)), height=height,
                      font=dict(family=FONT), margin=dict(l=10, r=10, t=50, b=100),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig


class FrozenFigure(BaseFigure):
    """A finished figure as its plain plotly spec, shared read-only by every session that shows it
    (``app.state.shared_figure``). ``st.plotly_chart`` only calls :meth:`to_dict`, which hands out a copy, so a
    cached chart costs a deep copy of a dict per run instead of rebuilding and validating the figure (~30–60 ms).
    It has no mutators: :meth:`figure` gives an independent ``go.Figure`` to change or inspect."""

    def __init__(self, fig: go.Figure):  # noqa: D107 - BaseFigure's own state is deliberately not built
        object.__setattr__(self, "_spec", fig.to_dict())

    def to_dict(self) -> dict:
        return copy.deepcopy(self._spec)

    to_plotly_json = to_dict

    def figure(self) -> go.Figure:
        return go.Figure(self.to_dict())

    def __setattr__(self, name, value):
        raise AttributeError("a FrozenFigure is read-only (use .figure() for a copy to change)")

    def __eq__(self, other) -> bool:
        return isinstance(other, FrozenFigure) and self._spec == other._spec

    __hash__ = None

    def __repr__(self) -> str:
        return f"FrozenFigure({len(self._spec.get('data', []))} traces)"


def trend_chart(df: pd.DataFrame, lang: str, constructs: tuple[str, ...] | None = None,
                title: str | None = None) -> go.Figure:
    """Index by wave with a CI band per construct.

    ``df``: columns wave, construct, index, ci_low, ci_high (one row per wave × construct),
    waves in display order.
    """
    fig = go.Figure()
    order = tuple(dict.fromkeys(df["construct"])) if constructs is None else constructs
    waves = list(dict.fromkeys(df["wave"].astype(str)))
    for c in order:
        d = df[df["construct"] == c]
        if d.empty:
            continue
        color = construct_color(c, order)
        x = d["wave"].astype(str).tolist()
        name = construct_label(c, lang)
        lo, hi = d.get("ci_low"), d.get("ci_high")
        if lo is not None and hi is not None and np.isfinite(lo.to_numpy(float)).any():
            fig.add_trace(go.Scatter(x=x + x[::-1], y=hi.tolist() + lo.tolist()[::-1], fill="toself", mode="lines",
                                     fillcolor=_rgba(color, 0.15), line=dict(width=0), hoverinfo="skip",
                                     showlegend=False, legendgroup=c))
        fig.add_trace(go.Scatter(x=x, y=d["index"], mode="lines+markers", name=name, legendgroup=c,
                                 line=dict(color=color, width=3 if c == "SAT" else 2),
                                 hovertemplate=f"{name}<br>%{{x}}: %{{y:.1f}}<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=waves)
    fig.update_yaxes(title=t("axis_index", lang))
    return _layout(fig, title or t("ov_trend", lang), height=420)


def ipma_intervals(df: pd.DataFrame) -> bool:
    """True when the IPMA frame carries finite bootstrap intervals of importance and performance (the
    ``importance_ci_*`` / ``performance_ci_*`` columns of :func:`csi.analytics.priorities.ipma`)."""
    cols = ("importance_ci_low", "importance_ci_high", "performance_ci_low", "performance_ci_high")
    return set(cols) <= set(df.columns) and bool(np.isfinite(df[list(cols)].to_numpy(float)).any())


def ipma_chart(df: pd.DataFrame, lang: str, thresholds: tuple[float, float] | None = None,
               title: str | None = None, constructs: tuple[str, ...] = (), intervals: bool = False) -> go.Figure:
    """Importance (x) against performance (y), coloured by construct, with quadrant lines.

    ``df``: the frame of ``csi.priorities.ipma`` (driver, construct, importance, performance,
    label_en, label_zh, quadrant). ``intervals=True`` and a frame with bootstrap intervals
    (:func:`ipma_intervals`): horizontal error bars for each driver's importance interval, vertical ones
    for its performance interval (asymmetric, the percentile limits as given).
    """
    fig = go.Figure()
    label_col = "label_zh" if lang == "zh" else "label_en"
    bars = intervals and ipma_intervals(df)
    for c in dict.fromkeys(df["construct"]):
        d = df[df["construct"] == c]
        err_x = err_y = None
        if bars:
            err_x = dict(type="data", symmetric=False, array=(d["importance_ci_high"] - d["importance"]).tolist(),
                         arrayminus=(d["importance"] - d["importance_ci_low"]).tolist(), thickness=1.2, width=3,
                         color=construct_color(c, constructs))
            err_y = dict(type="data", symmetric=False, array=(d["performance_ci_high"] - d["performance"]).tolist(),
                         arrayminus=(d["performance"] - d["performance_ci_low"]).tolist(), thickness=1.2, width=3,
                         color=construct_color(c, constructs))
        fig.add_trace(go.Scatter(
            x=d["importance"], y=d["performance"], mode="markers+text", name=construct_label(c, lang),
            text=d[label_col] if len(df) <= 12 else d["driver"], cliponaxis=False,
            textposition="top right" if bars else "top center",  # beside the vertical bar, not on it
            marker=dict(size=14, color=construct_color(c, constructs), line=dict(width=1, color="white")),
            error_x=err_x, error_y=err_y,
            hovertemplate="%{text}<br>" + t("axis_importance", lang) + ": %{x:.3f}<br>"
                          + t("axis_performance", lang) + ": %{y:.1f}<extra></extra>"))
    if thresholds is None:
        imp, perf = df["importance"].to_numpy(float), df["performance"].to_numpy(float)
        thresholds = (float(np.nanmean(imp)), float(np.nanmean(perf)))
    i_thr, p_thr = thresholds
    fig.add_vline(x=i_thr, line=dict(color="#888", dash="dash", width=1))
    fig.add_hline(y=p_thr, line=dict(color="#888", dash="dash", width=1))
    xs, ys = df["importance"].to_numpy(float), df["performance"].to_numpy(float)
    if bars:  # the axes hold the whole bars
        xs = np.concatenate([xs, df["importance_ci_low"].to_numpy(float), df["importance_ci_high"].to_numpy(float)])
        ys = np.concatenate([ys, df["performance_ci_low"].to_numpy(float), df["performance_ci_high"].to_numpy(float)])
    xr = (min(np.nanmin(xs), i_thr), max(np.nanmax(xs), i_thr))
    yr = (min(np.nanmin(ys), p_thr), max(np.nanmax(ys), p_thr))
    padx, pady = (xr[1] - xr[0]) * 0.15 + 1e-3, (yr[1] - yr[0]) * 0.15 + 1
    for key, x, y, xa, ya in (("quad_improve", xr[1] + padx, yr[0] - pady, "right", "bottom"),
                              ("quad_keep", xr[1] + padx, yr[1] + pady, "right", "top"),
                              ("quad_low", xr[0] - padx, yr[0] - pady, "left", "bottom"),
                              ("quad_overkill", xr[0] - padx, yr[1] + pady, "left", "top")):
        fig.add_annotation(x=x, y=y, text=t(key, lang), showarrow=False, xanchor=xa, yanchor=ya,
                           font=dict(color="#C62828" if key == "quad_improve" else "#666", size=12))
    fig.update_xaxes(title=t("axis_importance", lang), range=[xr[0] - padx, xr[1] + padx])
    fig.update_yaxes(title=t("axis_performance", lang), range=[yr[0] - pady, yr[1] + pady])
    return _layout(fig, title or t("ov_matrix", lang), height=420)


def bands_chart(shares: pd.DataFrame, lang: str, title: str | None = None) -> go.Figure:
    """Share of respondents in each satisfaction band: ``shares`` has label_en, label_zh, share (0–1)."""
    label_col = "label_zh" if lang == "zh" else "label_en"
    colors = list(BAND_COLORS[: len(shares)])
    fig = go.Figure(go.Bar(x=shares[label_col], y=100 * shares["share"].astype(float), marker_color=colors,
                           text=[f"{100 * s:.0f}%" for s in shares["share"].astype(float)], textposition="outside",
                           hovertemplate="%{x}: %{y:.1f}%<extra></extra>"))
    fig.update_yaxes(title=t("axis_share", lang), range=[0, max(5.0, 100 * float(shares["share"].max()) * 1.2)])
    fig.update_traces(cliponaxis=False)
    return _layout(fig, title or t("ov_bands", lang), height=320)


def brand_chart(df: pd.DataFrame, lang: str, own: str | None, title: str | None = None) -> go.Figure:
    """Satisfaction index by brand (``df``: brand, index, ci_low, ci_high), own brand highlighted."""
    d = df.sort_values("index", ascending=True)
    colors = [OWN_COLOR if own is not None and str(b) == str(own) else OTHER_COLOR for b in d["brand"]]
    err = None
    if {"ci_low", "ci_high"} <= set(d.columns) and np.isfinite(d["ci_low"].to_numpy(float)).any():
        err = dict(type="data", symmetric=False, array=(d["ci_high"] - d["index"]).tolist(),
                   arrayminus=(d["index"] - d["ci_low"]).tolist(), color="#444")
    # the own brand's note on a second line: a long brand name plus the note was clipped in a narrow column
    names = [f"{html.escape(str(b), quote=False)}<br>({t('own_brand', lang)})" if own is not None and str(b) == str(own)
             else html.escape(str(b), quote=False) for b in d["brand"]]
    fig = go.Figure(go.Bar(y=names, x=d["index"], orientation="h", marker_color=colors, error_x=err,
                           text=[f"{v:.1f}" for v in d["index"]], textposition="inside", insidetextanchor="middle",
                           hovertemplate="%{y}: %{x:.1f}<extra></extra>"))
    # Indices live on 0–100: the full scale keeps bars, their intervals and labels inside the axis
    # (an autorange ended at the last 20-point tick, so a 73 bar overran the "60" end of the axis).
    top = 100.0
    if err is not None:
        top = max(top, float(np.nanmax(d["ci_high"].to_numpy(float))) + 2)
    fig.update_xaxes(title=t("axis_index", lang), range=[0, top], tick0=0, dtick=25, tickangle=0)
    fig.update_yaxes(automargin=True)
    fig.update_traces(cliponaxis=False)
    fig = _layout(fig, title or t("ov_brands", lang), height=max(240, 60 + 45 * len(d)))
    fig.update_layout(margin=dict(r=30))  # room for the "100" tick label at the right end of the axis
    return fig


def bar_chart(df: pd.DataFrame, x: str, y: str, lang: str, title: str, color_by: str | None = None,
              ytitle: str | None = None, constructs: tuple[str, ...] = (),
              yrange: tuple[float, float] | None = None) -> go.Figure:
    """A plain bar chart; when ``color_by`` names a construct column, bars take construct colours.

    ``yrange`` fixes the axis (e.g. (0, 100) for index scores); otherwise it fits the bars with room
    for the value printed outside each bar, above and below zero."""
    colors = [construct_color(str(c), constructs) for c in df[color_by]] if color_by else "#0072B2"
    values = pd.to_numeric(df[y], errors="coerce").to_numpy(float)
    fig = go.Figure(go.Bar(x=df[x].astype(str), y=values, marker_color=colors,
                           text=[f"{v:.1f}" if math.isfinite(v) else "" for v in values],
                           textposition="outside", cliponaxis=False))
    if yrange is None:
        finite = values[np.isfinite(values)]
        lo, hi = (min(0.0, float(finite.min())), max(0.0, float(finite.max()))) if len(finite) else (0.0, 1.0)
        pad = 0.15 * ((hi - lo) or 1.0)
        yrange = (lo - (pad if lo < 0 else 0.0), hi + (pad if hi > 0 else 0.0))
    fig.update_yaxes(title=ytitle or y, range=list(yrange))
    return _layout(fig, title, height=360)


def grouped_index_chart(df: pd.DataFrame, group_col: str, lang: str, title: str,
                        constructs: tuple[str, ...] = ()) -> go.Figure:
    """Index per construct (x) for each group (bars side by side). ``df``: group_col, construct, index."""
    fig = go.Figure()
    groups = list(dict.fromkeys(df[group_col].astype(str)))
    shades = ("#1B4F72", "#D55E00", "#7F7F7F", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
    order = list(dict.fromkeys(df["construct"]))
    for k, g in enumerate(groups):
        d = df[df[group_col].astype(str) == g].set_index("construct").reindex(order)
        fig.add_trace(go.Bar(x=[construct_label(c, lang) for c in order], y=d["index"], name=g,
                             marker_color=shades[k % len(shades)],
                             hovertemplate=f"{g}<br>%{{x}}: %{{y:.1f}}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=t("axis_index", lang), range=[0, 100])
    return _layout(fig, title, height=380)


def _layered(spec) -> dict[str, tuple[float, float]]:
    """(x, y) of a custom model's constructs: a column per structural depth, layers alternately shifted up and
    down so a chain of single constructs is not one straight line."""
    depth: dict[str, int] = {}
    for c in spec.constructs:  # topological order: predecessors are already placed
        depth[c] = 1 + max((depth[p] for p in spec.predecessors(c)), default=-1)
    layers: dict[int, list[str]] = {}
    for c in spec.constructs:
        layers.setdefault(depth[c], []).append(c)
    return {c: (1.4 * float(d), 1.6 * ((len(cs) - 1) / 2.0 - k) + (0.7 if d % 2 else -0.7))
            for d, cs in layers.items() for k, c in enumerate(cs)}


def path_diagram(spec, paths: pd.DataFrame, lang: str, r2: dict[str, float] | None = None,
                 index: dict[str, float] | None = None, title: str | None = None,
                 outer: pd.DataFrame | None = None, items: dict[str, tuple[str, str]] | None = None) -> go.Figure:
    """The structural model: constructs as nodes (R², index), arrows with coefficients.

    ``paths``: columns ``from``, ``to``, ``estimate`` and optionally ``p_value`` (significance
    stars, :func:`csi.report.present.stars`) — one row per structural path. Arrow width grows with
    |estimate|; non-significant paths are grey when p-values are given.

    ``outer``: the engine's parameter table (:func:`csi.engine.params.pls_params`: lhs, op, rhs, estimate,
    p_value) draws each construct's indicators around it (:func:`_outer_diagram`); ``items`` ``{code: (en, zh)}``
    gives their question texts (hover).
    """
    r2, index = r2 or {}, index or {}
    constructs = tuple(spec.constructs)
    if outer is not None:
        return _outer_diagram(spec, paths, lang, r2, index, title, outer, items or {})
    if set(constructs) <= set(STANDARD_LAYOUT):
        # The textbook CSI picture, checked so that no arrow passes through another construct.
        pos = {c: STANDARD_LAYOUT[c] for c in constructs}
    else:
        pos = _layered(spec)
    fig = go.Figure()
    xs_all = [p[0] for p in pos.values()]
    ys_all = [p[1] for p in pos.values()]
    xrange_ = (min(xs_all) - 0.5, max(xs_all) + 0.5)
    yrange_ = (min(ys_all) - 0.8, max(ys_all) + 0.8)
    height = 480
    # pixels per data unit at the narrowest layout the app supports (a 1024 px window: ~600 px of chart), so arrows
    # stop at or outside a node's rim at every width and never cross its label (at 1440 px they stop a little short)
    sx = 600.0 / (xrange_[1] - xrange_[0])
    sy = (height - 60.0) / (yrange_[1] - yrange_[0])
    rim = 48.0
    for r in paths.to_dict("records"):
        frm, to, est = r["from"], r["to"], float(r["estimate"])
        p = r.get("p_value")
        p = None if p is None or not np.isfinite(p) else float(p)
        (x0, y0), (x1, y1) = pos[frm], pos[to]
        sig = p is None or p < 0.05
        width = 1 + 8 * min(1.0, abs(est))
        color = "#37474F" if sig else "#B0BEC5"
        mark = stars(p)
        mark = " " + mark if mark == "n.s." else mark
        # shorten both ends so the arrow runs from rim to rim
        dx, dy = x1 - x0, y1 - y0
        f = rim / (math.hypot(dx * sx, dy * sy) or 1.0)
        bx, by, ex, ey = x0 + f * dx, y0 + f * dy, x1 - f * dx, y1 - f * dy
        fig.add_annotation(x=ex, y=ey, ax=bx, ay=by, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=max(0.6, 3.0 / width), arrowwidth=width, arrowcolor=color, opacity=0.9)
        fig.add_annotation(x=(bx + ex) / 2, y=(by + ey) / 2, text=f"{est:.2f}{mark}", showarrow=False,
                           font=dict(size=12, color="#263238"), bgcolor="rgba(255,255,255,0.85)")
    xs = [pos[c][0] for c in constructs]
    ys = [pos[c][1] for c in constructs]
    text = [_node_text(c, lang, r2, index) for c in constructs]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", text=text, textposition="middle center",
                             marker=dict(size=90, color=[_rgba(construct_color(c, constructs), 0.25) for c in constructs],
                                         line=dict(width=2, color=[construct_color(c, constructs) for c in constructs])),
                             hoverinfo="text", showlegend=False, textfont=dict(size=11)))
    fig.update_xaxes(visible=False, range=list(xrange_))
    fig.update_yaxes(visible=False, range=list(yrange_))
    fig = _layout(fig, title or t("path_title", lang), height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _node_text(c: str, lang: str, r2: dict, index: dict) -> str:
    """A construct node's label: its name (two lines when long), R² of an endogenous construct, its index."""
    name = html.escape(construct_label(c, lang), quote=False)
    if len(name) > 10 and " " in name:  # "Perceived quality" is wider than its node: two lines
        name = "<br>".join(name.split(" ", 1))
    lines = [f"<b>{name}</b>"]
    if c in r2 and r2[c] is not None and np.isfinite(r2[c]):
        lines.append(f"{t('r2', lang)} = {r2[c]:.2f}")
    if c in index and index[c] is not None and np.isfinite(index[c]):
        lines.append(f"{index[c]:.1f}")
    return "<br>".join(lines)


# The indicator diagram is laid out in pixels of a design canvas OUTER_WIDTH wide (the plot area in a 1024 px window;
# wider windows only stretch it sideways, which moves labels apart): construct nodes of radius _NODE, each indicator
# a box at _RING from its construct's centre, the loading / weight label on its line at _LABEL_R, neighbouring
# indicators _STEP degrees apart (at _LABEL_R two 34 × 16 px labels clear each other in every direction, and a label
# clears its own indicator's box); _FAN is the margin a fan needs to the canvas' side.
OUTER_WIDTH = 540.0
_NODE, _RING, _LABEL_R, _STEP, _FAN = 45.0, 120.0, 84.0, 27.0, 138.0
_LABEL_BOX, _PATH_BOX, _ITEM_BOX = (34.0, 16.0), (50.0, 16.0), (22.0, 22.0)
# the standard constructs on that canvas (px, y up): every arrow of the CCSI/ECSI/ACSI models clears every other
# node's rim by >= 15 px, the diagonals' labels sit apart and the nodes are >= 180 px apart (room for the fans)
OUTER_LAYOUT = {"IMAG": (420.0, 40.0), "EXPE": (240.0, 0.0), "QUAL": (140.0, -170.0), "VAL": (155.0, -400.0),
                "SAT": (330.0, -500.0), "COMP": (155.0, -650.0), "LOY": (400.0, -760.0)}


def outer_edges(spec, params: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator (model order): construct, indicator, number (1… within its block), kind (``loading``
    for a reflective block, mode A; ``weight`` for a formative one, mode B), estimate, p_value and ``significant``
    (p < 0.05; NA without a bootstrap). ``params``: the engine's parameter table (lhs, op, rhs, estimate, p_value)."""
    p = params.set_index(["op", "lhs", "rhs"])
    rows = []
    for c in spec.constructs:
        kind, op = ("weight", "<~") if spec.modes.get(c, "A") == "B" else ("loading", "=~")
        for k, i in enumerate(spec.blocks[c], start=1):
            est = p["estimate"].get((op, c, i), np.nan)
            pv = p["p_value"].get((op, c, i), np.nan) if "p_value" in p.columns else np.nan
            pv = float(pv) if pv is not None and np.isfinite(pv) else np.nan
            rows.append({"construct": c, "indicator": i, "number": k, "kind": kind, "estimate": float(est),
                         "p_value": pv, "significant": pd.NA if np.isnan(pv) else bool(pv < 0.05)})
    return pd.DataFrame(rows)


def _seg_dist(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of points ``X (..., 2)`` to the segments ``a → b`` (each ``(s, 2)``): ``(..., s)``."""
    ab = b - a
    rel = X[..., None, :] - a
    u = np.clip((rel * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    return np.hypot(*np.moveaxis(rel - u[..., None] * ab, -1, 0))


def _box_overlap(p: np.ndarray, sp: tuple, q: np.ndarray, sq: tuple) -> float:
    """Overlap area (px²) of two boxes of sizes ``sp``, ``sq`` centred at ``p``, ``q``."""
    ox = (sp[0] + sq[0]) / 2 - abs(p[0] - q[0])
    oy = (sp[1] + sq[1]) / 2 - abs(p[1] - q[1])
    return max(0.0, ox) * max(0.0, oy)


def _fan_angles(k: int, theta: float) -> np.ndarray:
    step = min(_STEP, 320.0 / max(1, k - 1))
    return np.radians(theta + (np.arange(k) - (k - 1) / 2.0) * step)


def _place_fans(pos: dict, blocks: dict, segments: list, path_labels: list, width: float) -> dict:
    """The fan direction (degrees) of every construct's indicators: the direction, in 5° steps, whose boxes and
    labels stay inside the canvas and clear the other nodes, the arrows, the path labels and the fans already
    placed (largest blocks first); ties go to the middle of the widest gap between the construct's arrows."""
    placed: list[tuple[np.ndarray, tuple]] = [(np.asarray(q), _PATH_BOX) for q in path_labels]
    out = {}
    for c in sorted(pos, key=lambda c: -len(blocks[c])):
        P = np.asarray(pos[c], float)
        k = len(blocks[c])
        dirs = sorted(math.degrees(math.atan2(q[1] - P[1], q[0] - P[0])) % 360
                      for d, q in pos.items() if d != c and np.hypot(*(np.asarray(q) - P)) < 4 * _FAN)
        gap_mid = 90.0
        if dirs:
            gaps = [((dirs[(j + 1) % len(dirs)] - dirs[j]) % 360 or 360, dirs[j]) for j in range(len(dirs))]
            g, start = max(gaps)
            gap_mid = (start + g / 2) % 360
        # every direction at once: (T thetas, k indicators, 2)
        thetas = np.arange(0.0, 360.0, 5.0)
        a = np.stack([_fan_angles(k, th) for th in thetas])
        U = np.stack([np.cos(a), np.sin(a)], axis=-1)
        box, lab = P + _RING * U, P + _LABEL_R * U
        relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
        half = _ITEM_BOX[0] / 2 + 4
        cost = 0.01 * np.minimum(abs(thetas - gap_mid), 360 - abs(thetas - gap_mid))
        cost = cost + 1000.0 * (relu(half - box[..., 0]) + relu(box[..., 0] + half - width)).sum(-1)
        others = np.array([q for d, q in pos.items() if d != c], float).reshape(-1, 2)
        for X, clear in ((box, _NODE + 18), (lab, _NODE + 20)):
            dist = np.hypot(*np.moveaxis(X[..., None, :] - others, -1, 0))
            cost = cost + 10.0 * relu(clear - dist).sum((-1, -2))
        if segments:
            s0 = np.array([g[0] for g in segments], float)
            s1 = np.array([g[1] for g in segments], float)
            cost = cost + 5.0 * (relu(14 - _seg_dist(box, s0, s1)).sum((-1, -2))
                                 + relu(12 - _seg_dist(lab, s0, s1)).sum((-1, -2)))
        if placed:
            C = np.array([q for q, _ in placed], float)
            Z = np.array([z for _, z in placed], float)
            for X, size in ((box, _ITEM_BOX), (lab, _LABEL_BOX)):
                d = abs(X[..., None, :] - C)
                ov = relu((np.asarray(size) + Z) / 2 - d)
                cost = cost + 20.0 * (ov[..., 0] * ov[..., 1]).sum((-1, -2))
        j = int(np.flatnonzero(cost <= cost.min() + 1e-9)[0])  # the first of equal directions, as a loop would
        best = (float(cost[j]), float(thetas[j]))
        out[c] = best[1]
        for a in _fan_angles(k, best[1]):
            u = np.array([math.cos(a), math.sin(a)])
            placed += [(P + _RING * u, _ITEM_BOX), (P + _LABEL_R * u, _LABEL_BOX)]
    return out


def _outer_diagram(spec, paths: pd.DataFrame, lang: str, r2: dict, index: dict, title, params: pd.DataFrame,
                   items: dict) -> go.Figure:
    """The path model with every construct's indicators fanned out around it: the line to an indicator carries
    its outer loading (reflective, mode A) or weight (formative, mode B), solid when significant at 5 % (or when
    there is no bootstrap), dashed when not; R² and index inside the constructs."""
    constructs = tuple(spec.constructs)
    edges = outer_edges(spec, params)
    # the usual picture turned a quarter: the model's long axis runs down the page, where the figure can grow
    if set(constructs) <= set(OUTER_LAYOUT):
        pos = {c: np.array(OUTER_LAYOUT[c], float) for c in constructs}
    else:
        rot = {c: (y, -x) for c, (x, y) in _layered(spec).items()}
        xs = [p[0] for p in rot.values()]
        span = (max(xs) - min(xs)) or 1.0
        sx = (OUTER_WIDTH - 2 * _FAN) / span
        sy = max(150.0, sx)
        x0 = min(xs) if max(xs) > min(xs) else min(xs) - span / 2
        pos = {c: np.array([_FAN + (x - x0) * sx, y * sy]) for c, (x, y) in rot.items()}

    fig = go.Figure()
    anns: list[dict] = []  # set once: plotly re-validates every annotation on each add_annotation
    segments, mids = [], []
    for r in paths.to_dict("records"):
        a, b = pos[r["from"]], pos[r["to"]]
        f = _NODE / (float(np.hypot(*(b - a))) or 1.0)
        s0, s1 = a + f * (b - a), b - f * (b - a)
        segments.append((s0, s1))
        # the label at the middle of its arrow, or nearer an end when another arrow's label or a node is there
        for u in (0.5, 0.4, 0.6, 0.3, 0.7, 0.5):
            m = s0 + u * (s1 - s0)
            if not any(_box_overlap(m, _PATH_BOX, q, _PATH_BOX) for q in mids) and all(
                    float(np.hypot(*(m - q))) > _NODE + 12 for q in pos.values()):
                break
        mids.append(m)
    fans = _place_fans(pos, dict(spec.blocks), segments, mids, OUTER_WIDTH)

    for r, (s0, s1), m in zip(paths.to_dict("records"), segments, mids):
        est = float(r["estimate"])
        p = r.get("p_value")
        p = None if p is None or not np.isfinite(p) else float(p)
        sig = p is None or p < 0.05
        width = 1 + 8 * min(1.0, abs(est))
        mark = stars(p)
        mark = " " + mark if mark == "n.s." else mark
        anns.append(dict(x=s1[0], y=s1[1], ax=s0[0], ay=s0[1], xref="x", yref="y", axref="x", ayref="y",
                         showarrow=True, arrowhead=3, arrowsize=max(0.6, 3.0 / width), arrowwidth=width,
                         arrowcolor="#37474F" if sig else "#B0BEC5", opacity=0.9))
        anns.append(dict(x=m[0], y=m[1], text=f"{est:.2f}{mark}", showarrow=False, name=f"path:{r['from']}>{r['to']}",
                         font=dict(size=12, color="#263238"), bgcolor="rgba(255,255,255,0.85)"))

    ix, iy, itext, ihover, icolor, iline, lines = [], [], [], [], [], [], []
    for c in constructs:
        P, color = pos[c], construct_color(c, constructs)
        block = edges[edges["construct"] == c]
        for a, e in zip(_fan_angles(len(block), fans[c]), block.itertuples(index=False)):
            u = np.array([math.cos(a), math.sin(a)])
            s0, s1 = P + _NODE * u, P + (_RING - _ITEM_BOX[0] / 2 - 1) * u
            dashed = e.significant is not pd.NA and not e.significant
            lines.append(go.Scatter(x=[s0[0], s1[0]], y=[s0[1], s1[1]], mode="lines", hoverinfo="skip",
                                    showlegend=False, name=f"outer:{e.indicator}",
                                    line=dict(color=color, width=1.6, dash="dash" if dashed else "solid")))
            lab = P + _LABEL_R * u
            anns.append(dict(x=lab[0], y=lab[1], text=f"{e.estimate:.2f}".replace("-", "−"), showarrow=False,
                             name=f"outer:{e.indicator}", font=dict(size=11, color="#263238"),
                             bgcolor="rgba(255,255,255,0.9)"))
            box = P + _RING * u
            ix.append(box[0])
            iy.append(box[1])
            itext.append(str(e.number))
            en, zh = items.get(e.indicator, ("", ""))
            q = html.escape(str(zh if lang == "zh" else en) or construct_label(c, lang), quote=False)
            colon = "：" if lang == "zh" else ": "
            what = t("md_outer_weight" if e.kind == "weight" else "md_outer_loading", lang)
            pv = "" if np.isnan(e.p_value) else present_p(e.p_value)
            ihover.append(f"{html.escape(construct_label(c, lang), quote=False)} {e.number}{colon}{q}<br>"
                          + f"{what} = {e.estimate:.3f}"
                          + (f", p {'' if pv.startswith('<') else '= '}{pv}" if pv else ""))
            icolor.append(_rgba(color, 0.18))
            iline.append(color)
    fig.add_traces(lines)  # at once: one add_trace per line re-validates the figure every time
    fig.add_trace(go.Scatter(x=ix, y=iy, mode="markers+text", text=itext, textposition="middle center",
                             hovertext=ihover, hoverinfo="text", showlegend=False, name="indicators",
                             marker=dict(symbol="square", size=_ITEM_BOX[0], color=icolor,
                                         line=dict(width=1.5, color=iline)),
                             textfont=dict(size=10, color="#263238")))
    fig.add_trace(go.Scatter(x=[pos[c][0] for c in constructs], y=[pos[c][1] for c in constructs],
                             mode="markers+text", text=[_node_text(c, lang, r2, index) for c in constructs],
                             textposition="middle center", hoverinfo="text", showlegend=False, name="constructs",
                             marker=dict(size=2 * _NODE,
                                         color=[_rgba(construct_color(c, constructs), 0.25) for c in constructs],
                                         line=dict(width=2, color=[construct_color(c, constructs)
                                                                   for c in constructs])),
                             textfont=dict(size=11)))
    fig.update_layout(annotations=anns)
    ys = [p[1] for p in pos.values()] + iy
    lo, hi = min(ys) - _NODE - 8, max(ys) + _NODE + 8
    # one pixel per unit both ways: a wider column centres the drawing instead of stretching its lines away from
    # the (fixed-size) nodes
    fig.update_xaxes(visible=False, range=[0.0, OUTER_WIDTH], constrain="domain")
    fig.update_yaxes(visible=False, range=[lo, hi], scaleanchor="x", scaleratio=1, constrain="domain")
    fig = _layout(fig, title or t("path_title_outer", lang), height=int(round(hi - lo)) + 60)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10))
    return fig
