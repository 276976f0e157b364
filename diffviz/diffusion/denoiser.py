"""The denoiser call every part of diffviz makes: the UNet on x_t at step t with its condition."""
from __future__ import annotations

import torch


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
