"""Estimate: the PLS path-modeling kernel, its bootstrap, CB-SEM and the parameter table.

``pls`` (the vectorised numpy kernel and ``estimate_pls``), ``bootstrap`` (resampling on the kernel, percentile
and BCa intervals), ``cbsem`` (the only module that imports semopy), ``params`` (the one lavaan-style parameter
table both methods report). May import ``csi.model``, ``csi.evaluate.assess`` (for batched HTMT in the
bootstrap) and ``csi.errors``; never the data store, the report or the CLI.
"""
