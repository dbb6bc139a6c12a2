"""Result files: tidy CSV tables, ``fit.json``, ``manifest.json`` and ``model.lavaan``.

:func:`safe_csv` is the one CSV writer of the product (the app and the report reuse it): UTF-8 with a
BOM-free header, no index, and text cells that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-`` or ``@``, also after leading tab/CR, per OWASP "CSV injection") prefixed with ``'``.
Numbers are never touched: a negative path coefficient stays ``-0.12``.
"""
from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from csi.errors import CSIError

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _escape_cell(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(_TRIGGERS):
        return "'" + v
    return v


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with formula-like TEXT cells (and column names) escaped; numbers unchanged."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        out[c] = s.map(_escape_cell, na_action="ignore") if not isinstance(s.dtype, pd.CategoricalDtype) \
            else s.astype(object).map(_escape_cell, na_action="ignore")
    out.columns = [_escape_cell(str(c)) for c in out.columns]
    return out


def safe_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write ``df`` as UTF-8 CSV at ``path`` with spreadsheet-formula text escaped (see module doc).

    ``index=True`` writes the index as the first column (escaped like any text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = df.reset_index() if index else df
    escape_frame(frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def jsonable(o: Any) -> Any:
    """Plain JSON values: numpy numbers as Python numbers, non-finite numbers and pandas NA as None, paths and
    other objects as text (the one rule for every manifest and JSON download)."""
    if o is pd.NA or o is pd.NaT:
        return None
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, Path):
        return str(o)
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return str(o)


def write_json(obj: Any, path: str | Path) -> Path:
    """UTF-8 JSON (non-finite numbers become ``null``; Chinese text kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# table name → does it keep its index as a column
_TABLES = ("params", "paths", "outer", "constructs", "effects", "htmt", "scores", "cross_loadings", "f2", "priorities",
           "indirect", "predict", "nca", "bottlenecks")


def write_results(fit, out_dir: str | Path) -> dict[str, Path]:
    """Write a :class:`csi.fit.FitResult` into ``out_dir`` (created if needed).

    Files: one CSV per table present (``params``, ``paths``, ``outer``, ``constructs``, ``effects``, ``htmt``,
    ``scores``, ``cross_loadings``, ``f2``, ``priorities``; ``indirect`` after a bootstrap; ``predict``, ``nca``,
    ``bottlenecks`` when asked for), ``fit.json`` (CB-SEM fit statistics; PLS: SRMR, d_ULS, d_G, NFI of the saturated
    and estimated model, with Bollen-Stine quantiles after a bootstrap), ``manifest.json`` and ``model.lavaan``.
    Returns ``{file name: path}``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CSIError(f"cannot create the output folder {str(out)!r}: {e.strerror or e}") from None
    if not out.is_dir():
        raise CSIError(f"the output path {str(out)!r} is not a folder")
    written: dict[str, Path] = {}
    try:
        for name in _TABLES:
            if name in fit.tables and fit.tables[name] is not None:
                written[f"{name}.csv"] = safe_csv(fit.tables[name], out / f"{name}.csv")
        written["fit.json"] = write_json(fit.fit or {}, out / "fit.json")
        manifest = dict(fit.manifest)
        manifest["files"] = sorted([*written, "manifest.json", "model.lavaan"])
        written["manifest.json"] = write_json(manifest, out / "manifest.json")
        p = out / "model.lavaan"
        p.write_text(fit.manifest.get("model_syntax", ""), encoding="utf-8")
        written["model.lavaan"] = p
    except OSError as e:
        raise CSIError(f"cannot write results into {str(out)!r}: {e.strerror or e}") from None
    return written


# ------------------------------------------------------------------ what the tables and their columns mean
#: table name → what it is (English, 简体中文): the workbook's README sheet; unknown tables fall back to the
#: dashboard's table titles (``tbl_*`` in csi.text.i18n), then to their name
TABLE_DOCS: dict[str, tuple[str, str]] = {
    "params": ("Parameter table in lavaan's terms (lhs, op, rhs): every estimate with its bootstrap standard error, "
               "p-value and interval",
               "lavaan 形式的参数表（lhs、op、rhs）：每个估计值及其自助法标准误、p 值与区间"),
    "paths": ("Path coefficients between constructs", "潜变量之间的路径系数"),
    "outer": ("Outer weights and loadings of every item", "每个题项的外部权重与载荷"),
    "constructs": ("Constructs: R², reliability (alpha, rho_A, rho_C), AVE and the 0-100 index",
                   "潜变量：R²、信度（alpha、rho_A、rho_C）、AVE 与 0-100 指数"),
    "effects": ("Direct, indirect and total effects", "直接、间接与总效应"),
    "htmt": ("Discriminant validity: heterotrait-monotrait ratios", "区分效度：异质-同质比率 (HTMT)"),
    "scores": ("Construct scores per respondent (standardised), with the respondent's wave and id to join back to "
               "the raw data; respondents dropped for missing answers are absent",
               "每位受访者的潜变量得分（标准化），附调查期与受访者编号以便与原始数据关联；因缺失作答而剔除的受访者不在其中"),
    "cross_loadings": ("Cross-loadings: each item's correlation with every construct", "交叉载荷：每个题项与各潜变量的相关"),
    "f2": ("Effect sizes f² of each path", "各路径的效应量 f²"),
    "priorities": ("Importance-performance map (IPMA): what to improve first", "重要性-表现分析 (IPMA)：优先改进什么"),
    "indirect": ("Mediation: specific and total indirect effects with bootstrap intervals and the mediation type",
                 "中介效应：特定与总间接效应、自助法区间及中介类型"),
    "predict": ("PLSpredict: out-of-sample prediction of each item, PLS against the linear-model benchmark",
                "PLSpredict：每个题项的样本外预测，PLS 与线性模型基准比较"),
    "nca": ("Necessary condition analysis (cIPMA): ceiling effect size d and its permutation p-value",
            "必要条件分析 (cIPMA)：天花板效应量 d 及其置换检验 p 值"),
    "bottlenecks": ("Bottleneck table: the level of each driver needed for a given target level",
                    "瓶颈表：达到给定目标水平所需的各驱动因素水平"),
    "simple_slopes": ("Simple slopes of each interaction term at the moderator's mean and ±1 SD",
                      "各交互项在调节变量均值及 ±1 个标准差处的简单斜率"),
    "micom": ("Measurement invariance (MICOM steps 2-3) of the two groups before the group comparison",
              "组间比较前两组的测量不变性（MICOM 第 2-3 步）"),
    "groups": ("Multi-group comparison of the paths (permutation and bootstrap MGA)", "路径的多组比较（置换与自助法 MGA）"),
    "model_fit": ("Model fit: SRMR, d_ULS, d_G, NFI (PLS) or the CB-SEM fit indices",
                  "模型拟合：SRMR、d_ULS、d_G、NFI（PLS）或 CB-SEM 拟合指数"),
    "indices": ("0-100 indices of the focus wave with intervals", "关注期的 0-100 指数及区间"),
    "trend": ("Index by wave", "各期指数"),
    "trends": ("Index by wave", "各期指数"),
    "changes": ("Change between waves with its verdict", "各期变化及其结论"),
    "brands": ("Indices of every brand", "各品牌指数"),
    "competitor_gap": ("Own brand against the competitor", "本品牌与竞争对手的差距"),
    "segments": ("Indices per segment value", "各细分群体的指数"),
    "nps": ("Net promoter score", "净推荐值"),
    "nps_by_wave": ("Net promoter score by wave", "各期净推荐值"),
    "wave_scales": ("Answer scales per wave", "各期量表范围"),
    "complaints": ("Complaint rate and complaint handling", "投诉率与投诉处理"),
    "bands": ("Share of respondents per satisfaction band", "各满意度区间的受访者占比"),
    "alerts": ("Alerts", "预警"),
    "industry": ("Industry indices", "行业指数"),
    "league": ("League table of the brands", "品牌排行榜"),
    "classic/hierarchy": ("Weighted index hierarchy: attributes", "加权指标体系：一级指标"),
    "classic/hierarchy_items": ("Weighted index hierarchy: items", "加权指标体系：题项"),
    "classic/fuzzy": ("Fuzzy comprehensive evaluation: attributes", "模糊综合评价：一级指标"),
    "classic/fuzzy_membership": ("Fuzzy comprehensive evaluation: item memberships", "模糊综合评价：题项隶属度"),
    "classic/gaps": ("Perception-expectation gaps", "感知-预期差距"),
    "classic/item_ranking": ("Items ranked by their 0-100 mean", "按 0-100 均值排序的题项"),
    "classic/key_drivers": ("Key-driver regression", "关键驱动因素回归"),
    "classic/index_weights": ("Index weights of the items", "题项的指数权重"),
    "classic/servqual": ("RATER/SERVQUAL gaps by dimension and item", "按维度与题项的 RATER/SERVQUAL 差距"),
    "classic/importance_gap": ("Importance against performance gap", "重要性与表现差距"),
    "classic/complaints_iceberg": ("Complaints iceberg: the silent dissatisfied", "投诉冰山：沉默的不满者"),
    "classic/ahp": ("AHP weights", "AHP 权重"),
}

#: column → what it means (English, 简体中文): the header comments and README of the workbook, the JSON download
COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "row": ("Row label of the analysed data (wave/respondent id for a store)", "所分析数据的行标签（数据库中为 调查期/受访者编号）"),
    "respondent_id": ("Respondent id as in the imported file", "导入文件中的受访者编号"),
    "wave": ("Survey wave", "调查期"),
    "brand": ("Brand", "品牌"),
    "construct": ("Construct (latent variable) code", "潜变量代码"),
    "indicator": ("Item (indicator) code", "题项代码"),
    "item": ("Item code", "题项代码"),
    "from": ("Predictor construct of the path", "路径的起点潜变量"),
    "to": ("Outcome construct of the path", "路径的终点潜变量"),
    "lhs": ("Left-hand side (lavaan)", "左侧（lavaan）"),
    "op": ("Operator: ~ path, =~ loading, <~ weight (lavaan)", "运算符：~ 路径，=~ 载荷，<~ 权重（lavaan）"),
    "rhs": ("Right-hand side (lavaan)", "右侧（lavaan）"),
    "estimate": ("Estimate (standardised coefficient)", "估计值（标准化系数）"),
    "std_error": ("Standard error (bootstrap for PLS)", "标准误（PLS 为自助法）"),
    "t": ("t statistic: estimate / standard error", "t 统计量：估计值 / 标准误"),
    "p_value": ("Two-sided p-value", "双侧 p 值"),
    "p": ("Two-sided p-value", "双侧 p 值"),
    "ci_low": ("Lower end of the confidence interval", "置信区间下限"),
    "ci_high": ("Upper end of the confidence interval", "置信区间上限"),
    "std_estimate": ("Standardised estimate", "标准化估计值"),
    "boot_mean": ("Mean of the bootstrap draws", "自助抽样结果的均值"),
    "weight": ("Outer weight", "外部权重"),
    "loading": ("Outer loading", "外部载荷"),
    "communality": ("Communality: squared loading", "共同度：载荷的平方"),
    "r2": ("R²: variance explained", "R²：解释方差"),
    "r2_adj": ("Adjusted R²", "调整 R²"),
    "alpha": ("Cronbach's alpha", "Cronbach alpha 系数"),
    "rho_a": ("Dijkstra-Henseler rho_A reliability", "Dijkstra-Henseler rho_A 信度"),
    "rho_c": ("Composite reliability rho_C", "组合信度 rho_C"),
    "ave": ("Average variance extracted", "平均方差抽取量 (AVE)"),
    "index": ("0-100 index: the construct's score on the items' scale rescaled to 0-100",
              "0-100 指数：按题项量表换算到 0-100 的潜变量得分"),
    "n": ("Number of respondents", "受访者人数"),
    "direct": ("Direct effect", "直接效应"),
    "indirect": ("Indirect effect", "间接效应"),
    "total": ("Total effect: direct + indirect", "总效应：直接 + 间接"),
    "f2": ("Effect size f²", "效应量 f²"),
    "htmt": ("Heterotrait-monotrait ratio", "异质-同质比率"),
    "importance": ("Importance: total effect on the target", "重要性：对目标的总效应"),
    "performance": ("Performance: 0-100 mean", "表现：0-100 均值"),
    "driver": ("Driver (construct or item)", "驱动因素（潜变量或题项）"),
    "target": ("Target construct", "目标潜变量"),
    "rank": ("Rank", "排名"),
    "quadrant": ("IPMA quadrant", "IPMA 象限"),
    "change": ("Change in index points", "指数变化（分）"),
    "significant": ("Significant at the chosen level", "在所选水平上显著"),
    "diff": ("Difference between the groups", "组间差异"),
    "gap": ("Gap", "差距"),
    "type": ("Mediation type (Zhao, Lynch & Chen 2010)", "中介类型（Zhao、Lynch 与 Chen 2010）"),
    "invariance": ("Measurement invariance: none, partial or full", "测量不变性：无、部分或完全"),
    "q2_predict": ("Q²predict of PLS: 1 - SSE / SSE of the training mean", "PLS 的 Q²predict：1 - SSE / 训练均值的 SSE"),
    "pls_rmse": ("Out-of-sample RMSE of PLS", "PLS 的样本外 RMSE"),
    "lm_rmse": ("Out-of-sample RMSE of the linear model", "线性模型的样本外 RMSE"),
    "d": ("NCA ceiling effect size d", "NCA 天花板效应量 d"),
    "necessary": ("Necessary condition (d ≥ 0.1 and p < 0.05)", "必要条件（d ≥ 0.1 且 p < 0.05）"),
    "slope": ("Simple slope at this moderator level", "该调节水平下的简单斜率"),
    "moderator_sd": ("Moderator level in standard deviations from its mean", "调节变量水平（距均值的标准差数）"),
    "group_a": ("First group", "第一组"),
    "group_b": ("Second group", "第二组"),
    "statistic": ("Fit statistic", "拟合统计量"),
    "value": ("Value", "值"),
    "model": ("Model (saturated or estimated)", "模型（饱和或估计）"),
}

_SUFFIX_DOCS = (  # derived columns: the base column's meaning + what the suffix adds
    ("_ci_low", ("lower end of the interval", "区间下限")), ("_ci_high", ("upper end of the interval", "区间上限")),
    ("_std_error", ("standard error", "标准误")), ("_se", ("standard error", "标准误")),
    ("_en", ("English", "英文")), ("_zh", ("Chinese", "中文")),
)


def column_doc(column: str, lang: str = "en") -> str | None:
    """What ``column`` means in ``lang`` (:data:`COLUMN_DOCS`, derived columns such as ``loading_ci_low`` from their
    base column, ``p_*`` as p-values, ``n_*`` as counts), or None when the column is not described."""
    k = 1 if lang == "zh" else 0
    col = str(column)
    if col in COLUMN_DOCS:
        return COLUMN_DOCS[col][k]
    for suffix, words in _SUFFIX_DOCS:
        base = col[: -len(suffix)]
        if col.endswith(suffix) and base in COLUMN_DOCS:
            return f"{COLUMN_DOCS[base][k]}: {words[k]}" if k == 0 else f"{COLUMN_DOCS[base][k]}：{words[k]}"
    if col.startswith("p_"):
        return (f"p-value ({col[2:]})", f"p 值（{col[2:]}）")[k]
    if col.startswith("n_"):
        return (f"Count ({col[2:]})", f"计数（{col[2:]}）")[k]
    return None


def table_doc(name: str, lang: str = "en") -> str:
    """What table ``name`` is in ``lang`` (:data:`TABLE_DOCS`, else the dashboard's table title, else the name)."""
    if name in TABLE_DOCS:
        return TABLE_DOCS[name][1 if lang == "zh" else 0]
    from csi.text.i18n import TEXT, t

    key = f"tbl_{name.replace('/', '_')}"
    return t(key, lang) if key in TEXT else name


# ------------------------------------------------------------------ number formats
_INT_COLUMNS = {"n", "rank", "draw", "complainants", "handling_n", "importance_rank", "customer_base", "iterations"}
_INDEX_COLUMNS = {"index", "index_a", "index_b", "own", "competitor", "performance", "mean_0_100", "sd_0_100", "nps",
                  "handling_index", "score", "priority_score", "relative_weight_pct", "required", "target_level"}
_INDEX_TABLE_MARKERS = {"index", "own", "index_a", "nps", "mean_0_100", "handling_index"}


def number_format(column: str, series: pd.Series, columns=()) -> str | None:
    """The Excel number format of a column: ``0`` for counts (``n``, ``n_*``, ``rank``, integer columns), ``0.000``
    for p-values, ``0.0`` for 0-100 indices (and the intervals, changes and gaps of a table of indices), ``0.000``
    for every other number (coefficients, loadings, R², …); None for text and booleans. Only the display: the
    cells keep every digit."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    col = str(column).lower()
    if pd.api.types.is_integer_dtype(series) or col in _INT_COLUMNS or col.startswith("n_"):
        return "0"
    if col in ("p", "p_value") or col.startswith("p_") or col.endswith("_p"):
        return "0.000"
    if col in _INDEX_COLUMNS or col.startswith("index_") or col.startswith("performance_"):
        return "0.0"
    if _INDEX_TABLE_MARKERS & {str(c).lower() for c in columns} and (
            col in ("ci_low", "ci_high", "change", "gap", "diff", "std_error") or col.startswith("gap_")):
        return "0.0"
    return "0.000"


# ------------------------------------------------------------------ tables of nested results
def fit_table(fit: Mapping | None) -> pd.DataFrame:
    """``fit.json`` as a table: model (``saturated``/``estimated`` for PLS, empty for CB-SEM's flat indices),
    statistic, value (numbers only; the sample size as statistic ``n``)."""
    rows = []
    for key, v in (fit or {}).items():
        if isinstance(v, Mapping):
            rows += [(str(key), str(s), float(x)) for s, x in v.items() if _number(x)]
        elif _number(v):
            rows.append(("", str(key), float(v)))
    return pd.DataFrame(rows, columns=["model", "statistic", "value"])


def _number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def manifest_rows(manifest: Mapping | None, prefix: str = "") -> list[tuple[str, str]]:
    """The manifest flattened to ``(setting, value)`` text pairs: nested keys joined with ``.``, lists of plain
    values joined with ``, ``, anything else as JSON."""
    out: list[tuple[str, str]] = []
    for k, v in (manifest or {}).items():
        key = f"{prefix}{k}"
        v = jsonable(v)
        if isinstance(v, dict) and v:
            out += manifest_rows(v, key + ".")
        elif isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
            out.append((key, ", ".join("" if x is None else str(x) for x in v)))
        elif isinstance(v, (dict, list)):
            out.append((key, json.dumps(v, ensure_ascii=False)))
        else:
            out.append((key, "" if v is None else str(v)))
    return out


# ------------------------------------------------------------------ CSV, Excel and JSON downloads
_SHEET_BAD = re.compile(r"[\[\]\*\?/\\:]")
_XLSX_CELL_MAX = 32_000  # Excel holds at most 32,767 characters in a cell


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV of ``df`` (no index) with formula-like text escaped; floats written round-trip exact."""
    return escape_frame(df).to_csv(index=False, lineterminator="\n").encode("utf-8")


def sheet_name(name: str, taken: set[str]) -> str:
    """An Excel-legal, unique sheet name (≤ 31 characters, none of ``[]*?/\\:``)."""
    base = _SHEET_BAD.sub("_", str(name))[:31] or "sheet"
    out, k = base, 2
    while out.lower() in taken:
        suffix = f"_{k}"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    taken.add(out.lower())
    return out


def _excel_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Excel cannot store timezone-aware datetimes or pandas NA in some dtypes: make them plain."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[c] = s.dt.tz_localize(None)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(object)
        elif str(s.dtype) in ("boolean", "Int64", "Float64", "string", "str"):
            out[c] = s.astype(object).where(s.notna(), None)
    return out


def _width(header: str, s: pd.Series) -> float:
    """A column width (characters) fitting the header and the first values (text) or a 3-decimal number."""
    n = len(str(header))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        body = 10
    else:
        head = s.head(200).dropna().astype(str)
        body = int(head.str.len().max()) if len(head) else 0
    return float(min(60, max(8, n, body) + 2))


def _readme(ws, sheets: list[tuple[str, str, pd.DataFrame]], manifest: Mapping, lang: str) -> None:
    from openpyxl.styles import Font

    from csi.text.i18n import t

    def section(title: str | None, header: list[str], rows) -> None:
        if title is not None:
            ws.append([])
            ws.append([t(title, lang)])
            ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.append([t(h, lang) for h in header])
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
        for r in rows:
            ws.append([_escape_cell(v) for v in r])

    ws.append([t("xl_readme_title", lang)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([t("xl_readme_intro", lang)])
    ws.append([])
    section(None, ["xl_sheet", "xl_contents", "xl_rows", "xl_columns_n"],
            [(sheet, table_doc(name, lang), int(len(df)), int(df.shape[1])) for sheet, name, df in sheets])
    section("xl_manifest", ["xl_setting", "xl_value"],
            [(k, v[:_XLSX_CELL_MAX]) for k, v in manifest_rows(manifest)])
    cols = dict.fromkeys(str(c) for _, _, df in sheets for c in df.columns)
    described = [(c, d) for c in cols if (d := column_doc(c, lang))]
    if described:
        section("xl_columns", ["xl_column", "xl_meaning"], described)
    ws.freeze_panes = "A2"
    for letter, width in zip("ABCD", (34, 90, 8, 10)):
        ws.column_dimensions[letter].width = width


def workbook_bytes(tables: Mapping[str, pd.DataFrame], manifest: Mapping | None = None, lang: str = "en") -> bytes:
    """One .xlsx with a sheet per table, in the order given, each with its header row frozen, the column
    widths fitted, a comment on each described header (:func:`column_doc`) and number formats
    (:func:`number_format`: counts as integers, p as 0.000, 0-100 indices with one decimal, coefficients with three;
    the cells keep the numbers, to the 16 significant digits openpyxl writes). With a ``manifest`` a first sheet
    ``README`` says in ``lang`` what each sheet is, lists the manifest (settings, versions, data fingerprint, date,
    seed, n) and the columns' meanings. Text is escaped like the CSVs (:func:`escape_frame`)."""
    from openpyxl.comments import Comment
    from openpyxl.utils import get_column_letter

    buf = io.BytesIO()
    taken: set[str] = set()
    sheets: list[tuple[str, str, pd.DataFrame]] = []
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        readme = None
        if manifest is not None:
            readme = xw.book.create_sheet(sheet_name("README", taken))
        for name, df in tables.items():
            frame = escape_frame(_excel_safe(df))
            sheet = sheet_name(name, taken)
            frame.to_excel(xw, sheet_name=sheet, index=False)
            sheets.append((sheet, name, df))
            ws = xw.sheets[sheet]
            ws.freeze_panes = "A2"
            for j, (col, orig) in enumerate(zip(frame.columns, df.columns), start=1):
                letter = get_column_letter(j)
                s = df[orig] if not isinstance(df[orig], pd.DataFrame) else df[orig].iloc[:, 0]
                ws.column_dimensions[letter].width = _width(col, s)
                doc = column_doc(orig, lang)
                if doc:
                    ws.cell(1, j).comment = Comment(doc, "CSI")
                fmt = number_format(orig, s, df.columns)
                if fmt and len(df):
                    for (cell,) in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                        cell.number_format = fmt
        if readme is not None:
            _readme(readme, sheets, manifest, lang)
        if not sheets and readme is None:
            xw.book.create_sheet("sheet")
    return buf.getvalue()


def write_workbook(tables: Mapping[str, pd.DataFrame], path: str | Path, manifest: Mapping | None = None,
                   lang: str = "en") -> Path:
    """:func:`workbook_bytes` written to ``path`` (e.g. the CLI report's ``report.xlsx``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(tables, manifest, lang))
    return path


def json_document(tables: Mapping[str, pd.DataFrame], manifest: Mapping, lang: str = "en") -> dict:
    """``{"manifest", "tables": {name: [records]}, "columns": {name: {column: meaning}}, "descriptions": {name:
    what the table is}}`` (meanings in ``lang``; undescribed columns left out)."""
    return {"manifest": manifest,
            "tables": {name: df.astype(object).where(df.notna(), None).to_dict(orient="records")
                       for name, df in tables.items()},
            "descriptions": {name: table_doc(name, lang) for name in tables},
            "columns": {name: {str(c): d for c in df.columns if (d := column_doc(c, lang))}
                        for name, df in tables.items()}}


def json_bytes(tables: Mapping[str, pd.DataFrame], manifest: Mapping, lang: str = "en") -> bytes:
    """:func:`json_document` as UTF-8 JSON (non-finite → null)."""
    return json.dumps(jsonable(json_document(tables, manifest, lang)), ensure_ascii=False, indent=1).encode("utf-8")
