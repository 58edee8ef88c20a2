"""Statistics side of the pipeline: hurdle models, Table V and violin plots (no torch).

Start at `analysis.hurdle` for the model and `docs/statistics.md` for the choices made.
"""
