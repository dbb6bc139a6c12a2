"""Specify: what is estimated.

Owns the lavaan-style model syntax (``syntax``: text <-> frozen ``ModelSpec``), the ACSI / ECSI / China-CSI
templates (``templates``) and the built-in item dictionary with construct labels (``dictionary``).
May import ``csi.errors`` only: every later stage builds on a ``ModelSpec``.
"""
