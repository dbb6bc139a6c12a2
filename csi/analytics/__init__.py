"""Analytics: what the estimates mean for the business.

``scales`` (the one 0-100 rescaling, bands, survey-weight formulas), ``index`` (ACSI 0-100 indices),
``priorities`` (importance-performance, actions, what-if), ``loyalty`` (NPS, complaints, bands) and
``classic`` (weighted hierarchy, fuzzy evaluation, expectation gaps, item ranking, key drivers).
May import ``csi.model``, ``csi.engine`` results and ``csi.errors``; never the store or the report.
"""
