"""Sampling schedulers by name, built from a model's training schedule (diffusers does the maths)."""
from __future__ import annotations

import copy

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
)

from .schedule import Schedule
from ..errors import DiffvizError, InputTypeError

SCHEDULER_NAMES = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
}
ALIASES = {"dpm++": "dpm", "dpmsolver": "dpm", "dpmsolver++": "dpm", "euler_discrete": "euler"}


def make_scheduler(name: str, schedule: Schedule | dict, *, sample_range: float = 1.0):
    """A fresh diffusers scheduler `name` ("ddpm", "ddim", "dpm", "euler") on the training schedule.

    `trailing` timestep spacing makes the first sampling step start at t = T-1 (pure noise), which
    is what the reverse-process view should show. There ᾱ can be tiny (2e-9 for the cosine
    schedule), so x̂0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ magnifies any error in ε̂ ~10⁴×: the predicted clean
    sample is clipped to ±`sample_range` (1 for pixels, ~3 for unit-variance latents) by the
    scheduler's own option (DDPM/DDIM `clip_sample`, DPM-Solver++ thresholding for pixels). Euler,
    and DPM-Solver++ on latents, start at the first `leading` step instead (ᾱ ≈ 1e-3, visually
    pure noise).
    """
    if not isinstance(name, str):
        raise InputTypeError(f"scheduler must be a name string, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SCHEDULER_NAMES:
        raise DiffvizError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULER_NAMES)}")
    config = schedule.to_scheduler_config() if isinstance(schedule, Schedule) else dict(schedule)
    overrides = {"timestep_spacing": "trailing"}
    if key in ("ddpm", "ddim"):
        overrides.update(clip_sample=True, clip_sample_range=float(sample_range))
    if key == "dpm":
        overrides["algorithm_type"] = "dpmsolver++"
        if sample_range <= 1.0:  # dynamic thresholding suits pixels, not latents
            overrides.update(thresholding=True, sample_max_value=1.0)
    if key == "euler" or (key == "dpm" and sample_range > 1.0):
        overrides.update(timestep_spacing="leading", steps_offset=1)
    return SCHEDULER_NAMES[key].from_config(config, **overrides)


def model_scheduler(config: dict):
    """The scheduler a model ships (its class, `_class_name`, and its config untouched): `scheduler="model"`.

    With it a diffusers pipeline's model samples exactly as `pipe(...)` does; the names above are diffviz's
    teaching variants of the same schedule."""
    import diffusers

    name = config.get("_class_name") or "DDPMScheduler"
    cls = getattr(diffusers, str(name), None)
    if cls is None or not hasattr(cls, "from_config") or not name.endswith("Scheduler"):
        raise DiffvizError(f"the model's scheduler {name!r} is not a diffusers scheduler diffviz knows; "
                           f"use one of {', '.join(SCHEDULER_NAMES)}")
    return cls.from_config(config)



def steps_fit(scheduler, steps: int, num_train_timesteps: int) -> bool:
    """True when `scheduler` (a built diffusers scheduler) can sample in `steps` steps on a schedule of
    `num_train_timesteps`: its timesteps are then distinct training timesteps (0 … T−1). Tried on a copy.

    `leading` spacing with `steps_offset=1` (diffviz's Euler, and DPM-Solver++ on latents) shifts every
    timestep up by one, so at T steps (DPM-Solver++: T−1 too) the first one is T, past the schedule's end
    (diffusers then indexes past its tables: an IndexError, or NaN pictures)."""
    probe = copy.deepcopy(scheduler)
    probe.set_timesteps(int(steps))
    ts = [float(t) for t in probe.timesteps]
    return len(set(ts)) == steps and min(ts) >= 0 and max(ts) <= num_train_timesteps - 1


def max_steps(scheduler, num_train_timesteps: int) -> int:
    """The most sampling steps `scheduler` can take on a schedule of `num_train_timesteps` (see `steps_fit`)."""
    T = int(num_train_timesteps)
    return next((n for n in range(T, 1, -1) if steps_fit(scheduler, n, T)), 1)
