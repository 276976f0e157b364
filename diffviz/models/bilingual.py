"""A bilingual (English + 简体中文) text encoder for the `shapes` model, trained separately and swapped in.

Stable Diffusion is three models trained apart and then combined; its text encoder can be replaced
without touching the generator or the decoder, as long as the new encoder speaks the generator's
language: the same (B, 24, 64) token states the UNet's cross-attention was trained to read. This
module is such a replacement. `diffviz.load("shapes", text_encoder="bilingual")` gives the same UNet
and VAE (the same tensors) with this encoder in place of the English CLIP text tower.

How it reads Chinese
--------------------
It uses open_clip's tokenizer, a *byte-level* BPE learned on English web text. Chinese has no spaces,
so a run of Chinese characters is one "word" for the BPE, and it has almost no merges for CJK bytes:
each character (3 bytes in UTF-8) becomes 2–3 tokens. "一个红色的圆" (6 characters) is 15 tokens,
"左上角有一个小的蓝色正方形" (13 characters) is 33 — beyond the English encoder's context of 24
(22 tokens between the start and end tokens). So this encoder reads a longer context,
`context_length` = 48 (46 tokens of text, about 18 Chinese characters); a longer prompt is refused
with a message saying how long it is and what is allowed. Chinese punctuation (，：) maps to the
ASCII tokens. The encoder keeps only the token ids its training captions use (under a hundred); any
other token maps to one shared "unknown" row, and `check_prompts` warns about words (English) and
characters (any other script) never seen in training, as the English encoder does for words.

Architecture and training (`diffviz.training.recipes.bilingual_recipe`)
-----------------------------------------------------------------------
token embedding (initialised from the English CLIP's rows) + positions → a small *bidirectional*
transformer (a Chinese caption puts the colour before or after the position; every token may look
both ways) → 24 learned queries that cross-attend to it (a Perceiver-style resampler, with
self-attention among the queries) → LayerNorm → linear to 64. The output has exactly the English
encoder's 24 positions whatever the input length, so the UNet cannot tell the difference.
It is trained by distillation with the English encoder frozen: input a Chinese caption (or an
English one, so English keeps working, or "" for the unconditional input classifier-free guidance
uses), target the English encoder's token states of the English caption naming the same
attributes, mean squared error over all 24 positions.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Sequence


import torch
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..errors import DiffvizError
from ..i18n import tr
from . import io
from .conditioning import check_length, prompt_list, warn_unknown_words
from .part import Part, plain_config

VOCAB_SIZE = 49408  # open_clip's tokenizer
SOT, EOT = 49406, 49407
DEFAULT_CONFIG = dict(context_length=48, output_length=24, output_width=64, width=96, heads=4, layers=2,
                      resampler_layers=2, mlp_ratio=2.0)


class BilingualTextEncoder(Part):
    """BPE token ids (B, context_length) → token states (B, output_length, output_width). A diffusers part
    (its constructor's arguments are its config), so a training checkpoint rebuilds it."""

    describes = "a bilingual token encoder"

    @register_to_config
    def __init__(self, token_ids: Sequence[int], context_length: int = 48, output_length: int = 24,
                 output_width: int = 64, width: int = 96, heads: int = 4, layers: int = 2,
                 resampler_layers: int = 2, mlp_ratio: float = 2.0):
        super().__init__()
        self.token_ids = sorted({int(i) for i in token_ids} | {SOT, EOT})
        self.context_length, self.output_length, self.output_width = int(context_length), int(output_length), int(output_width)
        lookup = torch.zeros(VOCAB_SIZE, dtype=torch.long)  # row 0: unknown token
        lookup[torch.tensor(self.token_ids)] = torch.arange(1, len(self.token_ids) + 1)
        self.register_buffer("lookup", lookup, persistent=False)
        self.token_embedding = nn.Embedding(len(self.token_ids) + 1, width)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, width) * 0.01)
        ff = int(width * mlp_ratio)

        def enc_layer():
            return nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)

        def dec_layer():
            return nn.TransformerDecoderLayer(width, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)

        self.encoder = nn.TransformerEncoder(enc_layer(), layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(output_length, width) * 0.02)
        self.resampler = nn.TransformerDecoder(dec_layer(), resampler_layers)
        self.ln_out = nn.LayerNorm(width)
        self.proj = nn.Linear(width, output_width)

    @torch.no_grad()
    def init_from_teacher(self, clip: nn.Module) -> "BilingualTextEncoder":
        """Start the known tokens' embeddings from the English CLIP's rows (extra dimensions stay random)."""
        rows = clip.token_embedding.weight[torch.tensor(self.token_ids, device=clip.token_embedding.weight.device)]
        k = min(rows.shape[1], self.token_embedding.embedding_dim)
        self.token_embedding.weight[1:, :k] = rows[:, :k].to(self.token_embedding.weight)
        return self

    def padding_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """True where a position lies after the end token (padding the encoder must not read)."""
        eot = (tokens == EOT).int().argmax(dim=1, keepdim=True)
        return torch.arange(tokens.shape[1], device=tokens.device)[None] > eot

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, context_length, width): each token's contextual state, before the resampler reads them all."""
        x = self.token_embedding(self.lookup[tokens]) + self.positional_embedding[: tokens.shape[1]]
        return self.encoder(x, src_key_padding_mask=self.padding_mask(tokens))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = self.padding_mask(tokens)
        x = self.token_states(tokens)
        q = self.queries[None].expand(len(tokens), -1, -1)
        y = self.resampler(q, x, memory_key_padding_mask=pad)
        return self.proj(self.ln_out(y))


def _words(prompt: str) -> list[str]:
    """English words (runs of a–z) and single characters of any other script (letters only)."""
    out = re.findall(r"[a-z]+", prompt.lower())
    out += [ch for ch in prompt if ord(ch) > 127 and unicodedata.category(ch).startswith("L")]
    return out


class BilingualConditioner(Part):
    """The `TextConditioner` interface (check_prompts / tokenize / encode / null) over a `BilingualTextEncoder`.

    A diffusers part: config = the encoder's config (`encoder_config`), the words and characters seen in
    training (`known_words`) and `languages`. Build one around a trained encoder with `wrap`.

    `english`, when set, is the English `TextConditioner` the student was distilled from (and `clip` its
    CLIP): kept so CLIP score, which reads English, still works on a model with this encoder, and so the
    model folder can be saved whole. It is not part of this module's weights nor of its config.
    """

    kind = "text"
    describes = "a bilingual text encoder"
    legacy_prefix = "encoder."  # older folders saved the encoder's own state dict
    ignore_for_config = ["english"]

    @register_to_config
    def __init__(self, encoder_config: dict, known_words: Sequence[str] | None = None,
                 languages: Sequence[str] = ("en", "zh"), english=None):
        super().__init__()
        from .builders import make_tokenizer

        self.encoder = BilingualTextEncoder(**{k: v for k, v in encoder_config.items() if not k.startswith("_")})
        self.tokenizer = make_tokenizer(self.encoder.context_length)
        self.known_words = frozenset(w.lower() for w in known_words) if known_words else None
        self.__dict__["english"] = english  # not a submodule: not saved with this module's weights

    @classmethod
    def wrap(cls, encoder: BilingualTextEncoder, known_words: Sequence[str] | None = None, english=None) -> "BilingualConditioner":
        """The conditioner around a trained encoder (its weights, not copies)."""
        cond = cls(plain_config(encoder), sorted(set(known_words)) if known_words else None, english=english)
        cond.encoder = encoder
        return cond

    def attach_english(self, english) -> "BilingualConditioner":
        """Keep the English encoder beside this one (not as a submodule: not in this part's weights)."""
        self.__dict__["english"] = english
        return self

    @classmethod
    def legacy_config(cls, cfg: dict) -> dict:
        if cfg.get("type") != "bilingual" or "encoder" not in cfg:
            return cfg  # not an older bilingual folder either: the missing-arguments check says so
        return {"encoder_config": cfg["encoder"], "known_words": cfg.get("known_words"),
                "languages": cfg.get("languages", ["en", "zh"])}

    @property
    def clip(self):
        """The English CLIP (image and text towers) the student was distilled from, for CLIP score."""
        if self.english is None:
            raise DiffvizError("this bilingual text encoder was loaded without its English CLIP; CLIP score needs it")
        return self.english.clip

    def _apply(self, fn, *args, **kwargs):  # .to(device) moves the English CLIP too (CLIP score runs beside)
        if self.english is not None:
            self.english._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)
    @property
    def context_length(self) -> int:
        """Tokens this encoder reads (start and end tokens included)."""
        return self.encoder.context_length

    @property
    def output_length(self) -> int:
        return self.encoder.output_length

    @property
    def width(self) -> int:
        return self.encoder.output_width

    def check_prompts(self, prompts) -> list[str]:
        """Validate prompts (str or list of str); refuse ones longer than the context; warn about unseen words."""
        prompts = prompt_list(prompts)
        for p in prompts:
            cjk = sum(1 for ch in p if ord(ch) > 127)
            hint = tr("notices.cjk_hint", cjk=cjk) if cjk else ""
            check_length(p, len(self.tokenizer.encode(p)), self.context_length - 2, hint)  # start and end tokens
        warn_unknown_words(prompts, self.known_words, _words)
        return prompts

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(prompts), context_length=self.context_length)

    def encode(self, prompts) -> torch.Tensor:
        """(B, 24, 64) token states for the UNet's cross-attention, on the encoder's device."""
        prompts = self.check_prompts(prompts)
        tokens = self.tokenize(prompts).to(self.encoder.positional_embedding.device)
        return self.encoder(tokens)

    def null(self, batch_size: int) -> torch.Tensor:
        """Unconditional input: the empty prompt, repeated."""
        return self.encode([""] * batch_size)


def is_bilingual_folder(folder: str | Path) -> bool:
    cfg = Path(folder) / "config.json"
    if not cfg.is_file():
        return False
    data = io.read_json(cfg)
    return data.get("_class_name") == "BilingualConditioner" or data.get("type") == "bilingual"
