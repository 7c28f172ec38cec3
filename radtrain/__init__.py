"""radtrain: CNN training on radsim tiles (data-parallel with Horovod), evaluation and prediction."""
__version__ = "0.1.0"
