"""Noise schedules, taken from diffusers' DDPMScheduler, with the quantities a lecture plots.

The forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) is fully described by ᾱ_t, so a
`Schedule` holds ᾱ_t and what derives from it: √ᾱ_t (how much image is left), √(1-ᾱ_t)
(how much noise), SNR_t = ᾱ_t / (1-ᾱ_t), and σ_t = √((1-ᾱ_t)/ᾱ_t) (Euler/Karras noise level).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler
from ..errors import DiffvizError, check_int

MAX_T = 10_000  # training timesteps: far past any real schedule (1000); more only costs memory

# diffviz name -> diffusers beta_schedule
SCHEDULE_NAMES = {
    "linear": "linear",
    "scaled_linear": "scaled_linear",
    "squaredcos_cap_v2": "squaredcos_cap_v2",
    "cosine": "squaredcos_cap_v2",
}


@dataclass(frozen=True)
class Schedule:
    """A training noise schedule: β_t for t = 0..T-1 and everything derived from it."""

    name: str
    betas: torch.Tensor  # (T,) float64
    prediction_type: str = "epsilon"  # what the denoiser trained on it predicts: "epsilon", "v_prediction", "sample"

    @classmethod
    def from_name(
        cls,
        name: str = "linear",
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
    ) -> "Schedule":
        if not isinstance(name, str) or name not in SCHEDULE_NAMES:
            raise DiffvizError(f"unknown schedule {name!r}; allowed: {', '.join(SCHEDULE_NAMES)}")
        num_train_timesteps = check_int("num_train_timesteps", num_train_timesteps, minimum=2, maximum=MAX_T)
        sched = DDPMScheduler(
            num_train_timesteps=num_train_timesteps,
            beta_schedule=SCHEDULE_NAMES[name],
            beta_start=beta_start,
            beta_end=beta_end,
        )
        return cls(name=name, betas=sched.betas.to(torch.float64))

    @classmethod
    def from_scheduler_config(cls, config) -> "Schedule":
        """The schedule a diffusers scheduler config (e.g. a model's training scheduler) describes."""
        sched = DDPMScheduler.from_config(config)
        name = next((k for k, v in SCHEDULE_NAMES.items() if v == sched.config.beta_schedule), sched.config.beta_schedule)
        return cls(name=name, betas=sched.betas.to(torch.float64), prediction_type=sched.config.prediction_type)

    def to_scheduler_config(self) -> dict:
        """A DDPMScheduler config that reproduces this schedule (betas given explicitly) and its prediction type."""
        return dict(DDPMScheduler(num_train_timesteps=self.num_train_timesteps, trained_betas=self.betas.tolist(),
                                  prediction_type=self.prediction_type).config)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.betas.shape[0])

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return torch.cumprod(1.0 - self.betas, dim=0)

    @property
    def sqrt_alpha_bar(self) -> torch.Tensor:
        return self.alphas_cumprod.sqrt()

    @property
    def sqrt_one_minus_alpha_bar(self) -> torch.Tensor:
        return (1.0 - self.alphas_cumprod).sqrt()

    @property
    def snr(self) -> torch.Tensor:
        a = self.alphas_cumprod
        return a / (1.0 - a)

    @property
    def sigma(self) -> torch.Tensor:
        a = self.alphas_cumprod
        return ((1.0 - a) / a).sqrt()

    def as_dict(self) -> dict[str, list[float]]:
        """Plain lists for plotting: t, ᾱ_t, √ᾱ_t, √(1-ᾱ_t), SNR_t, β_t."""
        return {
            "t": list(range(self.num_train_timesteps)),
            "alpha_bar": self.alphas_cumprod.tolist(),
            "sqrt_alpha_bar": self.sqrt_alpha_bar.tolist(),
            "sqrt_one_minus_alpha_bar": self.sqrt_one_minus_alpha_bar.tolist(),
            "snr": self.snr.tolist(),
            "beta": self.betas.tolist(),
        }
