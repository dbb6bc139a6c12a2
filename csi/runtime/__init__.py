"""Runtime: how work is kept and executed.

``cache`` holds ``FitCache`` (fits keyed by data, spec, settings, seed and a fingerprint of the whole
package plus dependency versions; size-capped in memory and on disk). Imports nothing of the package but
``csi.__version__``.
"""
