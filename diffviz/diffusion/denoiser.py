"""The denoiser call every part of diffviz makes: the UNet on x_t at step t with its condition."""
from __future__ import annotations

import torch

from .forward import eps_and_x0, split_variance


def call_denoiser(unet, x: torch.Tensor, t, cond) -> torch.Tensor:
    """One denoiser call: text models get `encoder_hidden_states`, class models `class_labels`.

    A half-precision UNet driven with float32 inputs (a view's x_t) gets them in its dtype and answers in x's."""
    dtype = getattr(unet, "dtype", x.dtype)
    if x.dtype != dtype or (cond is not None and cond.is_floating_point() and cond.dtype != dtype):
        cond = cond.to(dtype) if cond is not None and cond.is_floating_point() else cond
        return call_denoiser(unet, x.to(dtype), t, cond).to(x.dtype)
    if cond is None:
        return unet(x, t).sample
    if cond.dtype == torch.long:
        return unet(x, t, class_labels=cond).sample
    return unet(x, t, encoder_hidden_states=cond).sample


def predicted_noise(unet, x: torch.Tensor, t, cond, schedule=None) -> torch.Tensor:
    """ε̂ for x_t at t: the denoiser's output with any learned variance split off and, for a model that predicts
    v or x0 (`schedule.prediction_type`), converted to the noise it implies (`forward.eps_and_x0`)."""
    out = split_variance(call_denoiser(unet, x, t, cond), x.shape[1])[0]
    kind = getattr(schedule, "prediction_type", "epsilon")
    if kind == "epsilon":
        return out
    alpha_bar = schedule.alphas_cumprod.to(x.device)[torch.as_tensor(t, device=x.device).long()].to(x.dtype)
    return eps_and_x0(out, x, alpha_bar.expand(x.shape[0]) if alpha_bar.numel() == 1 else alpha_bar, kind)[0]
