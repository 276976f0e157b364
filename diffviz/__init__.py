"""diffviz: see how a diffusion model works.

    import diffviz
    model = diffviz.load("shapes")
    traj = model.sample("a red circle", steps=50, guidance=3, scheduler="ddim", seed=0)
    traj.final_images()          # uint8 (B, H, W, 3)
"""
from .diffusion.forward import ForwardSample, forward_process, forward_strip
from .diffusion.schedule import Schedule
from .diffusion.trajectory import Trajectory
from .models.pipeline import DiffusionModel
from .models.registry import available, load

__version__ = "0.1.0"
__all__ = ["load", "available", "DiffusionModel", "Trajectory", "Schedule", "forward_process", "forward_strip", "ForwardSample"]
