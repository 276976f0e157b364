"""The prompt tokens a text model's denoiser attends to, by name: what word maps are drawn for.

The English text encoder (open_clip) gives one state per token of its context: the start token, the
prompt's word pieces, the end token and padding; the UNet's cross-attention reads exactly those, so
a map per token says where in the picture that word is read. The bilingual encoder instead gives 24
learned *queries* (a resampler over the tokens): its positions are not words, and it has no word maps.

The tokenizer is byte-level: a Chinese character is 2–3 tokens, none of them a character alone ("�").
`prompt_token_groups` joins them into the characters they spell (`token_rows.token_pieces`), so a
view offers one word map per character (the sum of its tokens' maps: the share of attention the
character gets, since a pixel's attention sums to 1 over the tokens).
"""
from __future__ import annotations

from ..diffusion.attention import EOT_NAME, token_names
from ..errors import DiffvizError
from .bilingual import BilingualConditioner
from .token_rows import token_pieces


def check_attention_model(model) -> None:
    """Raise a short DiffvizError unless the model's denoiser cross-attends to prompt tokens."""
    if model.kind != "text":
        what = "a class (a class embedding, no cross-attention)" if model.kind == "class" else "nothing (unconditional)"
        raise DiffvizError(f"record_attention needs a text model (word maps show where each prompt token acts); "
                           f"model {model.name!r} is conditioned on {what}")
    if isinstance(model.conditioner, BilingualConditioner):
        raise DiffvizError("record_attention needs the English text encoder: the bilingual encoder's 24 outputs are "
                           "learned queries, not prompt tokens (load the model without text_encoder='bilingual')")
    if not getattr(model.unet.config, "cross_attention_dim", None):
        raise DiffvizError(f"model {model.name!r}: its denoiser has no cross-attention to record")


def prompt_tokens(conditioner, prompts) -> list[list[str]]:
    """Per prompt, the names of all context positions the denoiser attends to ('<start>', words, '<end>', '<pad>'…)."""
    ids = conditioner.tokenize(list(prompts))
    return [token_names(conditioner.tokenizer, row) for row in ids]


def prompt_token_groups(conditioner, prompts) -> list[list[tuple[str, int, int]]]:
    """Per prompt, (name, first, end) for the positions up to its end token, byte tokens joined into characters."""
    out = []
    for row in conditioner.tokenize(list(prompts)):
        names = token_names(conditioner.tokenizer, row)
        n = names.index(EOT_NAME) + 1 if EOT_NAME in names else len(names)
        pieces = token_pieces(conditioner.tokenizer, row[:n].tolist())
        out.append([(names[a] if b - a == 1 else label, a, b) for label, a, b in pieces])
    return out
