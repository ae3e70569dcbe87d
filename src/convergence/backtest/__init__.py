"""The backtest layer shared by training, the baselines, evaluation and scenarios.

* :mod:`~convergence.backtest.folds` -- rolling-origin folds over a period axis.
* :mod:`~convergence.backtest.windows` -- a fold's supervised windows, measurement model
  fitted on the fold's training periods only.
* :mod:`~convergence.backtest.contract` -- the forecast-table columns, the one fold builder.
* :mod:`~convergence.backtest.inputs` -- the panel, target spec and checksums a job reads.

Imports no torch, Lightning or MLflow.
"""
