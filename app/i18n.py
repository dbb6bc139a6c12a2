"""The one translation table of the dashboard (English / 简体中文).

Every visible string goes through :func:`t`; a test checks that every key has
both languages and that both sides use the same ``{placeholders}``.
Construct labels come from the package (``csi.dictionary``/``csi.templates``),
not from this table, so the CLI, the reports and the app name things alike.
"""
from __future__ import annotations

import functools
import string
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
LANG_NAMES = {"en": "English", "zh": "简体中文"}

# key -> (English, 简体中文)
TEXT: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------- frame
    "app_title": ("Customer Satisfaction Index", "顾客满意度指数"),
    "language": ("Language", "语言"),
    "filters": ("Filters", "筛选"),
    "waves": ("Waves", "调查期"),
    "wave": ("Wave", "调查期"),
    "brand": ("Brand", "品牌"),
    "region": ("Region", "地区"),
    "channel": ("Channel", "渠道"),
    "all": ("All", "全部"),
    "model": ("Model", "模型"),
    "method": ("Method", "估计方法"),
    "model_ccsi": ("China CSI (CCSI)", "中国顾客满意度指数 (CCSI)"),
    "model_ecsi": ("European CSI (ECSI)", "欧洲顾客满意度指数 (ECSI)"),
    "model_acsi": ("American CSI (ACSI)", "美国顾客满意度指数 (ACSI)"),
    "model_custom": ("Custom (lavaan syntax)", "自定义 (lavaan 语法)"),
    "custom_syntax": ("Model in lavaan syntax", "lavaan 语法模型"),
    "custom_help": ("One statement per line: `SAT =~ sat1 + sat2`, `SAT ~ QUAL + VAL`.",
                    "每行一条语句：`SAT =~ sat1 + sat2`，`SAT ~ QUAL + VAL`。"),
    "method_pls": ("PLS path modeling", "偏最小二乘路径模型 (PLS)"),
    "method_cbsem": ("Covariance-based SEM", "协方差结构方程模型 (CB-SEM)"),
    "page_overview": ("Overview", "总览"),
    "page_model": ("Model", "模型"),
    "page_drivers": ("Drivers", "驱动因素"),
    "page_compare": ("Compare", "对比"),
    "page_classic": ("Classic views", "传统方法"),
    "page_data": ("Data", "数据管理"),
    "page_downloads": ("Downloads", "下载"),
    "open_banner": ("Local demo: no users are configured, so every page is open. "
                    "Configure users in `.streamlit/secrets.toml` before sharing this app.",
                    "本地演示：未配置用户，所有页面均开放。共享本应用前请在 `.streamlit/secrets.toml` 中配置用户。"),
    "signed_in_as": ("Signed in as {name} ({role})", "当前用户：{name}（{role}）"),
    "role_viewer": ("viewer", "查看者"),
    "role_analyst": ("analyst", "分析员"),
    "role_researcher": ("researcher", "研究员"),
    "logout": ("Log out", "退出登录"),
    "login": ("Log in", "登录"),
    "login_title": ("Sign in", "登录"),
    "username": ("Username", "用户名"),
    "password": ("Password", "密码"),
    "login_failed": ("Username or password is incorrect.", "用户名或密码不正确。"),
    "login_prompt": ("Please sign in to see the dashboard.", "请登录以查看仪表盘。"),
    "login_oidc": ("Sign in with your organisation account", "使用机构账号登录"),
    "not_allowed": ("Your role ({role}) cannot open this page.", "您的角色（{role}）无权打开此页面。"),
    "db_building": ("Building the demo database (first start)…", "正在创建演示数据库（首次启动）…"),
    "no_data": ("No survey data match the current filters.", "当前筛选条件下没有调查数据。"),
    "too_few": ("Only {n} respondents match the filters; at least {min} are needed for a model.",
                "符合筛选条件的受访者只有 {n} 人；建模至少需要 {min} 人。"),
    "error_prefix": ("Could not complete this: {msg}", "无法完成：{msg}"),
    "computing": ("Computing…", "正在计算…"),
    "respondents": ("Respondents", "受访者"),
    "n_respondents": ("{n} respondents", "{n} 位受访者"),
    "data_version": ("Data version {v}", "数据版本 {v}"),
    "missing_engine": ("This view needs `{module}`, which is not available yet.",
                       "此视图需要 `{module}`，该模块尚不可用。"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "pass": ("pass", "通过"),
    "fail": ("fail", "未通过"),
    "construct": ("Construct", "潜变量"),
    "item": ("Item", "题项"),
    "value": ("Value", "值"),
    "significant": ("significant", "显著"),
    "not_significant": ("not significant", "不显著"),
    "bootstrap_n": ("Bootstrap resamples", "自助抽样次数"),
    "run_bootstrap": ("Run bootstrap", "运行自助抽样"),
    "bootstrap_running": ("Bootstrap running: {done} of {total} resamples", "自助抽样进行中：{done} / {total}"),
    "bootstrap_done": ("Bootstrap finished: {n} resamples (seed {seed}).", "自助抽样完成：{n} 次（随机种子 {seed}）。"),
    "bootstrap_dropped": ("{n} resamples were dropped: {reasons}", "{n} 次抽样被舍弃：{reasons}"),
    "job_failed": ("The background run failed: {msg}", "后台计算失败：{msg}"),
    "seed": ("Random seed", "随机种子"),
    # ---------------------------------------------------------- overview
    "ov_title": ("Customer satisfaction at a glance", "顾客满意度一览"),
    "ov_index": ("Satisfaction index ({wave})", "满意度指数（{wave}）"),
    "ov_change": ("{delta:+.1f} vs {prev}", "较 {prev} {delta:+.1f}"),
    "ov_change_sig": ("Change vs {prev} is statistically significant (p = {p:.3f}).",
                      "与 {prev} 相比的变化具有统计显著性（p = {p:.3f}）。"),
    "ov_change_nsig": ("Change vs {prev} is not statistically significant (p = {p:.3f}).",
                       "与 {prev} 相比的变化不具有统计显著性（p = {p:.3f}）。"),
    "ov_first_wave": ("Only one wave selected: no change to report.", "只选择了一期数据：无变化可报告。"),
    "ov_nps": ("Net Promoter Score", "净推荐值 (NPS)"),
    "ov_loyalty": ("Loyalty index", "忠诚度指数"),
    "ov_trend": ("Index by wave (shaded: 95% confidence interval)", "各期指数（阴影：95% 置信区间）"),
    "ov_brands": ("Own brand vs competitors", "本品牌与竞争对手"),
    "ov_matrix": ("Priority matrix: importance vs performance", "优先级矩阵：重要性与表现"),
    "ov_actions": ("Top three actions", "三项优先行动"),
    "ov_bands": ("How satisfied are customers?", "顾客满意程度分布"),
    "own_brand": ("own brand", "本品牌"),
    # -------------------------------------------------------------- charts
    "axis_wave": ("Wave", "调查期"),
    "axis_index": ("Index (0–100)", "指数（0–100）"),
    "axis_importance": ("Importance (total effect)", "重要性（总效应）"),
    "axis_performance": ("Performance (0–100)", "表现（0–100）"),
    "axis_share": ("Share of respondents (%)", "受访者占比（%）"),
    "axis_gap": ("Gap (points)", "差距（分）"),
    "axis_score": ("Score", "得分"),
    "quad_keep": ("Keep up", "继续保持"),
    "quad_improve": ("Improve first", "优先改进"),
    "quad_low": ("Low priority", "次要改进"),
    "quad_overkill": ("Possible overkill", "可能过度投入"),
    "path_title": ("Path model (arrow width = effect size)", "路径模型（箭头宽度 = 效应大小）"),
    "r2": ("R²", "R²"),
    # ---------------------------------------------------------------- model
    "md_title": ("Structural model", "结构模型"),
    "md_measurement": ("Measurement quality", "测量质量"),
    "md_reliability": ("Reliability and convergent validity", "信度与收敛效度"),
    "md_htmt": ("Discriminant validity (HTMT)", "区分效度 (HTMT)"),
    "md_vif": ("Collinearity (VIF)", "共线性 (VIF)"),
    "md_loadings": ("Loadings and weights", "载荷与权重"),
    "md_paths": ("Path coefficients", "路径系数"),
    "md_compare": ("PLS vs CB-SEM", "PLS 与 CB-SEM 对比"),
    "md_fit": ("Fit indices (CB-SEM)", "拟合指数 (CB-SEM)"),
    "md_warnings": ("Warnings from the estimator", "估计器警告"),
    "md_syntax": ("Model in lavaan syntax", "lavaan 语法模型"),
    "md_no_boot": ("Significance needs a bootstrap; run one below.", "显著性检验需要自助抽样，请在下方运行。"),
    # -------------------------------------------------------------- drivers
    "dr_title": ("What drives satisfaction and loyalty", "满意度与忠诚度的驱动因素"),
    "dr_target": ("Target", "目标变量"),
    "dr_level": ("Level", "层级"),
    "dr_level_construct": ("Constructs", "潜变量"),
    "dr_level_item": ("Items", "题项"),
    "dr_actions": ("Ranked actions", "行动优先级"),
    "dr_whatif": ("What if…", "假设分析"),
    "dr_whatif_raise": ("Raise", "提升"),
    "dr_whatif_points": ("by how many points (0–100 scale)", "提升多少分（0–100 分制）"),
    "dr_whatif_result": ("Raising {driver} by {points:.0f} points is predicted to change satisfaction by "
                         "{dsat:+.2f} and loyalty by {dloy:+.2f} points.",
                         "将{driver}提升 {points:.0f} 分，预计满意度变化 {dsat:+.2f} 分，忠诚度变化 {dloy:+.2f} 分。"),
    # -------------------------------------------------------------- compare
    "cp_title": ("Waves and segments side by side", "各期与细分群体对比"),
    "cp_waves": ("Index by wave", "各期指数"),
    "cp_change": ("Change between waves", "各期变化"),
    "cp_segment": ("Segment by", "细分维度"),
    "cp_segments": ("Index by segment", "各细分群体指数"),
    "cp_gap": ("Competitor gap", "与竞争对手的差距"),
    "cp_mga": ("Multi-group test of paths", "路径多群组检验"),
    "cp_group_a": ("Group A", "组 A"),
    "cp_group_b": ("Group B", "组 B"),
    "cp_run_mga": ("Run the group test", "运行群组检验"),
    "cp_before_after": ("Before / after an improvement program", "改进项目前后对比"),
    "cp_before": ("Before", "之前"),
    "cp_after": ("After", "之后"),
    "cp_need_two": ("Select at least two waves or two groups.", "请至少选择两期数据或两个群组。"),
    # -------------------------------------------------------------- classic
    "cl_title": ("Classic evaluation methods", "传统评价方法"),
    "cl_hierarchy": ("Weighted indicator hierarchy", "加权指标体系得分"),
    "cl_fuzzy": ("Fuzzy comprehensive evaluation", "模糊综合评价"),
    "cl_gaps": ("Expectation – perception gaps", "预期与感知差距"),
    "cl_ranking": ("Item ranking", "题项排名"),
    # ----------------------------------------------------------------- data
    "da_title": ("Survey data", "调查数据"),
    "da_upload": ("Upload a survey file (CSV, XLSX or SAV)", "上传调查文件（CSV、XLSX 或 SAV）"),
    "da_preview": ("Preview (first rows)", "预览（前几行）"),
    "da_mapping": ("Map columns to items", "列与题项对应"),
    "da_mapping_help": ("Columns named like an item code are matched automatically; change any row below.",
                        "列名与题项代码相同时自动对应；可在下表中修改。"),
    "da_column": ("File column", "文件列"),
    "da_maps_to": ("Item or segment", "对应题项或细分变量"),
    "da_ignore": ("(ignore)", "（忽略）"),
    "da_segment": ("(segment: brand, region, …)", "（细分变量：品牌、地区等）"),
    "da_scale": ("Response scale", "量表范围"),
    "da_scale_dict": ("as in the item dictionary", "按题项词典"),
    "da_scale_min": ("Scale minimum", "量表最小值"),
    "da_scale_max": ("Scale maximum", "量表最大值"),
    "da_missing": ("Extra missing-value codes (comma separated)", "其他缺失值代码（逗号分隔）"),
    "da_wave_label": ("Label of the new wave", "新一期标签"),
    "da_validate": ("Validation report", "校验报告"),
    "da_valid_ok": ("No errors: {n} respondents, {items} items ready to commit.",
                    "没有错误：{n} 位受访者、{items} 个题项可以提交。"),
    "da_valid_bad": ("{n} errors must be fixed before this file can be committed.",
                     "提交前必须修正 {n} 个错误。"),
    "da_warnings": ("{n} warnings (the file can still be committed).", "{n} 条警告（文件仍可提交）。"),
    "da_commit": ("Commit as a new wave", "提交为新一期"),
    "da_committed": ("Wave {wave} stored: {n} respondents.", "已保存调查期 {wave}：{n} 位受访者。"),
    "da_commit_failed": ("Nothing was written. {msg}", "未写入任何数据。{msg}"),
    "da_need_label": ("Enter a label for the new wave.", "请输入新一期的标签。"),
    "da_read_failed": ("This file cannot be read: {msg}", "无法读取此文件：{msg}"),
    "da_waves": ("Stored waves", "已存调查期"),
    "da_rename": ("Rename a wave", "重命名调查期"),
    "da_rename_to": ("New label", "新标签"),
    "da_rename_btn": ("Rename", "重命名"),
    "da_renamed": ("Wave {old} renamed to {new}.", "调查期 {old} 已重命名为 {new}。"),
    "da_delete": ("Delete a wave", "删除调查期"),
    "da_delete_confirm": ("Type the label {label} to confirm", "请输入标签 {label} 以确认"),
    "da_delete_btn": ("Delete permanently", "永久删除"),
    "da_deleted": ("Wave {label} deleted.", "调查期 {label} 已删除。"),
    "da_delete_mismatch": ("The typed label does not match; nothing was deleted.", "输入的标签不一致，未删除任何数据。"),
    "da_dictionary": ("Item dictionary", "题项词典"),
    "da_dict_save": ("Save dictionary changes", "保存词典修改"),
    "da_dict_saved": ("{n} items updated.", "已更新 {n} 个题项。"),
    "da_dict_nochange": ("No changes to save.", "没有需要保存的修改。"),
    "col_severity": ("Severity", "级别"),
    "col_row": ("Row", "行"),
    "col_column": ("Column", "列"),
    "col_value": ("Value", "值"),
    "col_reason": ("Reason", "原因"),
    "sev_error": ("error", "错误"),
    "sev_warning": ("warning", "警告"),
    # ------------------------------------------------------------ downloads
    "dl_title": ("Take the numbers away", "下载结果"),
    "dl_intro": ("Every table of the current selection. Cells starting with = + - @ are escaped so a spreadsheet "
                 "never runs them.",
                 "当前筛选下的所有表格。以 = + - @ 开头的单元格已转义，电子表格不会将其作为公式执行。"),
    "dl_workbook": ("Excel workbook (all tables)", "Excel 工作簿（全部表格）"),
    "dl_json": ("JSON (all tables)", "JSON（全部表格）"),
    "dl_scores": ("Construct scores (CSV)", "潜变量得分 (CSV)"),
    "dl_draws": ("Bootstrap draws (CSV)", "自助抽样结果 (CSV)"),
    "dl_syntax": ("Model (lavaan syntax)", "模型（lavaan 语法）"),
    "dl_manifest": ("Manifest (settings, seed, versions, data fingerprint)", "清单（设置、种子、版本、数据指纹）"),
    "dl_report": ("HTML report with charts", "含图表的 HTML 报告"),
    "dl_tables": ("Single tables (CSV)", "单个表格 (CSV)"),
    "dl_no_draws": ("Run a bootstrap on the Model page to download its draws.", "请先在模型页运行自助抽样，再下载抽样结果。"),
    "report_title": ("Customer satisfaction report", "顾客满意度报告"),
    "report_generated": ("Generated {when} · data version {v} · {n} respondents",
                         "生成时间 {when} · 数据版本 {v} · {n} 位受访者"),
}


def t(key: str, lang: str = "en", **fmt) -> str:
    """The text of ``key`` in ``lang`` ('en' or 'zh'), formatted with ``fmt``.

    An unknown key raises ``KeyError``: a missing translation is a bug the
    tests must catch, not something to paper over at run time.
    """
    en, zh = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text


def placeholders(text: str) -> set[str]:
    """Names of the ``{fields}`` used in a format string."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


# Fallback labels; the package's table wins when it is importable.
_CONSTRUCT_FALLBACK = {
    "IMAG": ("Image", "企业形象"),
    "EXPE": ("Expectation", "顾客预期"),
    "QUAL": ("Perceived quality", "感知质量"),
    "VAL": ("Perceived value", "感知价值"),
    "SAT": ("Satisfaction", "顾客满意度"),
    "COMP": ("Complaints", "顾客抱怨"),
    "LOY": ("Loyalty", "顾客忠诚"),
}


@functools.lru_cache(maxsize=1)
def construct_labels() -> dict[str, tuple[str, str]]:
    """Construct code → (English, 中文) label, from the package when available."""
    labels = dict(_CONSTRUCT_FALLBACK)
    for mod, attr in (("csi.templates", "CONSTRUCT_LABELS"), ("csi.dictionary", "CONSTRUCTS")):
        try:
            table = getattr(__import__(mod, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        if hasattr(table, "to_dict") and hasattr(table, "columns"):  # csi.dictionary.CONSTRUCTS frame
            for row in table.to_dict("records"):
                labels[str(row["construct"])] = (str(row["label_en"]), str(row["label_zh"]))
            continue
        for code, val in dict(table).items():
            pair = _as_pair(val)
            if pair:
                labels[code] = pair
    return labels


def _as_pair(val) -> tuple[str, str] | None:
    if isinstance(val, (tuple, list)) and len(val) >= 2:
        return str(val[0]), str(val[1])
    if isinstance(val, dict):
        en = val.get("en") or val.get("label_en")
        zh = val.get("zh") or val.get("label_zh")
        if en and zh:
            return str(en), str(zh)
    return None


def construct_label(code: str, lang: str = "en") -> str:
    """Display label of a construct code; unknown (custom) constructs show their code."""
    pair = construct_labels().get(code)
    if pair is None:
        return code
    return pair[1] if lang == "zh" else pair[0]
