"""The classical baseline: source counts from each sky's pixel histogram, P(D), scored like the CNN.

- :mod:`~radsim.baseline.pofd`: the P(D) of given counts through a beam (characteristic functions);
- :mod:`~radsim.baseline.fit`: the seed law fitted to every sky of a dataset split (`radsim pofd`).
"""
