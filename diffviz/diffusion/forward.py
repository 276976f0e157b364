"""The forward process: an image drowning in noise.

x_t = √ᾱ_t · x_0 + √(1-ᾱ_t) · ε,  ε ~ N(0, I), in closed form for any t (no loop over steps).
This is also how training pairs for the noise predictor are made, and `predict_x0` inverts it:
given x_t and a noise estimate ε̂, the clean image the estimate implies.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from .schedule import Schedule
from ..errors import DiffvizError, InputTypeError, short


class ForwardSample(NamedTuple):
    x_t: torch.Tensor  # noisy images, same shape as x0 (or (K, B, C, H, W) for forward_strip)
    noise: torch.Tensor  # the ε that was added
    alpha_bar: torch.Tensor  # ᾱ_t per image, float32


def _as_schedule(schedule) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return Schedule.from_name(schedule)
    raise InputTypeError(f"schedule must be a Schedule or a schedule name, got {type(schedule).__name__}")


def check_images(x0, name: str = "x0") -> torch.Tensor:
    """Validate a batch of float images (B, C, H, W) in [-1, 1]; a single (C, H, W) image is batched."""
    if not torch.is_tensor(x0):
        raise InputTypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W) in [-1, 1], got {type(x0).__name__}")
    if not x0.is_floating_point():
        raise InputTypeError(f"{name} must be a float tensor in [-1, 1], got dtype {x0.dtype} (convert uint8 pixels with diffviz.utils.to_unit)")
    if x0.ndim == 3:
        x0 = x0.unsqueeze(0)
    if x0.ndim != 4:
        raise DiffvizError(f"{name} must have shape (B, C, H, W) or (C, H, W), got {tuple(x0.shape)}")
    if x0.numel() == 0:
        raise DiffvizError(f"{name} is empty (shape {tuple(x0.shape)}); give at least one image")
    if not torch.isfinite(x0).all():
        raise DiffvizError(f"{name} contains NaN or inf values")
    lo, hi = float(x0.min()), float(x0.max())
    if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
        raise DiffvizError(f"{name} must be in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return x0


def check_timesteps(t, batch: int, T: int, device) -> torch.Tensor:
    if isinstance(t, (bool, np.bool_)) or t is None or isinstance(t, (str, bytes)):
        raise InputTypeError(f"t must be an int or a 1-D integer tensor/list of timesteps in [0, {T}), got {short(t)}")
    try:
        t = torch.as_tensor(t, device=device)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise DiffvizError(f"t must be an int or a 1-D integer tensor/list of timesteps in [0, {T}), got {short(t)}") from None
    if t.is_floating_point():
        raise InputTypeError(f"t must be integer timesteps, got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.repeat(batch)
    if t.ndim != 1 or t.shape[0] != batch:
        raise DiffvizError(f"t must be one timestep or one per image ({batch}), got shape {tuple(t.shape)}")
    if int(t.min()) < 0 or int(t.max()) >= T:
        raise DiffvizError(f"t must be in [0, {T}) for this schedule, got values in [{int(t.min())}, {int(t.max())}]")
    return t.long()


def forward_process(
    x0: torch.Tensor,
    t,
    schedule: Schedule | str = "linear",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> ForwardSample:
    """Sample x_t ~ q(x_t | x_0) for one timestep (int) or one per image (1-D tensor/list).

    x0: float images (B, C, H, W) in [-1, 1]. Returns x_t, the noise ε used, and ᾱ_t per image.
    """
    x0 = check_images(x0)
    schedule = _as_schedule(schedule)
    t = check_timesteps(t, x0.shape[0], schedule.num_train_timesteps, x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    elif noise.shape != x0.shape:
        raise DiffvizError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    return q_sample(x0, t, schedule, noise)


def q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: Schedule, noise: torch.Tensor) -> ForwardSample:
    """The closed form itself, unchecked (x0 may be a latent, unbounded): √ᾱ_t x0 + √(1-ᾱ_t) ε."""
    alpha_bar = schedule.alphas_cumprod.to(x0.device)[t].to(x0.dtype)
    a = alpha_bar.view(-1, *([1] * (x0.ndim - 1)))
    return ForwardSample(a.sqrt() * x0 + (1 - a).sqrt() * noise, noise, alpha_bar)


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar, clip: float | None = None) -> torch.Tensor:
    """The forward process inverted with a noise estimate: x̂0 = (x_t − √(1-ᾱ_t) ε̂) / √ᾱ_t.

    With the true ε this gives x0 back exactly; with the denoiser's ε̂ it is the model's guess of the
    clean image (blurry at large t, sharp at small t). alpha_bar: ᾱ_t as a number, a 0-d tensor or one
    per image. clip: clamp x̂0 to [-clip, clip] (as the schedulers do), since 1/√ᾱ_t is huge near t = T.
    """
    a = torch.as_tensor(alpha_bar, dtype=x_t.dtype, device=x_t.device)
    if a.ndim == 1:
        a = a.view(-1, *([1] * (x_t.ndim - 1)))
    x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    return x0 if clip is None else x0.clamp(-clip, clip)


PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def prediction_type(config) -> str:
    """What a denoiser's output means, from its scheduler's config (`prediction_type`; "epsilon" when absent)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    kind = get("prediction_type", None) or "epsilon"
    if kind not in PREDICTION_TYPES:
        raise DiffvizError(f"the scheduler's prediction_type is {short(kind)}; allowed: {', '.join(PREDICTION_TYPES)}")
    return kind


def split_variance(output: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(prediction, predicted variance or None): a UNet that also learns the variance (a scheduler's
    `variance_type="learned"`/`"learned_range"`) answers with twice the sample's channels, the variance second."""
    if output.shape[1] == 2 * channels:
        pred, var = output.split(channels, dim=1)
        return pred, var
    return output, None


def eps_and_x0(output: torch.Tensor, x_t: torch.Tensor, alpha_bar, kind: str = "epsilon") -> tuple[torch.Tensor, torch.Tensor]:
    """(ε̂, x̂0) that a denoiser's output implies for x_t, whatever it predicts (`kind`, see `prediction_type`):

        epsilon:       ε̂ = out,                          x̂0 = (x_t − √(1-ᾱ) ε̂) / √ᾱ
        v_prediction:  ε̂ = √ᾱ out + √(1-ᾱ) x_t,         x̂0 = √ᾱ x_t − √(1-ᾱ) out
        sample:        ε̂ = (x_t − √ᾱ out) / √(1-ᾱ),     x̂0 = out

    as diffusers' schedulers convert it (v = √ᾱ ε − √(1-ᾱ) x0). v and x0 stay finite at ᾱ = 0 (zero
    terminal SNR), where x̂0 from ε̂ is infinite."""
    a = torch.as_tensor(alpha_bar, dtype=x_t.dtype, device=x_t.device)
    if a.ndim == 1:
        a = a.view(-1, *([1] * (x_t.ndim - 1)))
    if kind == "epsilon":
        return output, predict_x0(x_t, output, a)
    if kind == "v_prediction":
        return a.sqrt() * output + (1 - a).sqrt() * x_t, a.sqrt() * x_t - (1 - a).sqrt() * output
    if kind == "sample":
        return (x_t - a.sqrt() * output) / (1 - a).sqrt(), output
    raise DiffvizError(f"prediction_type {short(kind)} is not one of {', '.join(PREDICTION_TYPES)}")


def forward_strip(
    x0: torch.Tensor,
    timesteps: Sequence[int] | torch.Tensor,
    schedule: Schedule | str = "linear",
    generator: torch.Generator | None = None,
    same_noise: bool = True,
) -> ForwardSample:
    """x_t for many timesteps at once, vectorised: returns x_t of shape (K, B, C, H, W).

    With `same_noise` one ε per image is shared by all t, so the strip shows one image fading
    into one noise pattern (what q(x_t|x_0) in closed form means); otherwise each t draws its own ε.
    """
    x0 = check_images(x0)
    schedule = _as_schedule(schedule)
    ts = torch.as_tensor(timesteps)
    if ts.ndim != 1 or ts.numel() == 0:
        raise DiffvizError("timesteps must be a non-empty 1-D list of integer timesteps")
    ts = check_timesteps(ts, ts.numel(), schedule.num_train_timesteps, x0.device)
    K = ts.numel()
    if same_noise:
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device).expand(K, *x0.shape)
    else:
        eps = torch.randn((K, *x0.shape), generator=generator, dtype=x0.dtype, device=x0.device)
    alpha_bar = schedule.alphas_cumprod.to(x0.device)[ts].to(x0.dtype)
    a = alpha_bar.view(K, 1, 1, 1, 1)
    x_t = a.sqrt() * x0.unsqueeze(0) + (1 - a).sqrt() * eps
    return ForwardSample(x_t, eps.contiguous(), alpha_bar)
