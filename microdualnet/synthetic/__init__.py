"""The synthetic micro-action world: a seated figure, its actions, and clip/cohort writers."""

# The synthetic world's groups: the planted effects and demographics of `cohort` are written
# for them. Here, not in `cohort`, so the workflow reads them without importing the renderer
# and PyAV (0.4 s, which every cluster job's parse of the Snakefile paid).
GROUPS: tuple[str, ...] = ("ASD", "PSY", "TDC")
