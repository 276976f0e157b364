"""Training recipes, one per bundled part: what data, which loss, which model.

Like Stable Diffusion, the text-to-image model's three parts are trained separately:
the text encoder (a tiny CLIP, contrastive loss on image–caption pairs), the decoder (a tiny VAE,
reconstruction), then the generator (a latent UNet predicting noise, conditioned on the frozen
CLIP's token states, with 10 % of captions dropped so guidance works). Later, apart from all three,
a bilingual text encoder (`text_bilingual`) is distilled from the frozen English one so Chinese prompts
reach the same generator (`bilingual_recipe`). Each recipe returns (model, loss_fn) for `Trainer`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from ..utils import to_unit
from ..data.digits import load_digits_tensor
from ..data.shapes import ATTRIBUTES, ShapesData, bilingual_pairs
from ..diffusion.guidance import drop_conditions
from ..diffusion.objective import noise_prediction
from ..diffusion.schedule import Schedule
from ..models import builders
from ..models.conditioning import TextConditioner, text_token_states

class PartSpec(NamedTuple):
    """How one part trains: steps, AdamW learning rate (after a linear warm-up), batch size, EMA decay (None: no EMA)."""
    steps: int
    lr: float
    batch_size: int
    ema_decay: float | None


# The bundled models' parts, each trained separately, in training order.
# "decoder" fine-tunes the VAE's decoder with its encoder frozen, so the UNet's latents do not move.
SHAPES_PARTS = {"clip": PartSpec(1500, 1e-3, 128, None), "classifier": PartSpec(1500, 2e-3, 64, None),
                "vae": PartSpec(2500, 1e-3, 64, None), "decoder": PartSpec(1000, 2e-4, 64, None),
                "unet": PartSpec(8000, 5e-4, 64, 0.999), "text_bilingual": PartSpec(6000, 1e-3, 128, 0.998)}
DIGITS_PARTS = {"classifier": PartSpec(800, 2e-3, 64, None), "unet": PartSpec(6000, 1e-3, 64, 0.999)}

CAPTION_DROPOUT = 0.1


def _to_float(images_u8: torch.Tensor) -> torch.Tensor:
    return to_unit(images_u8)


def _shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 1) -> torch.Tensor:
    """Random whole-batch translation by up to max_shift pixels (cheap augmentation)."""
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=g, device=g.device).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def clip_recipe(data: ShapesData, cfg: dict, batch_size: int, device, known_words=None):
    """The text encoder part (a `TextConditioner`, so its checkpoint rebuilds it) trains its whole CLIP
    contrastively; cfg is the open_clip CLIP config."""
    model = TextConditioner(cfg, known_words=sorted(known_words) if known_words else None)
    tokens = model.tokenize(data.captions)
    loss = ClipLoss()

    def loss_fn(step, g):
        idx = torch.randint(0, len(tokens), (batch_size,), generator=g, device=g.device).cpu()
        img_f, txt_f, scale = model.clip(_to_float(data.images[idx]).to(device), tokens[idx].to(device))[:3]
        return loss(img_f, txt_f, scale)

    return model, loss_fn


def vae_recipe(data: ShapesData, cfg: dict, batch_size: int, device, kl_weight: float = 1e-6):
    model = builders.build_vae(cfg)

    def loss_fn(step, g):
        idx = torch.randint(0, len(data.images), (batch_size,), generator=g, device=g.device).cpu()
        x = _to_float(data.images[idx]).to(device)
        post = model.encode(x).latent_dist
        recon = model.decode(post.sample(generator=g)).sample
        return F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x) + kl_weight * post.kl().mean()

    return model, loss_fn


def vae_decoder_recipe(data: ShapesData, vae, batch_size: int, device):
    """Fine-tune only the decoder of a trained VAE (as Stable Diffusion's ft-MSE VAE did): the encoder,
    and so every latent a UNet was trained on, stays exactly as it was; reconstructions get sharper."""
    frozen = [vae.encoder, vae.quant_conv] if vae.quant_conv is not None else [vae.encoder]
    for module in frozen:
        module.requires_grad_(False)

    def loss_fn(step, g):
        idx = torch.randint(0, len(data.images), (batch_size,), generator=g, device=g.device).cpu()
        x = _to_float(data.images[idx]).to(device)
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.sample(generator=g)
        recon = vae.decode(z).sample
        return F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x)

    return vae, loss_fn


def classifier_recipe(images: torch.Tensor, labels: dict[str, torch.Tensor], cfg: dict, batch_size: int, device):
    """images: uint8 or float in [-1, 1]; labels: head name -> (N,) class index."""
    model = builders.build_classifier(cfg)

    def loss_fn(step, g):
        idx = torch.randint(0, len(images), (batch_size,), generator=g, device=g.device).cpu()
        x = images[idx]
        x = (_to_float(x) if x.dtype == torch.uint8 else x).to(device)
        if cfg.get("augment_shift"):
            x = _shift(x, g, cfg["augment_shift"])
        out = model(x)
        return sum(F.cross_entropy(out[k], labels[k][idx].to(device)) for k in out)

    return model, loss_fn


@dataclass
class LatentData:
    mean: torch.Tensor  # VAE posterior means (N, 4, 8, 8)
    std: torch.Tensor
    latent_scale: float
    caption_index: torch.Tensor  # (N,) index into states
    states: torch.Tensor  # (K + 1, L, D) CLIP token states of unique captions; the last is ""


@torch.no_grad()
def encode_latents(data: ShapesData, vae, clip, tokenizer, device, batch: int = 512) -> LatentData:
    vae.eval().to(device)
    means, stds = [], []
    for i in range(0, len(data.images), batch):
        d = vae.encode(_to_float(data.images[i:i + batch]).to(device)).latent_dist
        means.append(d.mean.cpu())
        stds.append(d.std.cpu())
    mean, std = torch.cat(means), torch.cat(stds)
    scale = float(1.0 / (mean + std * torch.randn_like(std)).std())
    uniq = sorted(set(data.captions))
    lookup = {c: i for i, c in enumerate(uniq)}
    clip.eval().to(device)
    states = torch.cat([text_token_states(clip, tokenizer(uniq[i:i + 512] if i < len(uniq) else [""]).to(device)).cpu()
                        for i in range(0, len(uniq), 512)] + [text_token_states(clip, tokenizer([""]).to(device)).cpu()])
    idx = torch.tensor([lookup[c] for c in data.captions])
    return LatentData(mean, std, scale, idx, states)


def text_unet_recipe(lat: LatentData, cfg: dict, schedule: Schedule, batch_size: int, device):
    model = builders.build_text_unet(cfg)
    states = lat.states.to(device)
    null = len(states) - 1

    def loss_fn(step, g):
        idx = torch.randint(0, len(lat.mean), (batch_size,), generator=g, device=g.device).cpu()
        mean, std = lat.mean[idx].to(device), lat.std[idx].to(device)
        z0 = (mean + std * torch.randn(std.shape, generator=g, device=g.device)) * lat.latent_scale
        cap = lat.caption_index[idx].to(device)
        cap = drop_conditions(cap, torch.full_like(cap, null), CAPTION_DROPOUT, g)
        return noise_prediction(model, schedule, z0, cond=states[cap], generator=g).loss

    return model, loss_fn


def class_unet_recipe(images: torch.Tensor, labels: torch.Tensor, cfg: dict, schedule: Schedule, batch_size: int, device):
    model = builders.build_class_unet(cfg)
    null = cfg["num_class_embeds"] - 1

    def loss_fn(step, g):
        idx = torch.randint(0, len(images), (batch_size,), generator=g, device=g.device).cpu()
        x0 = _shift(images[idx].to(device), g)
        lab = labels[idx].to(device)
        lab = drop_conditions(lab, torch.full_like(lab, null), CAPTION_DROPOUT, g)
        return noise_prediction(model, schedule, x0, cond=lab, generator=g).loss

    return model, loss_fn


@dataclass
class DistillData:
    """Caption tokens (for the student) and the frozen English encoder's token states (the targets)."""
    tokens: torch.Tensor  # (N, student context) BPE ids of every input caption
    target: torch.Tensor  # (N,) index into states
    english: torch.Tensor  # (N,) bool: the input caption is English (else Chinese)
    states: torch.Tensor  # (K + 1, 24, 64) English token states of the target captions; the last is ""
    captions: list[str]


@torch.no_grad()
def distill_data(teacher, student_tokenizer, context_length: int, split: str = "train", device="cpu") -> DistillData:
    """`bilingual_pairs(split)` tokenised for the student, with the teacher's token states of their targets."""
    pairs = bilingual_pairs(split)
    targets = sorted({t for _, t in pairs})
    lookup = {c: i for i, c in enumerate(targets)}
    clip = teacher.clip.eval().to(device)
    states = torch.cat([text_token_states(clip, teacher.tokenize(targets[i:i + 512]).to(device)).cpu()
                        for i in range(0, len(targets), 512)] + [text_token_states(clip, teacher.tokenize([""]).to(device)).cpu()])
    inputs = [a for a, _ in pairs]
    return DistillData(student_tokenizer(inputs, context_length=context_length), torch.tensor([lookup[t] for _, t in pairs]),
                       torch.tensor([a.isascii() for a in inputs]), states.float(), inputs)


def bilingual_recipe(student, data: DistillData, batch_size: int, device, english_share: float = 0.3, null_share: float = 0.05):
    """Distil the English encoder into the bilingual student: each batch mixes Chinese captions, English
    captions (`english_share`, so English keeps working) and the empty prompt (`null_share`, the
    unconditional input guidance uses); loss = MSE to the English encoder's states over all 24 positions."""
    zh, en = torch.nonzero(~data.english).flatten(), torch.nonzero(data.english).flatten()
    null_tokens = student_tokens_for_empty(data)
    states = data.states.to(device)
    n_en, n_null = int(round(batch_size * english_share)), max(1, int(round(batch_size * null_share)))
    n_zh = batch_size - n_en - n_null

    def loss_fn(step, g):
        pick = torch.cat([zh[torch.randint(0, len(zh), (n_zh,), generator=g, device=g.device).cpu()],
                          en[torch.randint(0, len(en), (n_en,), generator=g, device=g.device).cpu()]])
        tokens = torch.cat([data.tokens[pick], null_tokens.expand(n_null, -1)]).to(device)
        target = torch.cat([states[data.target[pick].to(device)], states[-1:].expand(n_null, -1, -1)])
        return F.mse_loss(student(tokens), target)

    return student, loss_fn


def student_tokens_for_empty(data: DistillData) -> torch.Tensor:
    """The student's tokens of the empty prompt: start, end, padding."""
    t = torch.zeros(1, data.tokens.shape[1], dtype=torch.long)
    t[0, 0], t[0, 1] = 49406, 49407
    return t


@torch.no_grad()
def distill_error(student, data: DistillData, batch: int = 1024) -> dict[str, float]:
    """Relative error of the student's states, Chinese and English apart: MSE divided by the variance of the
    targets across captions (0 = the English encoder's states exactly; 1 = no better than their mean)."""
    student.eval()
    var = float(data.states.var(0).mean())
    out = {}
    for name, mask in (("zh", ~data.english), ("en", data.english)):
        idx = torch.nonzero(mask).flatten()
        if len(idx) == 0:
            continue
        dev = next(student.parameters()).device
        err = sum(float(((student(data.tokens[idx[i:i + batch]].to(dev)).cpu() - data.states[data.target[idx[i:i + batch]]]) ** 2).sum())
                  for i in range(0, len(idx), batch))
        out[name] = err / (len(idx) * data.states[0].numel()) / var
    student.train()
    return out


def shapes_labels(data: ShapesData) -> dict[str, torch.Tensor]:
    return {k: data.labels[k] for k in ATTRIBUTES}


def digits_data(size: int = 16, split: str = "train"):
    return load_digits_tensor(size, split)
