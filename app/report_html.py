"""Re-export of :mod:`csi.report.html` (the HTML report moved into the package, so ``python -m csi report``
writes the same file the dashboard's Downloads page offers)."""
from csi.report.html import CSS, FONT, ipma_svg, report_html, table_html, trend_svg, write_html  # noqa: F401
