"""Feature tables, regression, classification, ranking and reports (scikit-learn conventions).

Modules: ``features`` (load/validate/normalise the wide table), ``cv`` (``grouped`` and
``kfold`` protocols), ``regression`` (the eight Cunegatti et al. 2024 regressors + XGBoost),
``importance`` (prediction correlation, permutation importance), ``classification``
(pruner / category with XGBoost), ``ranking`` (topometric mixture, RBO_ext),
``ramanujan`` (per-layer metrics vs layer density), ``predict`` (untrained networks),
``report`` (CSV + HTML), ``synthetic`` (tables with a planted signal).
See ``docs/analysis.md``.
"""
