"""radsim: simulated radio skies with chosen source counts, imaged as a telescope would, cut into labelled tiles."""
__version__ = "0.1.0"
