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


def ipma_chart(df: pd.DataFrame, lang: str, thresholds: tuple[float, float] | None = None,
               title: str | None = None, constructs: tuple[str, ...] = ()) -> go.Figure:
    """Importance (x) against performance (y), coloured by construct, with quadrant lines.

    ``df``: the frame of ``csi.priorities.ipma`` (driver, construct, importance, performance,
    label_en, label_zh, quadrant).
    """
    fig = go.Figure()
    label_col = "label_zh" if lang == "zh" else "label_en"
    for c in dict.fromkeys(df["construct"]):
        d = df[df["construct"] == c]
        fig.add_trace(go.Scatter(
            x=d["importance"], y=d["performance"], mode="markers+text", name=construct_label(c, lang),
            text=d[label_col] if len(df) <= 12 else d["driver"], textposition="top center", cliponaxis=False,
            marker=dict(size=14, color=construct_color(c, constructs), line=dict(width=1, color="white")),
            hovertemplate="%{text}<br>" + t("axis_importance", lang) + ": %{x:.3f}<br>"
                          + t("axis_performance", lang) + ": %{y:.1f}<extra></extra>"))
    if thresholds is None:
        imp, perf = df["importance"].to_numpy(float), df["performance"].to_numpy(float)
        thresholds = (float(np.nanmean(imp)), float(np.nanmean(perf)))
    i_thr, p_thr = thresholds
    fig.add_vline(x=i_thr, line=dict(color="#888", dash="dash", width=1))
    fig.add_hline(y=p_thr, line=dict(color="#888", dash="dash", width=1))
    xs, ys = df["importance"].to_numpy(float), df["performance"].to_numpy(float)
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


def path_diagram(spec, paths: pd.DataFrame, lang: str, r2: dict[str, float] | None = None,
                 index: dict[str, float] | None = None, title: str | None = None) -> go.Figure:
    """The structural model: constructs as nodes (R², index), arrows with coefficients.

    ``paths``: columns ``from``, ``to``, ``estimate`` and optionally ``p_value`` (significance
    stars) — one row per structural path. Arrow width grows with |estimate|; non-significant
    paths are dashed grey when p-values are given.
    """
    r2, index = r2 or {}, index or {}
    constructs = tuple(spec.constructs)
    depth: dict[str, int] = {}
    for c in constructs:  # topological order: predecessors are already placed
        preds = spec.predecessors(c)
        depth[c] = 1 + max((depth[p] for p in preds), default=-1)
    layers: dict[int, list[str]] = {}
    for c in constructs:
        layers.setdefault(depth[c], []).append(c)
    pos = {}
    if set(constructs) <= set(STANDARD_LAYOUT):
        # The textbook CSI picture, checked so that no arrow passes through another construct.
        pos = {c: STANDARD_LAYOUT[c] for c in constructs}
    else:
        for d, cs in layers.items():
            for k, c in enumerate(cs):
                # alternate layers up/down so a chain of single constructs is not one straight line
                pos[c] = (1.4 * float(d), 1.6 * ((len(cs) - 1) / 2.0 - k) + (0.7 if d % 2 else -0.7))
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
        stars = "" if p is None else ("***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else " n.s.")
        # shorten both ends so the arrow runs from rim to rim
        dx, dy = x1 - x0, y1 - y0
        f = rim / (math.hypot(dx * sx, dy * sy) or 1.0)
        bx, by, ex, ey = x0 + f * dx, y0 + f * dy, x1 - f * dx, y1 - f * dy
        fig.add_annotation(x=ex, y=ey, ax=bx, ay=by, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=max(0.6, 3.0 / width), arrowwidth=width, arrowcolor=color, opacity=0.9)
        fig.add_annotation(x=(bx + ex) / 2, y=(by + ey) / 2, text=f"{est:.2f}{stars}", showarrow=False,
                           font=dict(size=12, color="#263238"), bgcolor="rgba(255,255,255,0.85)")
    xs = [pos[c][0] for c in constructs]
    ys = [pos[c][1] for c in constructs]
    text = []
    for c in constructs:
        name = html.escape(construct_label(c, lang), quote=False)
        if len(name) > 10 and " " in name:  # "Perceived quality" is wider than its node: two lines
            name = "<br>".join(name.split(" ", 1))
        lines = [f"<b>{name}</b>"]
        if c in r2 and r2[c] is not None and np.isfinite(r2[c]):
            lines.append(f"{t('r2', lang)} = {r2[c]:.2f}")
        if c in index and index[c] is not None and np.isfinite(index[c]):
            lines.append(f"{index[c]:.1f}")
        text.append("<br>".join(lines))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", text=text, textposition="middle center",
                             marker=dict(size=90, color=[_rgba(construct_color(c, constructs), 0.25) for c in constructs],
                                         line=dict(width=2, color=[construct_color(c, constructs) for c in constructs])),
                             hoverinfo="text", showlegend=False, textfont=dict(size=11)))
    fig.update_xaxes(visible=False, range=list(xrange_))
    fig.update_yaxes(visible=False, range=list(yrange_))
    fig = _layout(fig, title or t("path_title", lang), height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10))
    return fig
