"""CLIP score: do the generated images match their prompts?

A CLIP model embeds images and texts in one space, trained so that matching pairs point the
same way. CLIP score = 100 · max(cos(image, text), 0), averaged over pairs. Works with the
bundled tiny CLIP (`model.conditioner.clip`) or any open_clip model with local weights
(`load_open_clip("ViT-B-32", "/path/open_clip_model.safetensors")` — nothing is downloaded).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .features import ClipImageFeatures
from ..errors import DiffvizError, InputTypeError, MissingFileError, short


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
        (Stable Diffusion: see `hf_clip.load_transformers_clip`)."""
        cond = getattr(model, "conditioner", None)
        if cond is None or getattr(cond, "kind", None) != "text":
            raise DiffvizError("CLIP score needs a text model (e.g. diffviz.load('shapes')) or an open_clip model")
        given = getattr(model, "meta", {}).get("clip")
        if given is not None:
            from .hf_clip import load_transformers_clip

            scorer = model.__dict__.get("_clip_scorer")
            if scorer is None:
                scorer = model._clip_scorer = load_transformers_clip(given, device=model.device)
            return scorer
        if not hasattr(getattr(cond, "english", None) or cond, "clip"):
            from ..i18n import tr

            raise DiffvizError(tr("clip.needs_full_clip"))
        cond = getattr(cond, "english", None) or cond  # a swapped-in bilingual encoder: its English CLIP scores
        return cls(cond.clip, cond.tokenizer, cond.context_length)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise InputTypeError("texts must be a string or a list of strings")
        if not texts:
            raise DiffvizError("texts must not be empty: give at least one text")
        limit = self.context_length - 2
        for text in texts:
            n = len(self.tokenizer.encode(text)) if hasattr(self.tokenizer, "encode") else 0
            if n > limit:
                raise DiffvizError(f"text {short(text)} is {n} tokens long; this CLIP takes at most {limit} tokens")
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
