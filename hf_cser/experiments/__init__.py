"""Experiments: each paper's experiment logic (data preparation, runs, grids, records) as importable, tested
functions. The training scripts in `training_scripts/` parse arguments and call one of these; the layers below
(data, front ends, models and losses, trainers) know nothing of experiments. See docs/architecture.md."""
