"""Condition encoders: turn prompts or class labels into what the denoiser takes as extra input.

The lecture's text-to-image model gets the text as an extra input to the noise predictor; these
classes are that input's encoders. Each one also knows its *unconditional* input, which
classifier-free guidance needs: the empty prompt for text, a null class for labels.
"""
from __future__ import annotations

import operator
import re
import unicodedata
import warnings
from typing import Sequence

import numpy as np
import torch
from diffusers.configuration_utils import register_to_config
from torch import nn
from ..errors import DiffvizError, InputTypeError, short
from ..i18n import tr
from .part import Part


class UnknownWordsWarning(UserWarning):
    """A prompt used words the text encoder never saw in training."""


class TextConditioner(Part):
    """Text encoder (open_clip text tower) producing per-token states for cross-attention.

    `encode(prompts)` returns (B, L, D) token states: the `encoder_hidden_states` of a diffusers
    `UNet2DConditionModel`. The empty prompt "" is the unconditional input.

    A diffusers part: its config is the open_clip CLIP config (`clip_config`; the whole CLIP, image tower
    too, which CLIP score uses), the tokenizer's `context_length` and the words seen in training
    (`known_words`, for the unknown-word warning); `save_pretrained` / `from_pretrained` round-trip it.
    """

    kind = "text"
    describes = "an open_clip text encoder"
    legacy_prefix = "clip."  # older folders saved the CLIP's own state dict

    @register_to_config
    def __init__(self, clip_config: dict, context_length: int | None = None, known_words: Sequence[str] | None = None):
        super().__init__()
        from .builders import build_clip, make_tokenizer

        self.clip = build_clip(clip_config)
        self.tokenizer = make_tokenizer(int(context_length or clip_config["text_cfg"]["context_length"]))
        self.known_words = frozenset(w.lower() for w in known_words) if known_words else None

    @classmethod
    def legacy_config(cls, cfg: dict) -> dict:
        if "clip" not in cfg:
            return cfg
        return {"clip_config": cfg["clip"], "context_length": cfg.get("context_length"), "known_words": cfg.get("known_words")}

    @property
    def context_length(self) -> int:
        return int(self.clip.positional_embedding.shape[0])

    @property
    def width(self) -> int:
        return int(self.clip.positional_embedding.shape[1])

    def check_prompts(self, prompts) -> list[str]:
        """Validate prompts; warn about words never seen in training. Returns a list of str."""
        prompts = prompt_list(prompts)
        if hasattr(self.tokenizer, "encode"):
            for p in prompts:
                check_length(p, len(self.tokenizer.encode(p)), self.context_length - 2)  # start and end tokens
        warn_unknown_words(prompts, self.known_words)
        return prompts

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(prompts), context_length=self.context_length)

    def encode(self, prompts) -> torch.Tensor:
        """(B, L, D) token states of the text tower (before pooling), on the model's device."""
        prompts = self.check_prompts(prompts)
        tokens = self.tokenize(prompts).to(self.clip.positional_embedding.device)
        return text_token_states(self.clip, tokens)

    def null(self, batch_size: int) -> torch.Tensor:
        """Unconditional input: the empty prompt, repeated."""
        return self.encode([""] * batch_size)


def prompt_list(prompts) -> list[str]:
    """A prompt or prompts as a list of str; a short error for anything else or for none at all."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        bad = prompts if not isinstance(prompts, (list, tuple)) else next(p for p in prompts if not isinstance(p, str))
        raise InputTypeError(f"prompts must be a string or a list of strings, got {type(bad).__name__} {short(bad)}")
    if len(prompts) == 0:
        raise DiffvizError("prompts must not be empty: give at least one prompt ('' means unconditional)")
    for p in prompts:
        check_characters(p)
    return list(prompts)


# Embeddings, overrides (U+202A–202E) and isolates (U+2066–2069): they change the order text is shown in.
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def check_characters(prompt: str) -> None:
    """Refuse a prompt holding a lone surrogate (half of a UTF-16 pair, or a byte that was not UTF-8: not text,
    it cannot be encoded) or a bidirectional control (the prompt shown would not be the prompt the model reads)."""
    for i, ch in enumerate(prompt):
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            byte = f", the byte 0x{code - 0xDC00:02X} that is not UTF-8" if 0xDC80 <= code <= 0xDCFF else ""
            raise DiffvizError(f"prompt {short(prompt)} holds a lone surrogate U+{code:04X} at character {i + 1}{byte}: "
                               "not text, it cannot be encoded; remove it")
        if ch in BIDI_CONTROLS:
            raise DiffvizError(f"prompt {short(prompt)} holds U+{code:04X} {unicodedata.name(ch)} at character {i + 1}, "
                               "which changes the order the text is shown in; remove it")


def check_length(prompt: str, n: int, limit: int, hint: str = "") -> None:
    """Refuse a prompt of n tokens when the text encoder reads at most `limit` (start and end tokens aside)."""
    if n > limit:
        raise DiffvizError(tr("notices.too_long", prompt=short(prompt), n=n, hint=hint, limit=limit))


def warn_unknown_words(prompts: list[str], known_words, words=None) -> None:
    """Warn (UnknownWordsWarning) about words of `prompts` outside `known_words` (None: no vocabulary to check)."""
    if known_words is None:
        return
    unknown = sorted({w for p in prompts for w in (words or prompt_words)(p)} - set(known_words))
    if unknown:
        shown = ", ".join(short(w, 30).strip("'") for w in unknown[:8])
        shown += tr("notices.more", n=len(unknown) - 8) if len(unknown) > 8 else ""
        warnings.warn(tr("notices.unknown_words", words=shown), UnknownWordsWarning, stacklevel=4)


def prompt_words(prompt: str) -> list[str]:
    """The words of a prompt in any script (runs of letters: 'red', 'красный', '红色的圆'), and each symbol
    outside ASCII on its own (emoji: '🔴'); lower-cased. Digits and punctuation are not words."""
    words = re.findall(r"[^\W\d_]+", prompt.lower())
    symbols = [c for c in prompt if ord(c) > 127 and unicodedata.category(c) in ("So", "Sm", "Sc", "Sk", "Co")]
    return words + symbols


def text_token_states(clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Per-token output of an open_clip `CLIP` text tower: `encode_text` without the pooling."""
    cast_dtype = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(tokens).to(cast_dtype)
    x = x + clip.positional_embedding.to(cast_dtype)
    x = clip.transformer(x, attn_mask=clip.attn_mask)
    return clip.ln_final(x)


class ClassConditioner(nn.Module):
    """Class labels for a diffusers UNet's `class_labels`; index `num_classes` is the null class."""

    kind = "class"

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None):
        super().__init__()
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise DiffvizError(f"class_names has {len(self.class_names)} names for {self.num_classes} classes")
        self.register_buffer("_device_marker", torch.zeros(()), persistent=False)

    @property
    def null_class(self) -> int:
        return self.num_classes

    def check_labels(self, labels) -> list[int]:
        """Class indices (ints, numpy or torch integer scalars) or class names → a list of ints in range."""
        if isinstance(labels, (str, bytes, int, float, np.generic)) or (torch.is_tensor(labels) or isinstance(labels, np.ndarray)) and labels.ndim == 0:
            labels = [labels]
        if torch.is_tensor(labels) or isinstance(labels, np.ndarray):
            labels = labels.tolist()
        allowed = f"0..{self.num_classes - 1}" + (f" or a name ({', '.join(self.class_names[:12])}{', …' if self.num_classes > 12 else ''})"
                                                   if self.class_names != [str(i) for i in range(self.num_classes)] else "")
        if not isinstance(labels, (list, tuple)):
            raise InputTypeError(f"classes must be a class ({allowed}) or a list of them, got {type(labels).__name__}")
        if len(labels) == 0:
            raise DiffvizError(f"classes must not be empty: give at least one class ({allowed})")
        out = []
        for lab in labels:
            if isinstance(lab, str):
                if lab not in self.class_names:
                    raise DiffvizError(f"unknown class {short(lab)}; allowed: {allowed}")
                lab = self.class_names.index(lab)
            if isinstance(lab, (bool, np.bool_)):
                raise InputTypeError(f"class {lab!r} is not a class; allowed: {allowed}")
            try:
                lab = operator.index(lab)
            except TypeError:
                raise InputTypeError(f"class {short(lab)} is not a class; allowed: {allowed} (whole numbers)") from None
            if not 0 <= lab < self.num_classes:
                raise DiffvizError(f"class {short(lab)} is out of range; allowed: {allowed}")
            out.append(int(lab))
        return out

    def encode(self, labels) -> torch.Tensor:
        return torch.tensor(self.check_labels(labels), dtype=torch.long, device=self._device_marker.device)

    def null(self, batch_size: int) -> torch.Tensor:
        return torch.full((batch_size,), self.null_class, dtype=torch.long, device=self._device_marker.device)
