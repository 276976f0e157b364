"""A tiny noise predictor for 2-D points: an MLP that takes (x_t, t) and returns ε̂ (2 numbers).

The same job as the image UNets — predict the noise in x_t at step t — at a size that trains in
seconds on a CPU. The step enters as diffusers' sinusoidal timestep embedding (the one the UNets
use), added to the input's features. A diffusers `ModelMixin`/`ConfigMixin`, so `save_pretrained` /
`from_pretrained` work like the UNets'; its output has `.sample` like theirs, so the sampling loop
and the training objective call it unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_timestep_embedding
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn


@dataclass
class ToyDenoiserOutput(BaseOutput):
    sample: torch.Tensor  # ε̂, (B, 2)


class ToyDenoiser(ModelMixin, ConfigMixin):
    """ε̂ = MLP(x_t + embed(t)): `width` hidden units, `depth` residual blocks, SiLU."""

    @register_to_config
    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3, time_dim: int = 64, num_train_timesteps: int = 1000):
        super().__init__()
        self.inp = nn.Linear(dim, width)
        self.time = nn.Sequential(nn.Linear(time_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(),
                                                  nn.Linear(width, width)) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, sample: torch.Tensor, timestep, return_dict: bool = True):
        t = torch.as_tensor(timestep, device=sample.device)
        if t.ndim == 0:
            t = t.expand(sample.shape[0])
        emb = get_timestep_embedding(t.float(), self.config.time_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        h = self.inp(sample) + self.time(emb.to(sample.dtype))
        for block in self.blocks:
            h = h + block(h)
        eps = self.out(h)
        return ToyDenoiserOutput(sample=eps) if return_dict else (eps,)
