"""One place for the validation messages a user reads, in English and Simplified Chinese.

Each message has a stable code and two templates formatted with the same named fields; the dashboard
shows ``reason_zh`` in Chinese, the command line prints ``reason``. A test checks that both templates of
every code take the same fields.
"""
from __future__ import annotations

from csi.errors import Problem

MESSAGES: dict[str, tuple[str, str]] = {
    # file level
    "file_not_found": ("file not found", "找不到文件"),
    "is_folder": ("is a folder, not a file", "这是一个文件夹，不是文件"),
    "empty_file": ("the file is empty (0 bytes)", "文件为空（0 字节）"),
    "empty_text": ("the file is empty (no header, no rows)", "文件为空（没有表头，也没有数据行）"),
    "legacy_xls": ("legacy Excel .xls files are not supported; save the sheet as .xlsx or CSV",
                   "不支持旧版 Excel .xls 文件，请另存为 .xlsx 或 CSV"),
    "zip_not_text": ("this file is an Excel workbook or ZIP archive, not text; save it with the .xlsx extension or "
                     "export CSV", "该文件是 Excel 工作簿或 ZIP 压缩包，不是文本文件；请使用 .xlsx 扩展名或导出为 CSV"),
    "sav_extension": ("this file is an SPSS data file; give it the .sav extension",
                      "该文件是 SPSS 数据文件，请使用 .sav 扩展名"),
    "binary": ("binary content (a NUL byte at line {line}): this is not a text CSV file",
               "文件含二进制内容（第 {line} 行有 NUL 字节），不是文本 CSV 文件"),
    "undecodable": ("cannot decode the text as {encoding} (bytes {bytes} at line {line}); save the file as "
                    "'CSV UTF-8' from Excel",
                    "无法按 {encoding} 解码（第 {line} 行的字节 {bytes}）；请在 Excel 中另存为“CSV UTF-8”"),
    "encoding_mixed": ("the file mixes text encodings: line {line} is UTF-8 while other lines are Western "
                       "cp1252/Latin-1, so one part would be stored garbled; save the whole file as 'CSV UTF-8' from "
                       "Excel and import it again",
                       "文件混用了文本编码：第 {line} 行为 UTF-8，其他行为西文 cp1252/Latin-1，任一种读法都会使部分文字乱码；"
                       "请在 Excel 中将整个文件另存为“CSV UTF-8”后重新导入"),
    "encoding_ambiguous": ("cannot tell the text encoding: these bytes read as {western!r} in Western cp1252/Latin-1 "
                           "and as {chinese!r} in Chinese GBK/GB18030, and either could be meant; save the file as "
                           "'CSV UTF-8' from Excel and import it again",
                           "无法确定文本编码：这些字节按西文 cp1252/Latin-1 读作 {western!r}，按中文 GBK/GB18030 读作 "
                           "{chinese!r}，两种都有可能；请在 Excel 中另存为“CSV UTF-8”后重新导入"),
    "encoding_unknown": ("the text is neither UTF-8, Chinese GBK/GB18030 nor Western cp1252/Latin-1 (these bytes read "
                         "as {western!r} or {chinese!r}, neither looks like ordinary text); save the file as "
                         "'CSV UTF-8' from Excel and import it again",
                         "文本既不是 UTF-8，也不是中文 GBK/GB18030 或西文 cp1252/Latin-1（这些字节读作 {western!r} 或 "
                         "{chinese!r}，都不像正常文字）；请在 Excel 中另存为“CSV UTF-8”后重新导入"),
    "csv_unparsable": ("cannot parse as CSV: {detail}", "无法按 CSV 解析：{detail}"),
    "ragged_many": ("ragged row: {got} fields but the header has {expected}",
                    "行的字段数不一致：有 {got} 个字段，而表头有 {expected} 个"),
    "ragged_few": ("ragged row: {got} fields, fewer than the {expected} in the header",
                   "行的字段数不一致：只有 {got} 个字段，少于表头的 {expected} 个"),
    "unreadable_row": ("unreadable row ({kind})", "无法读取的行（{kind}）"),
    "more_unreadable": ("... and {count} more unreadable rows", "……另有 {count} 行无法读取"),
    "header_only": ("header only: the file has no data rows", "只有表头：文件没有数据行"),
    "duplicate_header": ("column name {name!r} appears twice (columns {first} and {second})",
                         "列名 {name!r} 出现了两次（第 {first} 列和第 {second} 列）"),
    "no_header": ("the first row has no column names", "第一行没有列名"),
    "xlsx_unreadable": ("cannot read the Excel workbook: {detail}", "无法读取 Excel 工作簿：{detail}"),
    "sheet_empty": ("the first worksheet is empty", "第一个工作表为空"),
    "sheet_header_only": ("header only: the worksheet has no data rows", "只有表头：工作表没有数据行"),
    "sav_unreadable": ("cannot read the SPSS file: {detail}", "无法读取 SPSS 文件：{detail}"),
    "sav_empty": ("the SPSS file has no cases", "SPSS 文件没有个案"),
    "no_columns": ("the file has no columns", "文件没有任何列"),
    # limits (csi.data.ingest.LIMITS; CSI_<NAME> environment variables)
    "bad_limit": ("unknown or non-integer reading limit {name!r} ({given!r}); limits are max_file_bytes, "
                  "max_columns, max_rows, max_cell_bytes, max_line_bytes, max_unzipped_bytes, max_zip_ratio",
                  "读取上限 {name!r} 无效（{given!r}）；可用的上限为 max_file_bytes、max_columns、max_rows、"
                  "max_cell_bytes、max_line_bytes、max_unzipped_bytes、max_zip_ratio"),
    "file_too_large": ("the file is {size:,} bytes, more than the limit of {limit:,} bytes (max_file_bytes); split "
                       "the wave into smaller files or raise the limit",
                       "文件大小为 {size:,} 字节，超过上限 {limit:,} 字节（max_file_bytes）；请拆分为较小的文件或提高上限"),
    "line_too_long": ("a line longer than the limit of {limit:,} bytes (max_line_bytes): is this a CSV file with "
                      "line breaks?", "有一行超过 {limit:,} 字节的上限（max_line_bytes）：这是带换行的 CSV 文件吗？"),
    "too_many_columns": ("{count:,} columns, more than the limit of {limit:,} (max_columns); export only the "
                         "survey's columns", "共有 {count:,} 列，超过上限 {limit:,} 列（max_columns）；请只导出调查所需的列"),
    "too_many_rows": ("more data rows than the limit of {limit:,} (max_rows); split the wave into smaller files "
                      "or raise the limit", "数据行数超过上限 {limit:,} 行（max_rows）；请拆分为较小的文件或提高上限"),
    "cell_too_large": ("the cell is longer than the limit of {limit:,} bytes (max_cell_bytes)",
                       "该单元格超过 {limit:,} 字节的上限（max_cell_bytes）"),
    "nul_cell": ("the cell holds a NUL character (binary content)", "该单元格含有 NUL 字符（二进制内容）"),
    "unzipped_too_large": ("the data would take {size:,} bytes once uncompressed, more than the limit of {limit:,} "
                           "bytes (max_unzipped_bytes); export a very large sheet as CSV, or check that this is a real survey file",
                           "数据解压后将占 {size:,} 字节，超过上限 {limit:,} 字节（max_unzipped_bytes）；很大的工作表请导出为 CSV，或确认这是真实的调查文件"),
    "zip_ratio": ("the workbook part {part} inflates {ratio:,.0f} times (to {size:,} bytes), more than the limit of "
                  "{limit:,} times (max_zip_ratio): such a repetitive sheet is not survey data (a zip bomb?); export "
                  "the data as CSV", "工作簿部件 {part} 解压后膨胀 {ratio:,.0f} 倍（达 {size:,} 字节），超过 {limit:,} 倍的上限"
                  "（max_zip_ratio）：如此重复的工作表不像调查数据（压缩炸弹？）；请将数据导出为 CSV"),
    "formula_no_value": ("a formula cell has no saved value (the workbook was written by a program and never "
                         "calculated): open it in Excel and save it, or export the values (Paste Special → Values, "
                         "or CSV)", "公式单元格没有保存的计算结果（工作簿由程序生成、从未计算过）：请在 Excel 中打开并保存，"
                         "或只导出数值（选择性粘贴→数值，或另存为 CSV）"),
    # wave level
    "wave_exists": ("a wave labelled {label!r} already exists (imported {when}); choose another label or delete "
                    "that wave first", "标签为 {label!r} 的调查期已存在（导入于 {when}）；请换一个标签，或先删除该调查期"),
    "already_imported": ("this file was already imported as wave {label!r} on {when} (same SHA-256 fingerprint)",
                         "该文件已于 {when} 作为调查期 {label!r} 导入过（SHA-256 指纹相同）"),
    "bad_label": ("{detail}", "调查期标签无效：{detail}"),
    "field_dates": ("field end {end} is before field start {start}", "调查结束日期 {end} 早于开始日期 {start}"),
    "bad_date": ("{what} date {value!r} is not YYYY-MM-DD", "{what}日期 {value!r} 不是 YYYY-MM-DD 格式"),
    # columns
    "map_unknown_columns": ("column mapping names columns not in the file: {columns}",
                            "列映射中的这些列不在文件中：{columns}"),
    "no_id_column": ("no respondent-id column: name one 'respondent_id', 'id', 'ID' or '编号', or leave the first "
                     "column's header empty",
                     "没有受访者编号列：请将一列命名为 respondent_id、id、ID 或“编号”，或让第一列的表头留空"),
    "map_unknown_item": ("column is mapped to item {item!r}, which is not in the item dictionary",
                         "该列被映射到题项 {item!r}，但题项字典中没有它"),
    "unnamed_empty_column": ("an unnamed empty column was ignored", "已忽略一个没有列名的空列"),
    "unnamed_column": ("a column without a name holds data; give it a header", "有一列没有列名却含有数据，请给它加上表头"),
    "two_columns_one_item": ("two columns map to item {item!r}: {first!r} and {second!r}",
                             "两列都对应题项 {item!r}：{first!r} 和 {second!r}"),
    "no_items": ("no column matches an item of the dictionary (known codes include {known}, ...); is this a survey "
                 "file of this study?", "没有任何列与题项字典匹配（已知代码包括 {known} 等）；这是本项目的调查数据文件吗？"),
    "items_missing_reject": ("dictionary items missing from the file ({detail})", "文件缺少字典中的题项（{detail}）"),
    "items_missing_warn": ("{count} dictionary item(s) are not in this file and will be missing for this wave "
                           "({detail})", "本文件缺少 {count} 个字典题项，该调查期中这些题项将记为缺失（{detail}）"),
    "segment_reserved": ("segment column name {name!r} is reserved or repeated", "分组列名 {name!r} 是保留名或重复了"),
    "extra_columns": ("{count} column(s) are neither items, the respondent id nor known segments and were not "
                      "stored: {columns}; keep them as segments explicitly if they are",
                      "{count} 列既不是题项、受访者编号，也不是已知的细分变量，未予保存：{columns}；如确为细分变量，请明确选择保留"),
    # cells
    "empty_id": ("empty respondent id", "受访者编号为空"),
    "duplicate_id": ("duplicate respondent id (rows {rows})", "受访者编号重复（第 {rows} 行）"),
    "more_duplicate_ids": ("... and {count} more duplicated respondent ids", "……另有 {count} 个重复的受访者编号"),
    "not_a_number": ("not a number (declare it as a missing-value code if it means 'no answer')",
                     "不是数字（如果它表示“未回答”，请把它声明为缺失值代码）"),
    "not_binary": ("must be 0 or 1", "只能是 0 或 1"),
    "out_of_scale": ("outside the item's scale {lo:g}-{hi:g}", "超出该题项的量表范围 {lo:g}–{hi:g}"),
    "item_dates": ("the rating column holds dates ({count} cells, rows {rows}): Excel formatted these answers as "
                   "dates; format the column as Number (or text) and export again",
                   "该评分列含有日期（{count} 个单元格，第 {rows} 行）：Excel 把这些回答格式化成了日期；请把该列设为“数值”"
                   "（或文本）格式后重新导出"),
    "all_missing": ("the item column has no valid answers (all missing)", "该题项列没有有效回答（全部缺失）"),
    "bad_weight": ("survey weight must be a non-negative number", "抽样权重必须是非负数"),
    "more_rows": ("... and {count:,} more rows: {reason}", "……另有 {count:,} 行：{reason}"),
    # management importance survey (csi.analytics.servqual.read_management_survey)
    "mgmt_no_id": ("the first column must name the manager (header 'manager', 'id', '经理' or empty)",
                   "第一列应为管理者（表头为 manager、id、“经理”或留空）"),
    "mgmt_unknown_column": ("column is neither a service-quality dimension nor a driver (known codes: {known})",
                            "该列既不是服务质量维度，也不是驱动因素（可用代码：{known}）"),
    "mgmt_duplicate_column": ("a second column for {code}", "{code} 出现了第二列"),
    "mgmt_too_few": ("the survey rates {count} dimension(s); at least 2 are needed",
                     "问卷只评价了 {count} 个维度，至少需要 2 个"),
    "mgmt_duplicate": ("the manager appears twice (first in row {first})", "该管理者重复出现（首次在第 {first} 行）"),
    "mgmt_not_number": ("not a number", "不是数字"),
    "mgmt_negative": ("an importance rating must not be negative", "重要性评分不能为负数"),
    "mgmt_bad_rank": ("a manager's ranks must be 1 to {k}, each used once", "每位管理者的排序必须是 1 到 {k}，且每个名次只用一次"),
    "mgmt_all_zero": ("every rating of this manager is 0", "该管理者的所有评分均为 0"),
    # mystery-shopping audits (csi.data.audit)
    "audit_missing_column": ("no {name} column (headers accepted: {names})", "缺少 {name} 列（可用的列名：{names}）"),
    "audit_empty_cell": ("the cell is empty", "该单元格为空"),
    "audit_not_number": ("not a number", "不是数字"),
    "audit_negative": ("points must not be negative", "分数不能为负数"),
    "audit_possible_zero": ("points possible must be more than 0", "满分（应得分）必须大于 0"),
    "audit_over_possible": ("points obtained ({obtained:g}) exceed the points possible ({possible:g})",
                            "实得分（{obtained:g}）超过了满分（{possible:g}）"),
    "audit_duplicate": ("outlet {outlet!r} has category {category!r} twice (first in row {first})",
                        "网点 {outlet!r} 的类别 {category!r} 重复出现（首次在第 {first} 行）"),
    "audit_total_mismatch": ("outlet {outlet!r}: the categories' points obtained add up to {sum:g}, but the stated "
                             "total is {total:g}", "网点 {outlet!r}：各类别实得分合计为 {sum:g}，而填写的总分为 {total:g}"),
    "audit_total_varies": ("outlet {outlet!r} states different totals ({totals})",
                           "网点 {outlet!r} 填写的总分前后不一致（{totals}）"),
    "audit_new_outlet": ("outlet {outlet!r} is not in earlier audit periods (known: {known})",
                         "网点 {outlet!r} 不在以往的检查期中（已知网点：{known}）"),
    "audit_bad_label": ("{detail}", "检查期标签无效（不能为空，最多 64 个字符）：{detail}"),
    "audit_period_exists": ("an audit period labelled {label!r} already exists; replace it with --replace",
                            "检查期 {label!r} 已存在；如需替换请使用 --replace"),
}


def problem(file: str, code: str, *, row: int | None = None, column: str | None = None, value: str | None = None,
            severity: str = "error", **fields) -> Problem:
    """A :class:`Problem` with its English and Chinese reason from the catalogue."""
    en, zh = MESSAGES[code]
    return Problem(file=file, reason=en.format(**fields), row=row, column=column, value=value, severity=severity,
                   reason_zh=zh.format(**{k: v for k, v in fields.items() if k != "reason"},
                                       reason=fields.get("reason_zh", fields.get("reason", ""))),
                   code=code)
