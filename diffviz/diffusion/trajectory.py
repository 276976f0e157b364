"""A recorded reverse process: every intermediate of every denoising step, ready to show.

Shapes (S steps, B images, C×H×W the denoiser's space — pixels, or latents for latent models):
- `timesteps` (S,) the scheduler's t at each step; `alpha_bar` (S,) ᾱ_t there.
- `x_t` (S, B, C, H, W): the denoiser's input at each step (the scheduler's `scale_model_input`,
  so Euler's σ-scaled samples are shown on the same variance-preserving scale as DDIM's).
- `eps` (S, B, C, H, W): the noise prediction used (guided when guidance ≠ 1);
  `eps_cond` / `eps_uncond` the two halves of classifier-free guidance (None without guidance).
- `x0_pred` (S, B, C, H, W): the clean sample predicted at that step,
  x̂0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t.
- `decoded` (S, B, 3, h, w): latent models only — x̂0 decoded to pixels by the VAE.
- `final` (B, C, H, W): the scheduler's last `prev_sample`; `final_decoded` (B, 3, h, w) for
  latent models.
- `attention` (S, B, L, h, w): only when sampled with `record_attention=True` — each image pixel's
  cross-attention over the L prompt tokens (`diffusion.attention`); `tokens` names them per image.

uint8 frames (`frames(kind)`, (S, B, H', W', 3)): pixel images map [-1, 1] → [0, 255];
noise and latents map [-3, 3] → [0, 255] (3 σ of a standard normal); latents show their
channels as grey tiles in a grid (4 channels → 2×2); one-channel images become grey RGB.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from ..utils import to_u8
from ..errors import unreadable_weights
from ..errors import DiffvizError, FileFormatError, InputTypeError, MissingFileError, OutOfRangeError, OutputPathError, short
from ..utils import atomic_write, check_output_folder, kill_point

TENSOR_FIELDS = ("timesteps", "alpha_bar", "x_t", "eps", "eps_cond", "eps_uncond", "x0_pred", "decoded", "final", "final_decoded",
                 "attention")
PER_STEP_FIELDS = ("timesteps", "alpha_bar", "x_t", "eps", "eps_cond", "eps_uncond", "x0_pred", "decoded", "attention")
FRAME_KINDS = ("x_t", "eps", "eps_cond", "eps_uncond", "x0_pred", "decoded")
NOISE_RANGE = 3.0


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """(…, C, H, W) in [-1, 1] → (…, H, W, 3) uint8; 1 channel becomes grey."""
    return _to_uint8(x, 1.0)


def to_uint8_noise(x: torch.Tensor) -> np.ndarray:
    """(…, C, H, W) noise/latent in [-3, 3] → (…, H, W, 3) uint8 (mid-grey is 0)."""
    return _to_uint8(x, NOISE_RANGE)


def _to_uint8(x: torch.Tensor, scale: float) -> np.ndarray:
    x = x.detach().float().cpu()
    u = to_u8(x / scale)
    if u.shape[-3] == 1:
        u = u.expand(*u.shape[:-3], 3, *u.shape[-2:])
    elif u.shape[-3] != 3:
        u = channel_tiles(u)
    return u.movedim(-3, -1).contiguous().numpy()


def channel_tiles(u: torch.Tensor) -> torch.Tensor:
    """(…, C, H, W) → (…, 3, rows·H, cols·W): each channel a grey tile, in a near-square grid."""
    C, H, W = u.shape[-3:]
    cols = math.ceil(math.sqrt(C))
    rows = math.ceil(C / cols)
    pad = rows * cols - C
    if pad:
        u = torch.cat([u, torch.full((*u.shape[:-3], pad, H, W), 127, dtype=u.dtype)], dim=-3)
    lead = u.shape[:-3]
    grid = u.reshape(*lead, rows, cols, H, W).movedim(-3, -2).reshape(*lead, rows * H, cols * W)
    return grid.unsqueeze(-3).expand(*lead, 3, rows * H, cols * W)


@dataclass
class Trajectory:
    """Everything one sampling run went through; see the module docstring for shapes."""

    timesteps: torch.Tensor
    alpha_bar: torch.Tensor
    x_t: torch.Tensor
    eps: torch.Tensor
    x0_pred: torch.Tensor
    final: torch.Tensor
    eps_cond: torch.Tensor | None = None
    eps_uncond: torch.Tensor | None = None
    decoded: torch.Tensor | None = None
    final_decoded: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    # ---- shape and access -------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        return int(self.timesteps.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.final.shape[0])

    @property
    def latent(self) -> bool:
        return self.final_decoded is not None

    @property
    def tokens(self) -> list[list[str]] | None:
        """The names of the tokens `attention` maps, one list per image (None when not recorded)."""
        return self.meta.get("tokens")

    @property
    def token_groups(self) -> list[list[tuple[str, int, int]]] | None:
        """Per image, (name, first, end): the tokens a character spells joined (`models.tokens`), else one each."""
        if self.tokens is None:
            return None
        from .attention import PAD_NAME

        groups = self.meta.get("token_groups") or [[(n, i, i + 1) for i, n in enumerate(names) if n != PAD_NAME]
                                                   for names in self.tokens]
        return [[(str(n), int(a), int(b)) for n, a, b in g] for g in groups]

    def __len__(self) -> int:
        return self.num_steps

    def __getitem__(self, index):
        """`traj[i]`: a dict of step i's tensors; `traj[a:b]`: a Trajectory of those steps."""
        if isinstance(index, int):
            if not -self.num_steps <= index < self.num_steps:
                raise OutOfRangeError(f"step {index} out of range for a trajectory of {self.num_steps} steps")
            return {f: getattr(self, f)[index] for f in PER_STEP_FIELDS if getattr(self, f) is not None}
        if isinstance(index, slice):
            return replace(self, **{f: getattr(self, f)[index] for f in PER_STEP_FIELDS if getattr(self, f) is not None})
        raise InputTypeError(f"a trajectory is indexed by an int step or a slice of steps, got {type(index).__name__}")

    # ---- pictures -----------------------------------------------------------------------
    def frames(self, kind: str = "x_t") -> np.ndarray:
        """uint8 frames (S, B, H', W', 3) of one recorded quantity (see module docstring)."""
        if kind not in FRAME_KINDS:
            raise DiffvizError(f"unknown frame kind {kind!r}; allowed: {', '.join(FRAME_KINDS)}")
        x = getattr(self, kind)
        if x is None:
            raise DiffvizError(f"this trajectory has no {kind!r} (guidance off, or not a latent model)")
        image_like = kind == "decoded" or (not self.latent and kind in ("x_t", "x0_pred"))
        return to_uint8_image(x) if image_like else to_uint8_noise(x)

    def final_images(self) -> np.ndarray:
        """The generated images as uint8 (B, H, W, 3)."""
        return to_uint8_image(self.final_decoded if self.latent else self.final)

    def image_frames(self) -> np.ndarray:
        """Per-step predicted clean images as pictures (S, B, H, W, 3): x̂0, or decoded x̂0 for latents."""
        return self.frames("decoded" if self.latent else "x0_pred")

    def step_labels(self) -> list[str]:
        """One label per step ("step 3/50 · t=959 · ᾱ=0.004"), in the current language (diffviz.i18n)."""
        from ..i18n import tr as label

        return [label("common.step_label", i=i + 1, n=self.num_steps, t=int(t), a=float(a))
                for i, (t, a) in enumerate(zip(self.timesteps, self.alpha_bar))]

    # ---- persistence ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write `trajectory.safetensors` + `trajectory.json` (metadata) into `directory`, each atomically.

        The metadata also rides in the tensors file's header, and `load` reads it from there: a kill between
        the two writes can never pair new tensors with old metadata."""
        directory = check_output_folder(directory)  # a file there, a read-only place: refused before writing
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputPathError(f"cannot create folder {short(str(directory))}: {err.strerror}") from None
        tensors = {f: getattr(self, f).contiguous().cpu() for f in TENSOR_FIELDS if getattr(self, f) is not None}
        info = json.dumps({"format": "diffviz-trajectory", "version": 1, "meta": self.meta}, indent=2)
        atomic_write(directory / "trajectory.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata={"diffviz": info}))
        kill_point("trajectory:after-tensors")
        atomic_write(directory / "trajectory.json", info)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "Trajectory":
        directory = Path(directory)
        weights, meta_file = directory / "trajectory.safetensors", directory / "trajectory.json"
        if not weights.is_file():
            raise MissingFileError(f"{directory} is not a saved trajectory: {weights.name} is missing")
        try:
            tensors = load_file(str(weights))
            with safe_open(str(weights), framework="pt") as fh:
                header = (fh.metadata() or {}).get("diffviz")
        except Exception as err:  # safetensors raises its own error type on corrupt files
            raise FileFormatError(unreadable_weights(weights, err)) from None
        try:
            if header is None and not meta_file.is_file():
                raise MissingFileError(f"{directory} is not a saved trajectory: {meta_file.name} is missing")
            info = json.loads(header if header is not None else meta_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise FileFormatError(f"{meta_file} is not valid JSON ({err}); save the trajectory again") from None
        if not isinstance(info, dict) or info.get("format") != "diffviz-trajectory":
            raise FileFormatError(f"{meta_file} is not a diffviz trajectory file")
        missing = {f.name for f in fields(cls) if f.name in ("timesteps", "alpha_bar", "x_t", "eps", "x0_pred", "final")} - set(tensors)
        if missing:
            raise DiffvizError(f"{weights} lacks tensors {sorted(missing)}")
        return cls(**{k: v for k, v in tensors.items() if k in TENSOR_FIELDS}, meta=info.get("meta", {}))
