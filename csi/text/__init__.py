"""Text: the one catalogue of validation messages, by stable code, in English and Simplified Chinese.

Owns ``messages`` (``MESSAGES[code] = (en, zh)``, ``problem(...)``). Imports only ``csi.errors``.
Construct labels live with the item dictionary (``csi.model.dictionary.CONSTRUCT_LABELS``).
"""
