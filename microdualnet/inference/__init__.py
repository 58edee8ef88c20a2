"""Windowed Micro-DualNet inference over whole participant videos -> windows Parquet.

The model folder's contract (`microdualnet.contract`), the window plan
(`microdualnet.windowplan`) and video reading (`microdualnet.video`) are torch-free and
shared with the pose stage. Here `loader` prepares batches in the model's view
(`data.views`), `workers` runs it in loader processes, `runner` runs the model and builds the
table that `pipeio.windows` writes, `cli` is `python -m microdualnet infer`.
"""
