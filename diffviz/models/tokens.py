"""The prompt tokens a text model's denoiser attends to, by name: what word maps are drawn for.

The English text encoder (open_clip) gives one state per token of its context: the start token, the
prompt's word pieces, the end token and padding; the UNet's cross-attention reads exactly those, so
a map per token says where in the picture that word is read. The bilingual encoder instead gives 24
learned *queries* (a resampler over the tokens): its positions are not words, and it has no word maps.
"""
from __future__ import annotations

from ..diffusion.attention import token_names
from ..errors import DiffvizError
from .bilingual import BilingualConditioner


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
