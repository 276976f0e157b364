"""Text conditioner for a transformers CLIP text encoder (Stable Diffusion 1.x/2.x's `text_encoder/` + `tokenizer/`).

Same interface as the open_clip `TextConditioner` (`check_prompts`, `tokenize`, `encode`, `null`,
`context_length`, `width`), plus `pooled` (the pooled text embedding) and `token_labels` (the tokenizer's
tokens, for LatentParts). `encode` is exactly what diffusers' `StableDiffusionPipeline.encode_prompt` feeds
the UNet: the prompt padded to the tokenizer's `model_max_length`, the text encoder's last hidden state
(with an attention mask only where the encoder's config asks for one), in the encoder's dtype.

No unknown-word notice: CLIP's byte-level BPE spells any text with its tokens (a rare word becomes several
sub-word pieces), so "a word it never saw" has no meaning here; `token_labels` shows how a prompt was split.
`transformers` is needed only when such a model is loaded (`pip install diffviz[diffusers-models]`).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputTypeError
from .conditioning import check_length, prompt_list


class HFTextConditioner(nn.Module):
    """A transformers CLIPTextModel (or CLIPTextModelWithProjection) and its CLIPTokenizer."""

    kind = "text"
    known_words = None  # byte-level BPE: every text has tokens (see the module docstring)

    def __init__(self, text_encoder: nn.Module, tokenizer):
        super().__init__()
        if not hasattr(tokenizer, "model_max_length") or not callable(tokenizer):
            raise InputTypeError(f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}")
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer

    @property
    def context_length(self) -> int:
        return int(self.tokenizer.model_max_length)

    @property
    def width(self) -> int:
        return int(self.text_encoder.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.text_encoder.parameters()).device

    def check_prompts(self, prompts) -> list[str]:
        """Validate prompts (a str or a list of str, each fitting the context). Returns a list of str."""
        prompts = prompt_list(prompts)
        for p in prompts:
            check_length(p, len(self.tokenizer.tokenize(p)), self.context_length - 2,  # start and end tokens
                         " (diffusers would cut the rest off silently)")
        return prompts

    def tokenize(self, prompts) -> torch.Tensor:
        """(B, L) token ids, padded to the context length as diffusers does."""
        return self._tokens(list(prompts)).input_ids

    def _tokens(self, prompts: list[str]):
        return self.tokenizer(prompts, padding="max_length", max_length=self.context_length, truncation=True,
                              return_tensors="pt")

    def _run(self, prompts):
        prompts = self.check_prompts(prompts)
        tokens = self._tokens(prompts)
        mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(self.device)
        return self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)

    def encode(self, prompts) -> torch.Tensor:
        """(B, L, D) token states: the UNet's `encoder_hidden_states`, as `encode_prompt` makes them."""
        return self._run(prompts)[0].to(dtype=self.text_encoder.dtype)

    def pooled(self, prompts) -> torch.Tensor:
        """(B, D) pooled text embedding (the end token's state; projected for CLIPTextModelWithProjection)."""
        out = self._run(prompts)
        return out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output

    def null(self, batch_size: int) -> torch.Tensor:
        """Unconditional input: the empty prompt, repeated (diffusers' negative prompt when none is given)."""
        return self.encode([""] * batch_size)

    def token_labels(self, prompt: str) -> list[str]:
        """The tokens the text encoder reads for one prompt: start token, the BPE pieces, end token."""
        ids = self.tokenizer(prompt, truncation=True, max_length=self.context_length).input_ids
        return [tok.replace("</w>", "") for tok in self.tokenizer.convert_ids_to_tokens(ids)]
