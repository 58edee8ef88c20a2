"""The synthetic micro-action world: a seated figure, its actions, and clip/cohort writers."""
