"""A self-contained HTML report: charts (plotly.js inlined once, no CDN, no network when opened),
tables and the manifest, in English or Chinese (pure: no streamlit).

The server renders no images: the charts are plotly JSON drawn by the reader's browser with the
font stack of :data:`app.charts.FONT`, so Chinese needs only a CJK font on the reader's machine
(every current OS ships one).
"""
from __future__ import annotations

import html
import json
from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from .charts import FONT
from .i18n import t

_CSS = f"""
body {{ font-family: {FONT}; margin: 2rem auto; max-width: 1100px; color: #1f2933; }}
h1 {{ font-size: 1.8rem; margin-bottom: .2rem; }}
h2 {{ font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }}
th, td {{ border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }}
th {{ background: #f4f6f8; }} td:first-child, th:first-child {{ text-align: left; }}
.meta {{ color: #6b7785; font-size: .85rem; }} .actions li {{ margin: .3rem 0; }}
pre {{ background: #f4f6f8; padding: .6rem; font-size: .8rem; overflow-x: auto; }}
"""


def build_report(lang: str, *, subtitle: str, figures: Sequence[tuple[str, go.Figure]],
                 tables: Mapping[str, pd.DataFrame], manifest: Mapping, actions: Sequence[str] = ()) -> str:
    """The report as one HTML string (UTF-8). ``figures``: (heading, figure) pairs in order;
    ``tables``: name → DataFrame (rounded to 4 decimals for reading; the downloads keep full precision)."""
    parts = [f"<!DOCTYPE html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(t('report_title', lang))}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(t('report_title', lang))}</h1>", f"<p class=\"meta\">{html.escape(subtitle)}</p>"]
    if actions:
        parts.append(f"<h2>{html.escape(t('ov_actions', lang))}</h2><ol class=\"actions\">")
        parts += [f"<li>{html.escape(a.split('. ', 1)[-1])}</li>" for a in actions]
        parts.append("</ol>")
    first = True
    for heading, fig in figures:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        # plotly.js goes inline exactly once: the file opens offline and stays ~4 MB.
        parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False,
                                 config={"displaylogo": False, "responsive": True}))
        first = False
    for name, df in tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(df.round(4).to_html(index=False, escape=True, na_rep="", border=0))
    parts.append(f"<h2>manifest</h2><pre>{html.escape(json.dumps(manifest, ensure_ascii=False, indent=1, default=str))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
