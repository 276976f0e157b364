"""diffviz: see how a diffusion model works."""
__version__ = "0.1.0"
