"""Assess: quality criteria of an estimated model.

``assess`` holds the registry of criteria (alpha, rho_A, rho_C, AVE, HTMT, Fornell-Larcker, VIF, f2) and
``assess_pls(result, boot)``. Pure numpy/pandas on correlation matrices; imports ``csi.errors`` only, so the
kernel and the bootstrap can call its batched formulas.
"""
