"""Running the stages: the realisation plan, the pipeline of one realisation and the MPI driver around it.

- :mod:`~radsim.run.realisations`: which realisations a config asks for and their random streams;
- :mod:`~radsim.run.pipeline`: one realisation through sky, instrument and tiles (no files, no MPI);
- :mod:`~radsim.run.driver`: `radsim simulate`, the MPI job (the only module that knows MPI).
"""
