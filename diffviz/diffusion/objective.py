"""The noise predictor's training objective, one step at a time (the lecture's training view).

Training pairs come from the forward process: pick x0, a step t and noise ε, make x_t, and ask
the denoiser to predict ε from (x_t, t, condition); the loss is ‖ε − ε̂‖²; `train_step` takes one
optimiser step on it. Condition dropout (`guidance.drop_conditions`) replaces some conditions by the unconditional input so the same network also learns ε̂_uncond,
which classifier-free guidance needs.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .forward import check_timesteps, predict_x0, q_sample
from .guidance import drop_conditions  # noqa: F401  (condition dropout lives with guidance; kept importable here)
from .denoiser import predicted_noise
from .schedule import Schedule


class NoisePrediction(NamedTuple):
    x0: torch.Tensor  # clean input in the denoiser's space (latent for latent models)
    t: torch.Tensor  # (B,) timesteps
    noise: torch.Tensor  # true ε
    x_t: torch.Tensor
    eps_pred: torch.Tensor  # ε̂
    loss: torch.Tensor  # mean squared error ‖ε − ε̂‖², scalar
    alpha_bar: torch.Tensor | None = None  # ᾱ_t per item

    @property
    def error(self) -> torch.Tensor:
        """|ε − ε̂| per element (the error map)."""
        return (self.noise - self.eps_pred).abs()

    def x0_pred(self, clip: float | None = None) -> torch.Tensor:
        """The model's estimate of the clean input implied by ε̂ (see `forward.predict_x0`)."""
        return predict_x0(self.x_t, self.eps_pred, self.alpha_bar, clip)


def sample_timesteps(batch: int, schedule: Schedule, generator=None, device="cpu") -> torch.Tensor:
    """Uniform random training timesteps in [0, T)."""
    return torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator, device=device)


def noise_prediction(unet, schedule: Schedule, x0, t=None, cond=None, generator=None, noise=None) -> NoisePrediction:
    """Make a training pair (x_t from x0, t, ε) and run the denoiser on it; t=None draws random steps."""
    if t is None:
        t = sample_timesteps(x0.shape[0], schedule, generator, x0.device)
    t = check_timesteps(t, x0.shape[0], schedule.num_train_timesteps, x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    x_t, _, alpha_bar = q_sample(x0, t, schedule, noise)
    eps_pred = predicted_noise(unet, x_t, t, cond, schedule)  # a v- or x0-predicting model's output as ε̂
    return NoisePrediction(x0, t, noise, x_t, eps_pred, F.mse_loss(eps_pred, noise), alpha_bar)


def train_step(unet, optimizer: torch.optim.Optimizer, schedule: Schedule, x0, t=None, cond=None,
               generator=None, noise=None) -> float:
    """One optimiser step on the noise-prediction loss of these pairs; returns the loss *before* the step.

    The loss is computed exactly as `noise_prediction` computes it (same t, ε, condition; no condition
    dropout), in whatever mode `unet` is in: a copy kept in eval() mode (no dropout) gives, on its
    first step, the very MSE that `noise_prediction` shows for the original model on the same pair.
    """
    out = noise_prediction(unet, schedule, x0, t, cond, generator=generator, noise=noise)
    if not torch.isfinite(out.loss):
        raise FloatingPointError(f"the loss is {out.loss.item()}; lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    optimizer.step()
    return float(out.loss.detach())
