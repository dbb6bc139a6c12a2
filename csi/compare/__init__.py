"""Compare: groups (waves, brands, segments), their differences and multi-group analysis.

``groups`` fits every group independently (``estimate_groups``, cached, optionally on worker processes) and
derives trends, wave-over-wave changes, competitor gaps and PLS-MGA (permutation and Henseler). May import
``csi.engine``, ``csi.analytics``, ``csi.runtime`` and ``csi.errors``.
"""
from csi.compare.groups import (GroupFit, competitor_gap, estimate_groups, group_seed, henseler_p, mga,
                                mga_bootstrap, mga_permutation, trend, wave_change)

__all__ = ["GroupFit", "competitor_gap", "estimate_groups", "group_seed", "henseler_p", "mga", "mga_bootstrap",
           "mga_permutation", "trend", "wave_change"]
