"""What the telescope does to the sky: the array and its uv coverage, Measurement Sets, and imaging.

- :mod:`~radsim.instrument.telescope`: ASKAP's antennas, the observation, UVW as casacore computes them;
- :mod:`~radsim.instrument.ms`: a Measurement Set of an observation (for WSClean and Yandasoft);
- :mod:`~radsim.instrument.imaging`: the backends (none, fast, wsclean, yandasoft) behind one interface.
"""
from radsim.instrument.telescope import Observation, ObservationError

__all__ = ["Observation", "ObservationError"]
