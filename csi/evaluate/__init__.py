"""Assess: quality criteria of an estimated model.

``assess`` holds the registry of criteria (alpha, rho_A, rho_C, AVE, HTMT, Fornell-Larcker, VIF, f2) and
``assess_pls(result, boot)``. Pure numpy/pandas on correlation matrices; imports only ``csi.errors`` and the
kernel's formulas (``csi.engine.kernel_math``, numpy only), so the bootstrap can call its batched HTMT.
"""
