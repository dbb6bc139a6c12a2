"""The dashboard's translation table lives in the package (:mod:`csi.text.i18n`) so that the HTML
report, the board brief and the command line use the same words; this module re-exports it."""
from csi.text.i18n import (  # noqa: F401
    LANG_NAMES,
    LANGS,
    TEXT,
    Lang,
    attr_label,
    construct_label,
    construct_labels,
    drop_reasons,
    placeholders,
    t,
)
