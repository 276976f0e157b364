"""Tiny random diffusers pipelines, built locally (no downloads), for the bring-your-own-model tests.

The sizes follow diffusers' own test suite (tests/pipelines/stable_diffusion/test_stable_diffusion.py,
`get_dummy_components`); the CLIP tokenizer's vocabulary is a small BPE written to disk here instead of
`hf-internal-testing/tiny-random-clip`.
"""
from __future__ import annotations

import json
import string
from pathlib import Path

import torch

SCHEDULERS = ("DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler")
WORDS = ["a", "red", "blue", "green", "circle", "square", "photograph", "of", "an", "astronaut", "riding", "horse"]


def write_clip_tokenizer(folder: Path, max_length: int = 77) -> Path:
    """vocab.json + merges.txt of a small CLIP byte-level BPE: single characters, and whole WORDS by merges."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for c in string.punctuation + string.digits + string.ascii_lowercase:
        vocab.setdefault(c, len(vocab))
    for c in string.punctuation + string.digits + string.ascii_lowercase:
        vocab.setdefault(c + "</w>", len(vocab))
    merges = []
    for word in WORDS:  # left-to-right merges spell each word, the last piece with the end-of-word mark
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            merge = f"{a} {b}"
            if merge not in merges:
                merges.append(merge)
            vocab.setdefault(a + b, len(vocab))
            pieces = [a + b] + pieces[2:]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": max_length}))
    return folder


def scheduler(name: str = "DDIMScheduler", **extra):
    """Stable Diffusion's training schedule in the scheduler `name`, configured as SD ships it."""
    import diffusers

    cfg = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
               steps_offset=1)  # StableDiffusionPipeline sets steps_offset=1 on any scheduler it is built with
    if name in ("DDIMScheduler", "DDPMScheduler"):
        cfg.update(clip_sample=False)
    if name == "DDIMScheduler":
        cfg.update(set_alpha_to_one=False)
    cfg.update(extra)
    return getattr(diffusers, name)(**cfg)


def tiny_sd_pipeline(tmp: Path, scheduler_name: str = "DDIMScheduler", seed: int = 0):
    """A StableDiffusionPipeline with a tiny UNet2DConditionModel, AutoencoderKL and transformers CLIP text encoder."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2, attention_head_dim=2)
    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=2, sample_size=16)
    tok_dir = write_clip_tokenizer(Path(tmp) / "tiny-clip-tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length))
    pipe = StableDiffusionPipeline(unet=unet, scheduler=scheduler(scheduler_name), vae=vae, text_encoder=text_encoder,
                                   tokenizer=tokenizer, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_uncond_pipeline(kind: str = "DDPMPipeline", seed: int = 0, out_channels: int = 3, **scheduler_extra):
    """A DDPMPipeline or DDIMPipeline with a tiny pixel UNet2DModel (3×8×8); scheduler_extra: its scheduler's
    config beyond num_train_timesteps (prediction_type, variance_type with out_channels=6, …)."""
    import diffusers
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=3, out_channels=out_channels,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    cls = diffusers.DDPMScheduler if kind == "DDPMPipeline" else diffusers.DDIMScheduler
    pipe = getattr(diffusers, kind)(unet=unet, scheduler=cls(num_train_timesteps=1000, **scheduler_extra))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_ldm_pipeline(seed: int = 0):
    """An LDMPipeline: a tiny UNet2DModel on 3×8×8 latents of a tiny VQModel (16×16 pictures), a DDIM scheduler."""
    from diffusers import DDIMScheduler, LDMPipeline, UNet2DModel, VQModel

    torch.manual_seed(seed)
    unet = UNet2DModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=3, out_channels=3,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    torch.manual_seed(seed)
    vqvae = VQModel(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=3, norm_num_groups=4,
                    down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                    num_vq_embeddings=32, sample_size=16)
    pipe = LDMPipeline(vqvae=vqvae, unet=unet, scheduler=DDIMScheduler(num_train_timesteps=1000))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save(pipe, folder: Path) -> Path:
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
