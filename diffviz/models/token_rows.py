"""What a text encoder makes of one prompt, row by row: its tokens, shown as text, and a state per row.

open_clip's tokenizer is byte-level: a Chinese character (3 bytes in UTF-8) becomes 2–3 tokens, and
one token alone is no character at all ("�"). `token_pieces` groups consecutive tokens into the
shortest runs whose bytes are whole characters, so a row reads "红", "色" (or "一个" where a token
straddles two characters), never "�". English words are one token each and stay as they are.

`token_rows(conditioner, prompt)`:
- the English CLIP text encoder: one row per token, its output state (what the generator reads);
- the bilingual encoder: one row per character group, the encoder's own contextual state of its
  tokens (their mean; before the resampler turns all of them into the 24 rows the generator reads).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .bilingual import BilingualConditioner


@dataclass
class TokenRows:
    labels: list[str]          # one per row: a token, or the character(s) a group of byte tokens spells
    sizes: list[int]           # tokens per row (1 for English words; 2–3 for a Chinese character)
    states: np.ndarray         # (rows, width) one state per row
    n_tokens: int              # tokens the prompt takes, start and end included
    context_length: int        # tokens the encoder reads
    generator_rows: bool       # True: the rows are what the generator reads; False: the encoder's own, resampled after


def _token_bytes(tokenizer, token: int) -> bytes | None:
    """The UTF-8 bytes a BPE token stands for, or None for a special token (start, end)."""
    if token in (tokenizer.sot_token_id, tokenizer.eot_token_id) or token not in tokenizer.decoder:
        return None
    text = tokenizer.decoder[token]
    return bytearray(tokenizer.byte_decoder[c] for c in text.replace("</w>", ""))


def token_pieces(tokenizer, ids) -> list[tuple[str, int, int]]:
    """(label, first, end) per row: special tokens by name, whole words and characters as text.

    Consecutive tokens join until their bytes decode as UTF-8 (a Chinese character: 2–3 tokens)."""
    out: list[tuple[str, int, int]] = []
    ids = [int(i) for i in ids]
    i = 0
    while i < len(ids):
        b = _token_bytes(tokenizer, ids[i])
        if b is None:
            out.append((tokenizer.decode([ids[i]]).strip() or "·", i, i + 1))
            i += 1
            continue
        j, buf = i + 1, bytearray(b)
        while True:
            try:
                text = buf.decode("utf-8")
                break
            except UnicodeDecodeError:
                nxt = _token_bytes(tokenizer, ids[j]) if j < len(ids) else None
                if nxt is None:  # a cut-off character: show what there is
                    text = buf.decode("utf-8", errors="replace")
                    break
                buf += nxt
                j += 1
        out.append((text.strip() or "·", i, j))
        i = j
    return out


@torch.no_grad()
def token_rows(conditioner, prompt: str) -> TokenRows:
    """The rows a view shows for `prompt` with a text conditioner (English CLIP or bilingual)."""
    prompts = conditioner.check_prompts([prompt])
    if hasattr(conditioner, "token_labels"):  # a transformers CLIP tokenizer: its own pieces (models/hf_text.py)
        labels = [w or "·" for w in conditioner.token_labels(prompts[0])]
        n = len(labels)
        states = conditioner.encode(prompts)[0, :n].float().cpu().numpy()
        return TokenRows(labels, [1] * n, states, n, conditioner.context_length, True)
    ids = conditioner.tokenize(prompts)[0]
    n = int((ids != 0).sum())
    pieces = token_pieces(conditioner.tokenizer, ids[:n].tolist())
    if isinstance(conditioner, BilingualConditioner):
        hidden = conditioner.encoder.token_states(ids[None].to(conditioner.encoder.positional_embedding.device))[0, :n].cpu()
        states = torch.stack([hidden[a:b].mean(0) for _, a, b in pieces]).numpy()
        generator_rows = False
    else:  # one row per token (English BPE tokens are whole words); a group of byte tokens: their mean state
        out = conditioner.encode(prompts)[0, :n].cpu()
        states = torch.stack([out[a:b].mean(0) for _, a, b in pieces]).numpy()
        generator_rows = True
    return TokenRows([p for p, _, _ in pieces], [b - a for _, a, b in pieces], states, n, conditioner.context_length,
                     generator_rows)
