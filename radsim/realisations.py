"""Parameter sets of a training set and the plan of realisations, with their random streams.

Randomness is keyed by what is drawn, never by who draws it:

* parameter set ``k`` of a ``random`` plan draws from ``SeedSequence(run.seed, spawn_key=(0, k))``;
* realisation ``i`` draws from ``SeedSequence(run.seed, spawn_key=(1, i))`` and its children, so a realisation
  is bit-identical whichever rank makes it and in whatever order.

Realisation ``i`` uses parameter set ``i // repeats`` (repeat ``i % repeats``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

PARAMS_STREAM = 0
REALISATION_STREAM = 1
SPLIT_STREAM = 2


def parameter_sets(cfg) -> list[tuple[str, dict]]:
    """The (modifier name, parameters) of every parameter set of ``cfg``, defaults not yet filled in."""
    base = dict(cfg.counts.modifier)
    name = base.pop("name")
    r = cfg.realisations
    if r.mode == "single":
        sets = [(name, base)]
    elif r.mode == "list":
        sets = []
        for s in r.sets:
            s = dict(s)
            set_name = s.pop("name", name)
            sets.append((set_name, {**(base if set_name == name else {}), **s}))
    elif r.mode == "grid":
        keys = sorted(r.grid)
        sets = [(name, {**base, **dict(zip(keys, values))})
                for values in itertools.product(*(r.grid[k] for k in keys))]
    else:  # random
        sets = []
        for k in range(r.n):
            rng = np.random.default_rng(np.random.SeedSequence(cfg.run.seed, spawn_key=(PARAMS_STREAM, k)))
            drawn = {}
            for key in sorted(r.priors):
                prior = r.priors[key]
                size = prior.size
                if prior.uniform is not None:
                    v = rng.uniform(*prior.uniform, size=size)
                else:
                    lo, hi = np.log(prior.loguniform)
                    v = np.exp(rng.uniform(lo, hi, size=size))
                drawn[key] = v.tolist() if size is not None else float(v)
            sets.append((name, {**base, **drawn}))
    edges = cfg.labels.edges_jy.tolist()
    return [(n, {**p, "edges_jy": p.get("edges_jy", edges)} if n == "per_bin" else p) for n, p in sets]


@dataclass(frozen=True)
class Realisation:
    index: int
    set_index: int
    repeat: int
    modifier_name: str
    modifier_params: dict   # as configured; per-realisation random parameters are drawn when it is made

    def seed_sequence(self, base_seed: int, *purpose: int) -> np.random.SeedSequence:
        """The stream of this realisation for a purpose (a tuple of small integers)."""
        return np.random.SeedSequence(base_seed, spawn_key=(REALISATION_STREAM, self.index, *purpose))


def plan(cfg) -> list[Realisation]:
    """Every realisation of ``cfg``, in index order."""
    out = []
    for k, (name, params) in enumerate(parameter_sets(cfg)):
        for rep in range(cfg.realisations.repeats):
            out.append(Realisation(len(out), k, rep, name, params))
    return out


def get(cfg, index: int) -> Realisation:
    realisations = plan(cfg)
    if not 0 <= index < len(realisations):
        raise IndexError(f"realisation index {index} is out of range: the config plans {len(realisations)} "
                         f"(indices 0..{len(realisations) - 1})")
    return realisations[index]
