"""Classifier-free guidance, in one place.

One network predicts the noise twice: with the condition (ε̂_cond) and with the unconditional
input (ε̂_uncond: the empty prompt, the null class). Guidance extrapolates from one to the other,

    ε̂ = ε̂_uncond + w·(ε̂_cond − ε̂_uncond),

so w = 0 ignores the condition, w = 1 is plain conditioning, and w > 1 pushes past it — helpful up to
a point, then colours saturate and images degrade. The network learns ε̂_uncond because training
replaces some conditions by the unconditional input (`drop_conditions`, "condition dropout").
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from .denoiser import predicted_noise


class GuidedPrediction(NamedTuple):
    eps_uncond: torch.Tensor  # ε̂ without the condition
    eps_cond: torch.Tensor  # ε̂ with the condition
    delta: torch.Tensor  # w·(ε̂_cond − ε̂_uncond): what guidance adds
    eps: torch.Tensor  # the guided ε̂ = ε̂_uncond + delta


def combine(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, w: float) -> torch.Tensor:
    """ε̂_uncond + w·(ε̂_cond − ε̂_uncond) (the sampling loop's exact arithmetic)."""
    return eps_uncond + w * (eps_cond - eps_uncond)


def guided_prediction(unet, x_t: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor, w: float,
                      eps_cond: torch.Tensor | None = None, schedule=None) -> GuidedPrediction:
    """Both predictions and their guided mix for one x_t (`eps_cond` given: only the unconditional call runs);
    schedule: the model's, so that a v- or x0-predicting model's outputs are mixed as ε̂ (`predicted_noise`)."""

    if eps_cond is None:
        eps_uncond, eps_cond = predicted_noise(unet, torch.cat([x_t, x_t]), t, torch.cat([uncond, cond]), schedule).chunk(2)
    else:
        eps_uncond = predicted_noise(unet, x_t, t, uncond, schedule)
    delta = w * (eps_cond - eps_uncond)
    return GuidedPrediction(eps_uncond, eps_cond, delta, combine(eps_uncond, eps_cond, w))


def drop_conditions(cond: torch.Tensor, null: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Replace each item's condition by the unconditional one with probability p (CFG training)."""
    if p <= 0:
        return cond
    drop = torch.rand(cond.shape[0], generator=generator, device=cond.device) < p
    return torch.where(drop.view((-1,) + (1,) * (cond.ndim - 1)), null, cond)


def visibility_gain(x: torch.Tensor, full: float = 3.0) -> float:
    """A factor k ≥ 1 (two significant digits) so that k·x spans about ±full: to *see* a small difference.

    w·(ε̂_cond − ε̂_uncond) is tiny next to ε (|values| ~ 0.05 against ~3): shown at ε's scale it is a
    flat grey square. Shown ×k, with k printed next to it, its pattern appears.
    """
    peak = float(x.detach().abs().max()) if x.numel() else 0.0
    if not peak > 0 or peak >= full:
        return 1.0
    return float(f"{full / peak:.2g}")


def outside_range(w: float | Sequence[float], guidance_range: tuple[float, float]) -> tuple[list[float], list[float]]:
    """(scales below, scales above) the range [lo, hi] a model was tuned for."""
    scales = [float(w)] if isinstance(w, (int, float)) else [float(s) for s in w]
    lo, hi = guidance_range
    return [s for s in scales if s < lo], [s for s in scales if s > hi]
