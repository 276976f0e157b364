"""Where each word acts: the denoiser's cross-attention from image positions to prompt tokens.

A text-to-image UNet reads the prompt through cross-attention: at every latent position p a query
attends over the L token states of the text encoder, with probabilities softmax(q_p·k_j/√d) that sum
to 1 over the tokens j. Recording those probabilities per step and token gives a "word map": where
in the picture token j is read (DAAM, Tang et al. 2022, did this for Stable Diffusion).

`AttentionRecorder(unet, batch_size)` is a context manager that installs a diffusers attention
processor on every attention layer of the UNet (`unet.set_attn_processor`) and puts the original
processors back when the block ends (also on error). The processor wraps the layer's own processor,
which still computes the layer's output — so a recorded run's samples are bitwise those of an
unrecorded one — and, for cross-attention calls (`encoder_hidden_states` given), computes the
probabilities once more with the layer's `get_attention_scores` and keeps them, averaged over heads.
With classifier-free guidance the denoiser sees [unconditional, conditional] in one batch: only the
conditional half is kept. `maps(size)` then upsamples every layer's maps to the image size
(bilinear) and averages over layers: (steps, B, L, H, W), each pixel a distribution over the L
tokens (values in [0, 1], summing to 1 over tokens).

Only calls made by the thread that entered the recorder are recorded (a server's other viewers may
sample from the same UNet meanwhile: their calls pass straight through), and recorded runs on one
process take turns (`RECORD_LOCK`), so processors are always put back in the order they were set.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor

from ..errors import DiffvizError

RECORD_LOCK = threading.RLock()
SOT_NAME, EOT_NAME, PAD_NAME = "<start>", "<end>", "<pad>"


class RecordingAttnProcessor(AttnProcessor):
    """A diffusers attention processor that records cross-attention probabilities and otherwise is
    the layer's own processor (`inner`): the layer's output is computed by it, unchanged."""

    def __init__(self, recorder: "AttentionRecorder", name: str, inner):
        super().__init__()
        self.recorder, self.name, self.inner = recorder, name, inner

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if encoder_hidden_states is not None and self.recorder.listening():
            self.recorder.add(self.name, self.probabilities(attn, hidden_states, encoder_hidden_states, attention_mask, temb),
                              attn.heads)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)

    @staticmethod
    def probabilities(attn, hidden_states, encoder_hidden_states, attention_mask, temb) -> torch.Tensor:
        """(batch·heads, positions, tokens) attention probabilities, as diffusers' AttnProcessor forms them."""
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        if hidden_states.ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        batch, length, _ = encoder_hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        return attn.get_attention_scores(query, key, attention_mask)


class AttentionRecorder:
    """`with AttentionRecorder(unet, batch_size) as rec: …sample…` then `rec.maps((H, W))`.

    batch_size: images per denoiser call without guidance (with guidance the calls carry 2× that,
    unconditional first; the conditional half is kept). latent_size: (h, w) of the denoiser's input,
    to lay each layer's positions out as a grid (default: the UNet's `sample_size`).
    """

    def __init__(self, unet, batch_size: int, latent_size: tuple[int, int] | None = None):
        if not hasattr(unet, "set_attn_processor"):
            raise DiffvizError(f"{type(unet).__name__} has no attention processors to record from")
        self.unet, self.batch_size = unet, int(batch_size)
        size = latent_size or unet.config.sample_size
        self.latent_size = (size, size) if isinstance(size, int) else tuple(size)
        self.records: dict[str, list[torch.Tensor]] = {}
        self._original = None
        self._thread = None

    def listening(self) -> bool:
        return threading.get_ident() == self._thread

    def __enter__(self) -> "AttentionRecorder":
        RECORD_LOCK.acquire()
        try:
            self._original = dict(self.unet.attn_processors)
            self._thread = threading.get_ident()
            self.unet.set_attn_processor({name: RecordingAttnProcessor(self, name, proc)
                                          for name, proc in self._original.items()})
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        try:
            self._thread = None
            if self._original is not None:
                self.unet.set_attn_processor(dict(self._original))  # set_attn_processor empties the dict it gets
                self._original = None
        finally:
            RECORD_LOCK.release()

    def add(self, name: str, probs: torch.Tensor, heads: int) -> None:
        """Keep one call's probabilities (images·heads, positions, tokens): averaged over heads, and of a
        guided call ([unconditional, conditional]) the conditional half."""
        rows, positions, tokens = probs.shape
        images, b = rows // heads, self.batch_size
        if images not in (b, 2 * b):
            raise DiffvizError(f"attention layer {name}: a call with {images} images, expected {b} (or {2 * b} with guidance)")
        per_image = probs.detach().float().reshape(images, heads, positions, tokens).mean(1)[-b:]
        h, w = grid_shape(positions, self.latent_size)
        self.records.setdefault(name, []).append(per_image.transpose(1, 2).reshape(b, tokens, h, w).cpu())

    @property
    def num_calls(self) -> int:
        return min((len(v) for v in self.records.values()), default=0)

    def maps(self, size: tuple[int, int]) -> torch.Tensor:
        """(calls, B, tokens, H, W): each layer's head-averaged maps upsampled to `size`, averaged over layers."""
        if not self.records:
            raise DiffvizError("no cross-attention was recorded: the denoiser has no cross-attention layers, "
                               "or it was called without encoder_hidden_states")
        n = self.num_calls
        total = None
        for calls in self.records.values():
            stack = torch.stack(calls[:n])  # (S, B, L, h, w)
            S, B, L, h, w = stack.shape
            up = F.interpolate(stack.reshape(S * B, L, h, w), size=tuple(size), mode="bilinear", align_corners=False)
            total = up if total is None else total + up
        out = (total / len(self.records)).reshape(n, self.batch_size, -1, *size)
        return out.clamp_(0.0, 1.0)


def recording_attention(loop, unet, batch_size: int, image_size: tuple[int, int]):
    """`loop` (a sampling loop such as `sample_loop(unet, scheduler, schedule, shape, …)`) run with an
    `AttentionRecorder` on `unet`: the returned trajectory also has `attention` (steps, B, L, *image_size)."""

    def run(*args, **kwargs):
        shape = args[3] if len(args) > 3 else kwargs["shape"]
        with AttentionRecorder(unet, batch_size, tuple(shape[-2:])) as recorder:
            traj = loop(*args, **kwargs)
        traj.attention = recorder.maps(image_size)
        return traj

    return run


def grid_shape(positions: int, latent_size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of a layer's position grid: the latent size divided by the layer's downsampling factor."""
    H, W = latent_size
    f = math.sqrt(H * W / positions)
    h, w = round(H / f), round(W / f)
    if h * w != positions:
        raise DiffvizError(f"cannot lay {positions} attention positions out on a grid of the {H}×{W} latent's shape")
    return h, w


def token_names(tokenizer, ids) -> list[str]:
    """Readable names of an open_clip token sequence: '<start>', word pieces, '<end>', then '<pad>'."""
    ids = [int(i) for i in ids]
    sot, eot = tokenizer.encoder.get("<start_of_text>"), tokenizer.encoder.get("<end_of_text>")
    names, ended = [], False
    for i in ids:
        if ended:
            names.append(PAD_NAME)
        elif i == sot:
            names.append(SOT_NAME)
        elif i == eot:
            names.append(EOT_NAME)
            ended = True
        else:
            names.append(tokenizer.decode([i]).strip() or "·")
    return names


def word_indices(tokens: list[str]) -> list[int]:
    """Indices of the prompt's own tokens (between the start and end tokens)."""
    return [i for i, name in enumerate(tokens) if name not in (SOT_NAME, EOT_NAME, PAD_NAME)]


def token_map(attention, image: int, token: int, end: int | None = None):
    """(S, H, W) image `image`'s map of token `token`, or the sum of tokens token..end−1 (one character's)."""
    return attention[:, image, token] if end is None else attention[:, image, token:end].sum(1)


def token_share(attention, image: int, token: int, end: int | None = None) -> np.ndarray:
    """(S,) the share of image `image`'s attention that goes to token `token` (or tokens token..end−1) per step."""
    a = token_map(attention, image, token, end)
    return np.asarray(a.float().mean(dim=(-2, -1)) if torch.is_tensor(a) else np.mean(a, axis=(-2, -1)), dtype=np.float64)


# ---- pictures ------------------------------------------------------------------------------
def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB (…, 3) on a dark-blue → red → yellow scale."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    stops = np.array([[0.05, 0.05, 0.35], [0.85, 0.1, 0.1], [1.0, 0.95, 0.2]], np.float32)
    lo = stops[0] + (stops[1] - stops[0]) * np.clip(v * 2, 0, 1)
    hi = stops[1] + (stops[2] - stops[1]) * np.clip(v * 2 - 1, 0, 1)
    rgb = np.where(v < 0.5, lo, hi)
    return (rgb * 255).round().astype(np.uint8)


def normalise_maps(maps) -> np.ndarray:
    """Each map (last two axes) stretched to [0, 1] between its own minimum and maximum (a flat map becomes 0).

    Attention maps are flat-ish (a token's share varies by tens of percent across the picture, not by
    factors): stretched, where a word is read most stands out; its share is printed beside the map."""
    m = np.asarray(maps, dtype=np.float32)
    lo = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - lo
    return np.divide(m - lo, span, out=np.zeros_like(m), where=span > 0)


def overlay(images: np.ndarray, maps, alpha: float = 0.6) -> np.ndarray:
    """uint8 images (…, H, W, 3) with heat maps (…, H, W) laid over them (each map stretched between its
    own minimum and maximum; alpha: how much of the heat colour shows where the map is at its maximum)."""
    heat = normalise_maps(maps)
    colours = heat_colours(heat).astype(np.float32)
    a = (alpha * (0.2 + 0.8 * heat))[..., None]
    out = np.asarray(images, np.float32) * (1 - a) + colours * a
    return out.round().clip(0, 255).astype(np.uint8)


def difference_frames(a: np.ndarray, b: np.ndarray, full: float | None = None) -> tuple[np.ndarray, float]:
    """|a − b| of two uint8 frame stacks (…, H, W, 3), averaged over colour, as heat-coloured uint8 frames.

    full: the difference shown at full brightness (default: the largest difference anywhere, so the
    steps are comparable with each other). Returns (frames, per-step mean |Δ| in [0, 1] of shape a.shape[:-3])."""
    d = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean(-1) / 255.0
    scale = float(d.max()) if full is None else float(full)
    heat = d / scale if scale > 0 else np.zeros_like(d)
    return heat_colours(heat), d.mean(axis=(-2, -1))
