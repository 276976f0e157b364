"""Sampling schedulers by name, built from a model's training schedule (diffusers does the maths)."""
from __future__ import annotations

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
)

from .schedule import Schedule

SCHEDULER_NAMES = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
}
ALIASES = {"dpm++": "dpm", "dpmsolver": "dpm", "dpmsolver++": "dpm", "euler_discrete": "euler"}


def make_scheduler(name: str, schedule: Schedule | dict, *, clip_sample: bool = True):
    """A fresh diffusers scheduler `name` ("ddpm", "ddim", "dpm", "euler") on the training schedule.

    `trailing` timestep spacing makes the first sampling step start at t = T-1 (pure noise) for
    every scheduler, which is what the reverse-process view should show.
    """
    if not isinstance(name, str):
        raise TypeError(f"scheduler must be a name string, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULER_NAMES)}")
    config = schedule.to_scheduler_config() if isinstance(schedule, Schedule) else dict(schedule)
    overrides = {"timestep_spacing": "trailing"}
    if key in ("ddpm", "ddim"):
        overrides["clip_sample"] = clip_sample
    if key == "dpm":
        overrides["algorithm_type"] = "dpmsolver++"
    return SCHEDULER_NAMES[key].from_config(config, **overrides)
