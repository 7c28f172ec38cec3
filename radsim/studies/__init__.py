"""Studies of runs: the scaling report, its cost model and `radsim plan`."""
