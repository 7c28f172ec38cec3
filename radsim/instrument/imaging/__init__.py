"""Imaging backends behind one interface (:class:`Imager`): from a sky model to what the telescope delivers.
See :mod:`radsim.instrument.imaging.base` for the interface, the registry and what the backends share."""
from radsim.instrument.imaging.base import BACKENDS, Beam, ImagedSky, Imager, ImagingError, build_imager

__all__ = ["BACKENDS", "Beam", "ImagedSky", "Imager", "ImagingError", "build_imager"]
