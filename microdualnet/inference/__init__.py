"""Windowed Micro-DualNet inference over whole participant videos -> windows Parquet.

`plan` decides which frames each window samples (torch-free, shared with the pose stage),
`video` opens files (decord) and reads them forward (PyAV), `loader` prepares batches in a
worker process, `runner` runs the model and builds the table that `pipeio.windows` writes,
`cli` is `python -m microdualnet infer`.
"""
