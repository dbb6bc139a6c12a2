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
    "secrets_broken": ("The secrets file cannot be read, so the app stays locked: {msg}",
                       "无法读取密钥文件，应用保持锁定：{msg}"),
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
    "bootstrap_running": ("Bootstrap running in the background: {done} of {total} groups done. "
                          "You can keep using the other pages.",
                          "自助抽样正在后台运行：已完成 {done} / {total} 组。您可以继续使用其他页面。"),
    "bootstrap_done": ("Bootstrap finished: {n} resamples (seed {seed}).", "自助抽样完成：{n} 次（随机种子 {seed}）。"),
    "bootstrap_dropped": ("{n} resamples were dropped: {reasons}", "{n} 次抽样被舍弃：{reasons}"),
    "err_more": (" (and {n} more)", "（另有 {n} 个问题）"),
    "err_row": ("row {row}", "第 {row} 行"),
    "err_column": ("column {column!r}", "列 {column!r}"),
    "err_value": ("value {value!r}", "值 {value!r}"),
    "err_CSIError": ("{msg}", "输入无法使用。详情（英文）：{msg}"),
    "err_InputError": ("{msg}", "数据文件被拒绝。详情（英文）：{msg}"),
    "err_SpecError": ("{msg}", "模型设定无法使用（语法或结构有误）。详情（英文）：{msg}"),
    "err_DataError": ("{msg}", "数据不足以完成此分析。详情（英文）：{msg}"),
    "err_EstimationError": ("{msg}", "估计未能完成。详情（英文）：{msg}"),
    "err_StoreError": ("{msg}", "数据库操作被拒绝。详情（英文）：{msg}"),
    "job_failed": ("The background run failed: {msg}", "后台计算失败：{msg}"),
    "seed": ("Random seed", "随机种子"),
    # ---------------------------------------------------------- overview
    "ov_title": ("Customer satisfaction at a glance", "顾客满意度一览"),
    "ov_index": ("Satisfaction index ({wave})", "满意度指数（{wave}）"),
    "ov_change": ("{delta:+.1f} vs {prev}", "较 {prev} {delta:+.1f}"),
    "ov_change_sig": ("The change vs {prev} is statistically significant (95% interval {lo:+.1f} to {hi:+.1f}).",
                      "与 {prev} 相比的变化具有统计显著性（95% 区间 {lo:+.1f} 至 {hi:+.1f}）。"),
    "ov_change_nsig": ("The change vs {prev} is not statistically significant (95% interval {lo:+.1f} to {hi:+.1f}).",
                       "与 {prev} 相比的变化不具有统计显著性（95% 区间 {lo:+.1f} 至 {hi:+.1f}）。"),
    "ov_first_wave": ("Only one wave selected: no change to report.", "只选择了一期数据：无变化可报告。"),
    "ov_nps": ("Net Promoter Score", "净推荐值 (NPS)"),
    "ov_loyalty": ("Loyalty index", "忠诚度指数"),
    "ov_trend": ("Index by wave (shaded: 95% confidence interval)", "各期指数（阴影：95% 置信区间）"),
    "ov_brands": ("Own brand vs competitors", "本品牌与竞争对手"),
    "ov_matrix": ("Priority matrix: importance vs performance", "优先级矩阵：重要性与表现"),
    "ov_actions": ("Top three actions", "三项优先行动"),
    "ov_lever": ("Biggest lever inside: “{item}” ({perf:.1f}/100).", "其中最值得改进的题项：“{item}”（{perf:.1f}分）。"),
    "ov_lever_lowest": ("Weak spot inside: “{item}” ({perf:.1f}/100, the lowest of its {k} items).",
                        "其中的薄弱环节：“{item}”（{perf:.1f}分，为该维度 {k} 个题项中最低）。"),
    "ov_fix_items": ("Items to fix first", "优先改进的具体题项"),
    "ov_fix_item": ("“{item}” ({construct}): {perf:.1f}/100, important and below average.",
                    "“{item}”（{construct}）：{perf:.1f}分，重要且低于平均。"),
    "ov_weakest_item": ("Lowest-rated of all {k} items: “{item}” ({construct}), {perf:.1f}/100.",
                        "全部 {k} 个题项中得分最低：“{item}”（{construct}），{perf:.1f}分。"),
    "ov_no_item_fix": ("No item is both important and below average.", "没有既重要又低于平均的题项。"),
    "ov_bands": ("How satisfied are customers?", "顾客满意程度分布"),
    "own_brand": ("own brand", "本品牌"),
    "ov_pls_note": ("Indices are always computed from the PLS weights (the ACSI method); CB-SEM results are on the "
                    "Model page.", "指数始终基于 PLS 权重计算（ACSI 方法）；CB-SEM 结果见模型页。"),
    "ov_nps_ci": ("95% interval {lo:.0f} to {hi:.0f}", "95% 区间 {lo:.0f} 至 {hi:.0f}"),
    "ov_brands_title": ("{construct} by brand ({wave})", "各品牌{construct}（{wave}）"),
    "ov_gap": ("{own} minus {competitor}: {gap:+.1f} points ({verdict}).",
               "{own} 减 {competitor}：{gap:+.1f} 分（{verdict}）。"),
    "ov_gap_point": ("{own} minus {competitor}: {gap:+.1f} points.", "{own} 减 {competitor}：{gap:+.1f} 分。"),
    "ov_bands_title": ("How satisfied are customers? ({wave})", "顾客满意程度分布（{wave}）"),
    "ov_footer": ("{n} respondents in {wave}; intervals from {B} bootstrap resamples.",
                  "{wave} 共 {n} 位受访者；区间基于 {B} 次自助抽样。"),
    "ov_footer_point": ("{n} respondents in {wave}; point estimates (intervals follow when the bootstrap ends).",
                        "{wave} 共 {n} 位受访者；当前为点估计（自助抽样完成后显示区间）。"),
    "weights_dropped": ("Survey weights are not used here: some selected respondents have no weight.",
                        "此处未使用抽样权重：部分所选受访者没有权重。"),
    "use_weights": ("Use survey weights", "使用抽样权重"),
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
    "md_cbsem_hint": ("CB-SEM (maximum likelihood, semopy) is estimated on request.",
                      "CB-SEM（最大似然，semopy）按需估计。"),
    "md_cbsem_toggle": ("Estimate CB-SEM too", "同时估计 CB-SEM"),
    "md_cbsem_title": ("CB-SEM path model (standardized, p-values from ML standard errors)",
                       "CB-SEM 路径模型（标准化系数，p 值基于 ML 标准误）"),
    "col_index_name": ("Fit index", "拟合指数"),
    "no_fit": ("No model for {wave}: {msg}", "{wave} 无法建模：{msg}"),
    "md_dropped": ("{n} of {total} respondents left out: a missing answer in an item of the model (listwise).",
                   "{total} 位受访者中有 {n} 位因模型题项缺答被剔除（列表删除）。"),
    "md_no_boot": ("Significance needs a bootstrap; run one below.", "显著性检验需要自助抽样，请在下方运行。"),
    # -------------------------------------------------------------- drivers
    "dr_title": ("What drives satisfaction and loyalty", "满意度与忠诚度的驱动因素"),
    "dr_target": ("Target", "目标变量"),
    "dr_level": ("Level", "层级"),
    "dr_level_construct": ("Constructs", "潜变量"),
    "dr_level_item": ("Items", "题项"),
    "dr_actions": ("Ranked actions", "行动优先级"),
    "dr_matrix_title": ("What drives {target} ({wave})", "{target}的驱动因素（{wave}）"),
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
    "cp_with_ci": ("Show 95% intervals and significance ({B} bootstrap resamples, runs in the background)",
                   "显示 95% 区间与显著性（{B} 次自助抽样，后台运行）"),
    "cp_change_title": ("Change from {a} to {b} (index points)", "从 {a} 到 {b} 的变化（指数分）"),
    "cp_seg_title": ("Index by {seg} ({wave})", "按{seg}划分的指数（{wave}）"),
    "cp_no_brands": ("Own brand and competitor are not set for this database.", "此数据库未设置本品牌与竞争对手。"),
    "cp_gap_caption": ("Gap = {own} minus {competitor}, per wave and construct.",
                       "差距 = {own} 减 {competitor}，按调查期与潜变量列示。"),
    "cp_gap_title": ("Competitor gap ({wave})", "与竞争对手的差距（{wave}）"),
    "cp_mga_running": ("Group test running in the background… ({done}/{total})", "群组检验正在后台运行…（{done}/{total}）"),
    "cp_mga_caption": ("{a} vs {b}: permutation test (Chin & Dibbern) and bootstrap test (Henseler), {n} resamples.",
                       "{a} 与 {b}：置换检验（Chin & Dibbern）与自助检验（Henseler），{n} 次抽样。"),
    "cp_need_two": ("Select at least two waves or two groups.", "请至少选择两期数据或两个群组。"),
    # -------------------------------------------------------------- classic
    "cl_title": ("Classic evaluation methods", "传统评价方法"),
    "cl_hierarchy": ("Weighted indicator hierarchy", "加权指标体系得分"),
    "cl_fuzzy": ("Fuzzy comprehensive evaluation", "模糊综合评价"),
    "cl_gaps": ("Expectation – perception gaps", "预期与感知差距"),
    "cl_ranking": ("Item ranking", "题项排名"),
    "cl_total": ("Total score (0–100)", "总得分（0–100）"),
    "cl_level_scores": ("Score by attribute", "各属性得分"),
    "cl_operator": ("Composition operator", "合成算子"),
    "cl_op_weighted_average": ("weighted average M(·,+)", "加权平均型 M(·,+)"),
    "cl_op_max_min": ("max–min M(∧,∨)", "主因素决定型 M(∧,∨)"),
    "cl_fuzzy_score": ("Fuzzy score (0–100)", "模糊评价得分（0–100）"),
    "cl_fuzzy_grade": ("Grade (maximum membership)", "评价等级（最大隶属度）"),
    "cl_fuzzy_vector": ("Membership of the five grades", "五个等级的隶属度"),
    "cl_no_pairs": ("No expectation and perception items share an attribute in these data.",
                    "数据中没有共享同一属性的预期与感知题项。"),
    "wave_for_page": ("Wave analysed on this page", "本页分析的调查期"),
    "attr_network": ("Network", "网络"),
    "attr_hotline": ("Hotline", "客服热线"),
    "attr_shop": ("Shops", "营业厅"),
    "attr_new_services": ("New services", "新业务"),
    "attr_billing": ("Billing", "计费"),
    "attr_overall": ("Overall", "总体"),
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
    "da_scale_dict": ("Response scale as in the item dictionary", "量表范围按题项词典"),
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
    "col_construct": ('Construct', '潜变量'),
    "col_item": ('Item', '题项'),
    "col_indicator": ('Item', '题项'),
    "col_from": ('From', '起点'),
    "col_to": ('To', '终点'),
    "col_estimate": ('Estimate', '估计值'),
    "col_std_error": ('Std. error', '标准误'),
    "col_p_value": ('p-value', 'p 值'),
    "col_ci_low": ('CI low', '置信下限'),
    "col_ci_high": ('CI high', '置信上限'),
    "col_index": ('Index', '指数'),
    "col_n": ('n', '样本量'),
    "col_weight": ('Weight', '权重'),
    "col_loading": ('Loading', '载荷'),
    "col_communality": ('Communality', '共同度'),
    "col_r2": ('R²', 'R²'),
    "col_r2_adj": ('Adjusted R²', '调整 R²'),
    "col_mean_0_100": ('Mean (0–100)', '均值（0–100）'),
    "col_sd": ('SD', '标准差'),
    "col_rank": ('Rank', '排名'),
    "col_weakest": ('Weakest', '最弱项'),
    "col_label": ('Question', '题目'),
    "col_first_level": ('Attribute', '一级指标'),
    "col_score": ('Score', '得分'),
    "col_contribution": ('Contribution', '贡献'),
    "col_global_weight": ('Global weight', '全局权重'),
    "col_attribute": ('Attribute', '属性'),
    "col_expectation": ('Expectation', '预期'),
    "col_perception": ('Perception', '感知'),
    "col_gap": ('Gap', '差距'),
    "col_ratio": ('Ratio', '比值'),
    "col_gap_ci_low": ('Gap CI low', '差距置信下限'),
    "col_gap_ci_high": ('Gap CI high', '差距置信上限'),
    "col_expectation_item": ('Expectation item', '预期题项'),
    "col_perception_item": ('Perception item', '感知题项'),
    "col_grade": ('Grade', '等级'),
    "col_importance": ('Importance', '重要性'),
    "col_performance": ('Performance', '表现'),
    "col_quadrant": ('Quadrant', '象限'),
    "col_driver": ('Driver', '驱动因素'),
    "col_target": ('Target', '目标'),
    "col_change": ('Change', '变化'),
    "col_significant": ('Significant', '显著'),
    "col_direct": ('Direct', '直接效应'),
    "col_indirect": ('Indirect', '间接效应'),
    "col_total": ('Total', '总效应'),
    "col_f2": ('f²', 'f²'),
    "col_very_dissatisfied": ('Very dissatisfied', '非常不满意'),
    "col_dissatisfied": ('Dissatisfied', '不满意'),
    "col_neutral": ('Neutral', '一般'),
    "col_fairly_satisfied": ('Fairly satisfied', '比较满意'),
    "col_very_satisfied": ('Very satisfied', '非常满意'),
    "col_own": ('Own brand', '本品牌'),
    "col_competitor": ('Competitor', '竞争对手'),
    "col_label_en": ('Label', '标签'),
    "col_index_a": ('Before', '之前'),
    "col_index_b": ('After', '之后'),
    "col_verdict_en": ('Verdict', '结论'),
    "col_verdict_zh": ('Verdict (Chinese)', '结论'),
    "col_n_respondents": ('Respondents', '受访者'),
    "col_n_items": ('Items', '题项数'),
    "col_field_start": ('Field start', '调查开始'),
    "col_field_end": ('Field end', '调查结束'),
    "col_source_file": ('Source file', '来源文件'),
    "col_imported_at": ('Imported', '导入时间'),
    "col_impact_en": ('Impact', '影响'),
    "col_impact_zh": ('Impact (Chinese)', '影响'),
    "col_priority_score": ('Priority score', '优先分'),
    "col_wave": ('Wave', '调查期'),
    "col_brand": ('Brand', '品牌'),
    "col_region": ('Region', '地区'),
    "col_channel": ('Channel', '渠道'),
    "col_pls": ("PLS", "PLS"),
    "col_cbsem": ("CB-SEM", "CB-SEM"),
    "col_cbsem_p_value": ("CB-SEM p-value", "CB-SEM p 值"),
    "col_difference": ("Difference", "差值"),
    "col_alpha": ("Cronbach's α", "Cronbach's α"),
    "col_rho_a": ("ρ_A", "ρ_A"),
    "col_rho_c": ("ρ_C", "ρ_C"),
    "col_ave": ("AVE", "AVE"),
    "col_htmt": ("HTMT", "HTMT"),
    "col_vif": ("VIF", "VIF"),
    "col_construct_1": ("Construct 1", "潜变量 1"),
    "col_construct_2": ("Construct 2", "潜变量 2"),
    "col_predictor": ("Predictor", "预测变量"),
    "col_mode": ("Mode", "模式"),
    "col_n_indicators": ("Items", "题项数"),
    "col_action": ("Action", "建议"),
    "col_size": ("Effect size", "效应量"),
    "col_alpha_ok": ('α ≥ 0.70', 'α ≥ 0.70'),
    "col_rho_a_ok": ('ρ_A ≥ 0.70', 'ρ_A ≥ 0.70'),
    "col_rho_c_ok": ('ρ_C ≥ 0.70', 'ρ_C ≥ 0.70'),
    "col_ave_ok": ('AVE ≥ 0.50', 'AVE ≥ 0.50'),
    "col_rho_c_redundant": ('ρ_C > 0.95 (redundant items)', 'ρ_C > 0.95（题项冗余）'),
    "col_ok": ('Check', '检验'),
    "col_ok_085": ('HTMT < 0.85', 'HTMT 低于 0.85'),
    "col_ok_090": ('HTMT < 0.90', 'HTMT 低于 0.90'),
    "col_ci_ok_090": ('Upper CI < 0.90', '置信上限 < 0.90'),
    "col_ideal": ('Ideal (VIF < 3.3)', '理想（VIF < 3.3）'),
    "col_indicator_reliability": ('Item reliability', '题项信度'),
    "col_path": ("Path", "路径"),
    "col_level": ("Level", "层级"),
    "col_importance_ci_low": ("Importance CI low", "重要性置信下限"),
    "col_importance_ci_high": ("Importance CI high", "重要性置信上限"),
    "col_label_zh": ("Label (Chinese)", "标签"),
    "col_estimate_a": ("Group A", "组 A"),
    "col_estimate_b": ("Group B", "组 B"),
    "col_diff": ("Difference", "差值"),
    "col_p_permutation": ("p (permutation)", "p（置换检验）"),
    "col_p_bootstrap": ("p (bootstrap)", "p（自助检验）"),
    "col_p_henseler": ("p (Henseler one-sided)", "p（Henseler 单侧）"),
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
    "dl_all": ("Everything at once", "一次下载全部"),
    "dl_boot_running": ("Bootstrap running in the background: {done} of {total} resamples.",
                        "自助抽样正在后台运行：已完成 {done} / {total} 次。"),
    "dl_tables": ("Single tables (CSV)", "单个表格 (CSV)"),
    "dl_no_draws": ("Run the bootstrap above to download its draws.", "请先运行上方的自助抽样，再下载抽样结果。"),
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


def attr_label(attribute, lang: str = "en") -> str:
    """Display label of a first-level attribute code (unknown codes show as given)."""
    key = f"attr_{attribute}"
    return t(key, lang) if key in TEXT else str(attribute)
