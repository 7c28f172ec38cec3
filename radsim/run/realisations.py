"""Parameter sets of a training set and the plan of realisations, with their random streams.

Randomness is keyed by what is drawn, never by who draws it:

* parameter set ``k`` of a ``random`` plan draws from ``SeedSequence(run.seed, spawn_key=(0, k))``;
* realisation ``i`` draws from ``SeedSequence(run.seed, spawn_key=(1, i))`` and its children, so a realisation
  is bit-identical whichever rank makes it and in whatever order.

Realisation ``i`` uses parameter set ``i // repeats`` (repeat ``i % repeats``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsim.errors import RadsimError

PARAMS_STREAM = 0
REALISATION_STREAM = 1
SPLIT_STREAM = 2


class PlanError(RadsimError, IndexError):
    """A realisation the config does not plan."""


def n_sets(cfg) -> int:
    """The number of parameter sets of ``cfg``."""
    r = cfg.realisations
    if r.mode == "single":
        return 1
    if r.mode == "list":
        return len(r.sets)
    if r.mode == "grid":
        return int(np.prod([len(v) for v in r.grid.values()]))
    return r.n


def n_realisations(cfg) -> int:
    """The number of realisations ``cfg`` plans (parameter sets x repeats)."""
    return n_sets(cfg) * cfg.realisations.repeats


def parameter_set(cfg, k: int) -> tuple[str, dict]:
    """The (modifier name, parameters) of parameter set ``k`` of ``cfg``, defaults not yet filled in; made on
    its own (grid: the k-th of the product in itertools order; random: drawn from stream (0, k))."""
    base = dict(cfg.counts.modifier)
    name = base.pop("name")
    r = cfg.realisations
    if r.mode == "single":
        out = (name, base)
    elif r.mode == "list":
        s = dict(r.sets[k])
        set_name = s.pop("name", name)
        out = (set_name, {**(base if set_name == name else {}), **s})
    elif r.mode == "grid":
        keys = sorted(r.grid)
        position = np.unravel_index(k, [len(r.grid[key]) for key in keys])
        out = (name, {**base, **{key: r.grid[key][int(i)] for key, i in zip(keys, position)}})
    else:  # random
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
        out = (name, {**base, **drawn})
    n, p = out
    return (n, {**p, "edges_jy": p.get("edges_jy", cfg.labels.edges_jy.tolist())}) if n == "per_bin" else (n, p)


def parameter_sets(cfg) -> list[tuple[str, dict]]:
    """The (modifier name, parameters) of every parameter set of ``cfg``, defaults not yet filled in."""
    return [parameter_set(cfg, k) for k in range(n_sets(cfg))]


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
    """Realisation ``index`` of ``cfg`` (its parameter set alone is made, not the whole plan)."""
    total = n_realisations(cfg)
    if not 0 <= index < total:
        raise PlanError(f"realisation index {index} is out of range: the config plans {total} "
                         f"(indices 0..{total - 1})")
    k, rep = divmod(index, cfg.realisations.repeats)
    name, params = parameter_set(cfg, k)
    return Realisation(index, k, rep, name, params)
