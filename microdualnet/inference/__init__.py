"""Windowed Micro-DualNet inference over whole participant videos -> windows Parquet.

`plan` decides which frames each window samples (torch-free, shared with the pose stage),
`video` opens files with decord, `loader` prepares batches in a background thread, `runner`
runs the model, `windows` writes the Parquet contract, `cli` is `python -m microdualnet infer`.
"""
