"""A dataset on disk: the contract between simulation and training.

- :mod:`~radsim.dataset.reader`: the one way to read a dataset (radtrain imports it);
- :mod:`~radsim.dataset.metrics`: how a reading of N(S) is scored (radtrain and the P(D) baseline share it);
- :mod:`~radsim.dataset.atomic`: files appear under their final name only when complete (both programs);
- :mod:`~radsim.dataset.shards`: the ranks' HDF5 shard writer;
- :mod:`~radsim.dataset.layout`: the directory, its manifest, split and inspection (writer side);
- :mod:`~radsim.dataset.products`: the files of one realisation (`radsim realise`).
"""
from radsim.dataset.reader import Dataset, ShardError

__all__ = ["Dataset", "ShardError"]
