"""The sky: source-count models, a catalogue of one field (drawn, or read from T-RECS), the sky model on a pixel
grid (Jy/pixel).

- :mod:`~radsim.sky.counts`: dN/dS per class (the built-in two-population model or a table) and its modifiers;
- :mod:`~radsim.sky.published`: published counts to check the models against;
- :mod:`~radsim.sky.catalogue`: a field's sources, drawn from a counts model or read from T-RECS;
- :mod:`~radsim.sky.grid`: the WCS pixel grid of a field;
- :mod:`~radsim.sky.render`: sources deposited on the grid.
"""
from radsim.sky.catalogue import Catalogue, TrecsError, read_trecs
from radsim.sky.counts import CLASSES, CountsModel, load_base
from radsim.sky.grid import Grid
from radsim.sky.render import SkyAccumulator

# (the function render.render is not re-exported: its name would hide the submodule)
__all__ = ["CLASSES", "Catalogue", "CountsModel", "Grid", "SkyAccumulator", "TrecsError", "load_base",
           "read_trecs"]
