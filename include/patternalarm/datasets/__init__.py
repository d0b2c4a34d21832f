"""Public labelled data sets for measuring detectors, their mapping onto our contracts, and the metrics
and one-line baselines every detector must beat (docs/datasets.md).

>>> from include.patternalarm.datasets import DATASETS, fetch
>>> result = fetch("handbook-month", Path(".data"))      # .data/datasets/handbook-month.csv.gz
>>> DATASETS["handbook-month"].backtest_command(result.path)
"""

from include.patternalarm.datasets.fetch import FetchError, FetchResult, csv_path, fetch
from include.patternalarm.datasets.registry import DATASETS, DOMAINS, Dataset, Mapping, UnknownDataset, get

__all__ = ["DATASETS", "DOMAINS", "Dataset", "FetchError", "FetchResult", "Mapping", "UnknownDataset", "csv_path",
           "fetch", "get"]
