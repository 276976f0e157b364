"""CLIP score: do the generated images match their prompts?

A CLIP model embeds images and texts in one space, trained so that matching pairs point the
same way. CLIP score = 100 · max(cos(image, text), 0), averaged over pairs. Works with the
bundled tiny CLIP (`model.conditioner.clip`) or any open_clip model with local weights
(`load_open_clip("ViT-B-32", "/path/open_clip_model.safetensors")` — nothing is downloaded), or a
transformers CLIPModel on disk (`load_transformers_clip`, for Stable Diffusion models: see below).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .features import ClipImageFeatures, FeatureExtractor, prepare_images
from ..errors import DiffvizError, InputTypeError, MissingFileError, short
from ..i18n import tr


def text_list(texts) -> list[str]:
    """A text or texts as a list of str; a short error for anything else or for none at all."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
        raise InputTypeError("texts must be a string or a list of strings")
    if not texts:
        raise DiffvizError("texts must not be empty: give at least one text")
    return list(texts)


class ClipScorer:
    """Image and text embeddings from one CLIP model, and the similarities between them."""

    def __init__(self, clip, tokenizer, context_length: int | None = None, device=None):
        self.images = ClipImageFeatures(clip, device=device)
        self.clip = clip
        self.tokenizer = tokenizer
        self.context_length = context_length or int(clip.positional_embedding.shape[0])

    @classmethod
    def from_model(cls, model) -> "ClipScorer":
        """The CLIP inside a text-conditional diffviz model (its text encoder's full CLIP), or the full CLIP
        given to `diffviz.load(..., clip=folder)` for a model whose text encoder is CLIP's text half only
        (Stable Diffusion: see `load_transformers_clip` below)."""
        cond = getattr(model, "conditioner", None)
        if cond is None or getattr(cond, "kind", None) != "text":
            raise DiffvizError("CLIP score needs a text model (e.g. diffviz.load('shapes')) or an open_clip model")
        given = getattr(model, "meta", {}).get("clip")
        if given is not None:
            scorer = model.__dict__.get("_clip_scorer")
            if scorer is None:
                scorer = model._clip_scorer = load_transformers_clip(given, device=model.device)
            return scorer
        if not hasattr(getattr(cond, "english", None) or cond, "clip"):
            raise DiffvizError(tr("clip.needs_full_clip"))
        cond = getattr(cond, "english", None) or cond  # a swapped-in bilingual encoder: its English CLIP scores
        return cls(cond.clip, cond.tokenizer, cond.context_length)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        texts = text_list(texts)
        limit = self.context_length - 2
        for text in texts:
            n = len(self.tokenizer.encode(text)) if hasattr(self.tokenizer, "encode") else 0
            if n > limit:
                raise DiffvizError(tr("notices.clip_too_long", text=short(text), n=n, limit=limit))
        tokens = self.tokenizer(list(texts), context_length=self.context_length).to(self.images.device)
        return self.clip.encode_text(tokens, normalize=True).float().cpu()

    def embed_images(self, images) -> torch.Tensor:
        if hasattr(images, "shape") and len(images.shape) >= 1 and images.shape[0] == 0 or isinstance(images, (list, tuple)) and not images:
            raise DiffvizError("no images to score: give at least one image")
        return self.images(images)

    def similarity(self, images, texts) -> np.ndarray:
        """Cosine similarity matrix (n_images, n_texts)."""
        return (self.embed_images(images) @ self.embed_texts(texts).T).numpy()

    def score(self, images, texts) -> float:
        """CLIP score of paired images and texts (same length): mean of 100 · max(cos, 0)."""
        img, txt = self.embed_images(images), self.embed_texts(texts)
        if len(img) != len(txt):
            raise DiffvizError(f"CLIP score pairs images with texts: got {len(img)} images and {len(txt)} texts")
        return float((100 * (img * txt).sum(1).clamp(min=0)).mean())

    def score_torchmetrics(self, images, texts) -> float:
        """torchmetrics' CLIPScore definition: max(mean over pairs of 100·cos, 0) (the clamp after averaging;
        `score` clamps each pair). The two agree whenever no pair has a negative cosine."""
        img, txt = self.embed_images(images), self.embed_texts(texts)
        if len(img) != len(txt):
            raise DiffvizError(f"CLIP score pairs images with texts: got {len(img)} images and {len(txt)} texts")
        return max(float((100 * (img * txt).sum(1)).mean()), 0.0)

    def per_image(self, images, texts) -> np.ndarray:
        img, txt = self.embed_images(images), self.embed_texts(texts)
        return (100 * (img * txt).sum(1).clamp(min=0)).numpy()

    def score_per_step(self, trajectory, texts: Sequence[str] | None = None) -> np.ndarray:
        """(S, B) CLIP score of each step's predicted clean image against its prompt."""
        texts = list(texts if texts is not None else trajectory.meta.get("conditions", []))
        frames = trajectory.image_frames()  # (S, B, H, W, 3) uint8
        S, B = frames.shape[:2]
        if len(texts) != B:
            raise DiffvizError(f"need one prompt per image ({B}), got {len(texts)}")
        txt = self.embed_texts(texts)
        img = self.embed_images(frames.reshape(S * B, *frames.shape[2:])).view(S, B, -1)
        return (100 * (img * txt[None]).sum(-1).clamp(min=0)).numpy()


def load_open_clip(name: str, pretrained: str | Path, device=None) -> ClipScorer:
    """An open_clip model from a local weights file (e.g. a LAION or OpenAI checkpoint you copied)."""
    import open_clip

    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise MissingFileError(f"open_clip weights {path} not found; diffviz cannot download them — copy the file there")
    if name not in open_clip.list_models():
        raise DiffvizError(f"unknown open_clip model {name!r}; see open_clip.list_models()")
    clip = open_clip.create_model(name, pretrained=str(path), device=device or "cpu")
    return ClipScorer(clip, open_clip.get_tokenizer(name), device=device)


# ---- a transformers CLIPModel the user has on disk (e.g. openai/clip-vit-large-patch14) ----------
# A Stable Diffusion pipeline carries only CLIP's *text* half (its text encoder), so it cannot score
# images; give a full CLIP model for ClipSimilarity, GuidanceSweep's CLIP scores and `ClipScorer`:
#
#     scorer = load_transformers_clip("/path/to/clip-vit-large-patch14")   # a folder or a CLIPModel
#     ClipSimilarity(model, clip=scorer)         # or diffviz.load(sd_folder, clip="/path/to/clip-...")
#
# Images are resized (bicubic, antialiased) to the vision tower's size and normalised with the model's
# image processor mean/std (OpenAI's by default), as `CLIPImageProcessor` does for square images. Scores:
# `ClipScorer.score` clamps each pair at 0 then averages (diffviz); `ClipScorer.score_torchmetrics`
# averages 100·cos over pairs then clamps (torchmetrics' `CLIPScore` definition). Nothing is downloaded.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _features(out) -> torch.Tensor:
    """get_image_features / get_text_features: a tensor (transformers 4) or an output whose pooler_output it is (5)."""
    return out if torch.is_tensor(out) else out.pooler_output


class TransformersClipImages(FeatureExtractor):
    """L2-normalised image embeddings of a transformers CLIPModel."""

    def __init__(self, clip, mean=OPENAI_MEAN, std=OPENAI_STD, device=None):
        super().__init__(clip, device)
        self.name = "transformers-clip"
        self.image_size = int(clip.config.vision_config.image_size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.dim = int(clip.config.projection_dim)

    def __call__(self, images) -> torch.Tensor:
        x = prepare_images(images)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False, antialias=True)
        with torch.no_grad():
            return self.embed(x.to(self.device)).float().cpu()

    def embed(self, x):
        x = ((x + 1) / 2 - self.mean.to(x.device)) / self.std.to(x.device)
        dtype = next(self.module.parameters()).dtype
        f = _features(self.module.get_image_features(pixel_values=x.to(dtype)))
        return F.normalize(f.float(), dim=-1)


class TransformersClipScorer(ClipScorer):
    """`ClipScorer` over a transformers CLIPModel and its CLIPTokenizer."""

    def __init__(self, clip, tokenizer, mean=OPENAI_MEAN, std=OPENAI_STD, device=None):
        self.images = TransformersClipImages(clip, mean, std, device=device)
        self.clip = clip
        self.tokenizer = tokenizer
        self.context_length = int(min(tokenizer.model_max_length, clip.config.text_config.max_position_embeddings))

    @torch.no_grad()
    def embed_texts(self, texts) -> torch.Tensor:
        texts = text_list(texts)
        tok = self.tokenizer(list(texts), padding="max_length", max_length=self.context_length, truncation=True,
                             return_tensors="pt")
        f = _features(self.clip.get_text_features(input_ids=tok.input_ids.to(self.images.device),
                                                  attention_mask=tok.attention_mask.to(self.images.device)))
        return F.normalize(f.float(), dim=-1).cpu()


def load_transformers_clip(source, device=None) -> TransformersClipScorer:
    """A CLIP scorer from a local transformers CLIP folder (config.json, model.safetensors, tokenizer files)
    or from a `CLIPModel` object (then its tokenizer: `(model, tokenizer)`)."""
    try:
        from transformers import CLIPModel, CLIPTokenizer
    except ImportError:
        raise DiffvizError("a transformers CLIP model needs transformers: pip install 'diffviz[diffusers-models]'") from None
    if isinstance(source, TransformersClipScorer):
        return source
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], CLIPModel):
        return TransformersClipScorer(source[0].eval(), source[1], device=device)
    if isinstance(source, CLIPModel):
        raise DiffvizError("give the CLIPModel with its tokenizer: (clip_model, clip_tokenizer), or the model's folder")
    if not isinstance(source, (str, Path)):
        raise InputTypeError(f"clip must be a folder path, a (CLIPModel, CLIPTokenizer) pair or a scorer, got {type(source).__name__}")
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        raise MissingFileError(f"no transformers CLIP model at {folder} (config.json missing); diffviz never downloads — "
                               "copy e.g. openai/clip-vit-large-patch14 there (config.json, model.safetensors, tokenizer files)")
    if not list(folder.glob("*.safetensors")):
        raise MissingFileError(f"{folder} has no .safetensors weights; diffviz loads only safetensors")
    try:
        clip = CLIPModel.from_pretrained(folder, use_safetensors=True, local_files_only=True).eval()
        tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as err:
        raise DiffvizError(f"could not load {folder} as a transformers CLIP model: {str(err)[:300]}") from err
    mean, std = OPENAI_MEAN, OPENAI_STD
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        cfg = json.loads(pre.read_text(encoding="utf-8"))
        mean, std = tuple(cfg.get("image_mean", mean)), tuple(cfg.get("image_std", std))
    return TransformersClipScorer(clip, tokenizer, mean, std, device=device)
