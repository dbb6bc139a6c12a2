# Provenance of the lavaan reference values used in tests/test_cbsem.py.
# R is not available in this project's environment: the numbers in the tests are lavaan 0.6's printed
# output of these two calls as published in the lavaan tutorial (https://lavaan.ugent.be/tutorial/),
# three decimals. semopy ships the same two datasets (semopy.examples.holzinger39, political_democracy).
library(lavaan)

# 1. Holzinger & Swineford (1939) three-factor CFA, ML, n = 301
HS.model <- ' visual  =~ x1 + x2 + x3
              textual =~ x4 + x5 + x6
              speed   =~ x7 + x8 + x9 '
fit <- cfa(HS.model, data = HolzingerSwineford1939)
summary(fit, fit.measures = TRUE, standardized = TRUE)
# chi2 85.306, df 24, CFI 0.931, TLI 0.896, RMSEA 0.092, SRMR 0.065, AIC 7517.490, BIC 7595.339,
# logLik -3737.745; loadings x2 0.554 (0.100), x3 0.729 (0.109), x5 1.113 (0.065), x6 0.926 (0.055),
# x8 1.180 (0.165), x9 1.082 (0.151); std.all x1 0.772 x2 0.424 x3 0.581 x4 0.852 x5 0.855 x6 0.838
# x7 0.570 x8 0.723 x9 0.665; factor covariances 0.408, 0.262, 0.173; variances as in the test.
fit_fiml <- cfa(HS.model, data = HolzingerSwineford1939, missing = "ml")
# complete data, so the same logLik with 9 more parameters (intercepts): AIC 7535.490, BIC 7646.703
# (derived from the published ML values and lavaan's npar convention, not copied from a printout)

# 2. Bollen's Political Democracy SEM with residual covariances, ML, n = 75
model <- '
  ind60 =~ x1 + x2 + x3
  dem60 =~ y1 + y2 + y3 + y4
  dem65 =~ y5 + y6 + y7 + y8
  dem60 ~ ind60
  dem65 ~ ind60 + dem60
  y1 ~~ y5
  y2 ~~ y4 + y6
  y3 ~~ y7
  y4 ~~ y8
  y6 ~~ y8 '
fit <- sem(model, data = PoliticalDemocracy)
summary(fit, fit.measures = TRUE, standardized = TRUE)
# chi2 38.125, df 35, p 0.329; CFI 0.995, TLI 0.993, RMSEA 0.035, SRMR 0.044, AIC 3157.582, BIC 3229.424;
# regressions dem60~ind60 1.483 (0.399), dem65~ind60 0.572 (0.221), dem65~dem60 0.837 (0.098), std.all
# 0.447, 0.182, 0.885; residual covariance y1~~y5 0.624 (0.358), std.all 0.296.
