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
# complete data, so the same logLik with 9 more parameters (intercepts): AIC 7535.490, BIC 7646.703.
# missing = "ml" defaults to information = "observed"; with complete data that is lavaan's
fit_obs <- sem(HS.model, data = HolzingerSwineford1939, meanstructure = TRUE, information = "observed")
# printed by lavaan 0.6-17 in lavaan's Mplus comparison suite (github.com/lucdw/lavaan-mplus,
# HS/HS.mean.ML.observed.out_mimlavaan.log, "lav" column, identical to Mplus 8): AIC 7535.490, BIC 7646.703,
# se x2 0.109, x3 0.117, x5 0.065, x6 0.056, x8 0.150, x9 0.195, residual variances x1..x9 0.119 0.104 0.095 0.048
# 0.058 0.043 0.088 0.092 0.091, factor variances 0.150 0.112 0.092, covariances vis~~tex 0.080, tex~~spe 0.049,
# intercept se x1 0.067, x5 0.074.
# Standardized SEs (delta method): Mplus 8 STDYX output of the same CFA with expected information
# (lavaan-mplus HS/HS.nomean.ML.expected.mplus.out; lavaan's standardizedSolution() uses the same delta method,
# its std.all values match there): x1..x9 0.055 0.060 0.055 0.023 0.022 0.023 0.053 0.051 0.051, factor
# correlations 0.064 0.073 0.069, residual variances x1 0.085, x2 0.051, x5 0.038, x7 0.061, x9 0.068.

# 1b. FIML with missing values: lavaan's own test data HS.missing (HolzingerSwineford1939 x1-x9 with 20 missing
# cells per variable, 36 patterns; lavaan-mplus HS_missing/HS.missing.raw; only its missingness mask is kept here,
# tests/reference/cbsem_hs_missing_mask.csv, made by cbsem_make_hs_missing_mask.py)
Data <- read.table("HS.missing.raw", na.strings = "-999999", col.names = paste0("x", 1:9))
fit_miss <- sem(HS.model, data = Data, estimator = "ML", information = "observed", meanstructure = TRUE,
                missing = "ml")
# lavaan 0.6-17 (HS_missing/HS.missing.mean.ML.observed.out_mimlavaan.log, identical to Mplus 8.2 to 3 decimals):
# logL -3507.165, H1 -3465.850, chi2 82.631 (df 24), baseline 822.648, CFI 0.925, TLI 0.888, RMSEA 0.090, SRMR 0.060,
# AIC 7074.330, BIC 7185.544; est (se) as in tests/test_cbsem.py::test_fiml_matches_lavaan_missing_ml; the z
# values there (Est./S.E.) and the STDYX estimates and SEs are Mplus 8.2's (HS.missing.mean.ML.observed.out).

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
