"""Studies of runs: the scaling report, its cost model and `radsim plan`; `radsim compare`, the images of the same
skies in two datasets."""
