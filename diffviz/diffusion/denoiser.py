"""The denoiser call every part of diffviz makes: the UNet on x_t at step t with its condition."""
from __future__ import annotations

import torch


def call_denoiser(unet, x: torch.Tensor, t, cond) -> torch.Tensor:
    """One denoiser call: text models get `encoder_hidden_states`, class models `class_labels`."""
    if cond is None:
        return unet(x, t).sample
    if cond.dtype == torch.long:
        return unet(x, t, class_labels=cond).sample
    return unet(x, t, encoder_hidden_states=cond).sample
