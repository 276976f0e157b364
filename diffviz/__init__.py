"""diffviz: see how a diffusion model works.

    import diffviz
    model = diffviz.load("shapes")
    traj = model.sample("a red circle", steps=50, guidance=3, scheduler="ddim", seed=0)
    traj.final_images()          # uint8 (B, H, W, 3)
    lab = diffviz.train_lab("digits"); lab.start(); lab   # train one from scratch, live

`import diffviz` is light: torch, diffusers and the rest load when a name below is first used, so a
server process that only needs diffviz's settings (Voila's kernel cap, `diffviz.voila.kernels`)
does not hold them.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["load", "from_pipeline", "available", "DiffusionModel", "Trajectory", "Schedule", "forward_process", "forward_strip", "ForwardSample",
           "train_lab"]

_NAMES = {
    "ForwardSample": ".diffusion.forward", "forward_process": ".diffusion.forward", "forward_strip": ".diffusion.forward",
    "Schedule": ".diffusion.schedule", "Trajectory": ".diffusion.trajectory", "DiffusionModel": ".models.pipeline",
    "available": ".models.registry", "load": ".models.registry", "from_pipeline": ".models.registry",
    "train_lab": ".widgets.lab",
}


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name], __name__), name)
    else:
        try:  # a subpackage used as an attribute (diffviz.widgets) imports on first use, as it did eagerly
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'diffviz' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
