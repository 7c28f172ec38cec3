"""radsim: simulated radio skies with chosen source counts, imaged as a telescope would, cut into labelled tiles.

The subpackages, in the order the data flow through them: :mod:`radsim.sky` (counts, catalogue, sky model),
:mod:`radsim.instrument` (the array, uv coverage and imaging backends), :mod:`radsim.tiles` (tiles and labels),
:mod:`radsim.dataset` (shards, manifest and the reader radtrain uses), :mod:`radsim.run` (the realisation plan,
the pipeline and the MPI driver); beside them :mod:`radsim.baseline` (the P(D) fit) and :mod:`radsim.studies`
(scaling). :mod:`radsim.config` is the schema, :mod:`radsim.errors` the error base, :mod:`radsim.cli` the
command line.
"""
__version__ = "0.1.0"
#: revision of what shapes the tiles beyond the version (a dataset is resumed only with the same): 2 = imaging
#: weights on WSClean's weighting grid
TILES_REVISION = 2
