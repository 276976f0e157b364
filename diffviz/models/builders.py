"""Builders for the bundled models' parts, each from a JSON-able config (so a folder can rebuild it).

Sizes are chosen to train on a laptop CPU in about an hour yet show the lecture's ideas clearly:
a tiny CLIP (text encoder), a tiny AutoencoderKL (32×32×3 ↔ 8×8×4, the decoder), a latent
UNet2DConditionModel with cross-attention on the CLIP token states (the generator), a pixel
UNet2DModel with class embeddings for digits, and small CNN classifiers that judge generations
and give FID features offline.
"""
from __future__ import annotations

import copy

import open_clip
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from .part import Part

SHAPES_CLIP_CONFIG = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=3, width=96, patch_size=4, head_width=32, mlp_ratio=2.0),
    text_cfg=dict(context_length=24, width=64, heads=2, layers=2, mlp_ratio=2.0),
)
SHAPES_VAE_CONFIG = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[16, 32, 64], layers_per_block=1,
    down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
    norm_num_groups=8, sample_size=32, mid_block_add_attention=False,
)
SHAPES_UNET_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=[64, 96],
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=64, attention_head_dim=16, norm_num_groups=16,
)
DIGITS_UNET_CONFIG = dict(
    sample_size=16, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=[32, 64, 64],
    down_block_types=["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    up_block_types=["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
    norm_num_groups=16, num_class_embeds=11,
)
SHAPES_CLASSIFIER_CONFIG = dict(in_channels=3, image_size=32, width=32, feature_dim=128,
                                head_sizes={"colour": 6, "shape": 4, "size": 2, "position": 5})
DIGITS_CLASSIFIER_CONFIG = dict(in_channels=1, image_size=16, width=32, feature_dim=64, head_sizes={"digit": 10})


CLIP_PREPROCESS = {"size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
                   "interpolation": "bilinear", "resize_mode": "shortest"}


def build_clip(cfg: dict) -> open_clip.CLIP:
    """A small open_clip CLIP; its image tower takes pixels normalised with mean = std = 0.5."""
    clip = open_clip.CLIP(**copy.deepcopy(cfg))
    open_clip.model.set_model_preprocess_cfg(clip, dict(CLIP_PREPROCESS, size=cfg["vision_cfg"]["image_size"]))
    return clip


def make_tokenizer(context_length: int):
    return open_clip.tokenizer.SimpleTokenizer(context_length=context_length)


def build_vae(cfg: dict) -> AutoencoderKL:
    return AutoencoderKL(**cfg)


def build_text_unet(cfg: dict) -> UNet2DConditionModel:
    return UNet2DConditionModel(**cfg)


def build_class_unet(cfg: dict) -> UNet2DModel:
    return UNet2DModel(**cfg)


class DomainClassifier(Part):
    """Small CNN with one head per attribute; `features(x)` is its penultimate embedding (FID features).

    A diffusers part: config = sizes, `head_sizes` {attribute: number of classes} and, optionally, `classes`
    {attribute: class names}; `save_pretrained` / `from_pretrained` round-trip it."""

    describes = "a domain classifier"

    @register_to_config
    def __init__(self, in_channels: int, image_size: int, width: int, feature_dim: int, head_sizes: dict[str, int],
                 classes: dict[str, list[str]] | None = None):
        super().__init__()
        w, heads = width, head_sizes

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.SiLU())

        self.body = nn.Sequential(block(in_channels, w), nn.AvgPool2d(2), block(w, 2 * w), nn.AvgPool2d(2),
                                  block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.proj = nn.Sequential(nn.Linear(16 * w, feature_dim), nn.SiLU())
        self.heads = nn.ModuleDict({k: nn.Linear(feature_dim, n) for k, n in heads.items()})
        self.image_size = image_size
        self.in_channels = in_channels
        self.classes = {k: list(v) for k, v in classes.items()} if classes else None

    @classmethod
    def legacy_config(cls, cfg: dict) -> dict:
        return classifier_config(cfg)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] → (B, feature_dim)."""
        return self.proj(self.body(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {k: head(f) for k, head in self.heads.items()}


def classifier_config(cfg: dict) -> dict:
    """A classifier config as `DomainClassifier` takes it, from one that may name the heads `heads` (the
    constants above, older folders) and carry training options (`augment_shift`)."""
    out = {k: v for k, v in cfg.items() if k in ("in_channels", "image_size", "width", "feature_dim", "head_sizes", "classes")}
    if "heads" in cfg:
        out["head_sizes"] = cfg["heads"]
    return out


def build_classifier(cfg: dict) -> DomainClassifier:
    return DomainClassifier(**classifier_config(cfg))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
