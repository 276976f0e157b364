"""Tiny randomly initialised models of each kind: for tests, demos and benchmarks.

They have the real architecture of the bundled models (diffusers UNets and VAE, open_clip text
tower) at toy size, so every code path runs in well under a second on a laptop CPU. Each declares the
data set it imitates (`"dataset"`: its real images and conditions for FID and the example views):
tiny-text and tiny-uncond the shapes, tiny-class the digits.
"""
from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel, UNet2DModel

from .conditioning import ClassConditioner, TextConditioner
from .info import ModelInfo
from .pipeline import DiffusionModel

TINY_CLIP_CONFIG = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
    text_cfg=dict(context_length=16, width=32, heads=2, layers=1),
)
TINY_WORDS = ["a", "an", "the", "red", "blue", "green", "circle", "square", "small", "big"]


def tiny_scheduler_config(num_train_timesteps: int = 1000, beta_schedule: str = "linear") -> dict:
    return dict(DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule).config)


def tiny_text_model(seed: int = 0, latent: bool = True) -> DiffusionModel:
    """Text-conditional latent model: tiny CLIP text tower + tiny VAE (16×16×3 ↔ 8×8×4) + cond UNet."""
    torch.manual_seed(seed)
    cond = TextConditioner(TINY_CLIP_CONFIG, context_length=16, known_words=TINY_WORDS)
    vae = None
    if latent:
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=4, sample_size=16,
        )
    unet = UNet2DConditionModel(
        sample_size=8 if latent else 16, in_channels=4 if latent else 3, out_channels=4 if latent else 3,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8,
    )
    info = ModelInfo(name="tiny-text", dataset="shapes", image_size=16, default_guidance=3.0,
                     prompt_examples=["a red circle", "a blue square"])  # in its few words
    return DiffusionModel(unet, tiny_scheduler_config(), cond, vae, latent_scale=1.0, info=info)


TINY_DIGITS_CLASSIFIER = dict(in_channels=1, image_size=16, width=8, feature_dim=6, heads={"digit": 10},
                              classes={"digit": [str(i) for i in range(10)]})


def tiny_class_model(seed: int = 0, num_classes: int = 10, classifier: bool = False) -> DiffusionModel:
    """Class-conditional pixel model: UNet2DModel with class embeddings and a null class.

    classifier: also a tiny random digits domain classifier (6-d features), so FID and `evaluate`
    run end to end (the numbers mean nothing; the code paths are the real ones)."""
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=16, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
        norm_num_groups=8, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        num_class_embeds=num_classes + 1,
    )
    info = ModelInfo(name="tiny-class", dataset="digits", image_size=16, default_guidance=2.0)
    judge = None
    if classifier:
        from .builders import build_classifier

        judge = build_classifier(TINY_DIGITS_CLASSIFIER)
    return DiffusionModel(unet, tiny_scheduler_config(), ClassConditioner(num_classes), info=info, classifier=judge)


def tiny_uncond_model(seed: int = 0) -> DiffusionModel:
    torch.manual_seed(seed)
    unet = UNet2DModel(
        sample_size=16, in_channels=3, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
        norm_num_groups=8, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    return DiffusionModel(unet, tiny_scheduler_config(), info=ModelInfo(name="tiny-uncond", dataset="shapes", image_size=16))


TINY_MODELS = {"tiny-text": tiny_text_model, "tiny-class": tiny_class_model, "tiny-uncond": tiny_uncond_model}
