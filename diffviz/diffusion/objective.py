"""The noise predictor's training objective, one step at a time (the lecture's training view).

Training pairs come from the forward process: pick x0, a step t and noise ε, make x_t, and ask
the denoiser to predict ε from (x_t, t, condition); the loss is ‖ε − ε̂‖². Condition dropout
replaces some conditions by the unconditional input so the same network also learns ε̂_uncond,
which classifier-free guidance needs.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .forward import check_timesteps, q_sample
from .sampling import call_denoiser
from .schedule import Schedule


class NoisePrediction(NamedTuple):
    x0: torch.Tensor  # clean input in the denoiser's space (latent for latent models)
    t: torch.Tensor  # (B,) timesteps
    noise: torch.Tensor  # true ε
    x_t: torch.Tensor
    eps_pred: torch.Tensor  # ε̂
    loss: torch.Tensor  # mean squared error ‖ε − ε̂‖², scalar


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
    x_t = q_sample(x0, t, schedule, noise).x_t
    eps_pred = call_denoiser(unet, x_t, t, cond)
    return NoisePrediction(x0, t, noise, x_t, eps_pred, F.mse_loss(eps_pred, noise))


def drop_conditions(cond: torch.Tensor, null: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Replace each item's condition by the unconditional one with probability p (CFG training)."""
    if p <= 0:
        return cond
    drop = torch.rand(cond.shape[0], generator=generator, device=cond.device) < p
    return torch.where(drop.view((-1,) + (1,) * (cond.ndim - 1)), null, cond)
