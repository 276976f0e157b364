"""`DiffusionModel`: the parts of a diffusion model composed like a diffusers pipeline.

Stable Diffusion is three models trained separately: a text encoder, a generation model (the
denoiser, working on a small latent picture) and a decoder. This handle holds those parts —
condition encoder (text, class or none), denoiser (diffusers UNet), optional VAE, and the training
noise schedule — and samples from them with a fresh diffusers scheduler each time.
"""
from __future__ import annotations

import warnings
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel, UNet2DModel

from ..utils import to_unit
from ..diffusion.attention import recording_attention
from ..diffusion.cache import shared_cache, weights_version
from ..diffusion.sampling import sample_loop
from ..diffusion.schedule import Schedule
from ..diffusion.schedulers import make_scheduler, max_steps, model_scheduler, steps_fit
from ..diffusion.trajectory import Trajectory
from ..errors import InputTypeError, short
from ..utils import check_finite_number, check_int, check_seed, pick_device
from . import io
from .bilingual import BilingualConditioner
from .builders import DomainClassifier
from .conditioning import ClassConditioner, TextConditioner
from .info import ModelInfo
from .part import load_part, part_class, save_part
from .tokens import check_attention_model, prompt_token_groups, prompt_tokens
from ..errors import DiffvizError
from ..i18n import tr

UNET_CLASSES = {"UNet2DModel": UNet2DModel, "UNet2DConditionModel": UNet2DConditionModel}
MAX_IMAGES = 256
MAX_GUIDANCE = 100.0  # far past any useful w (the bundled models are tuned for 1–4); larger is a typo


class GuidanceRangeWarning(UserWarning):
    """A guidance scale above the range the model was tuned for (views say so in their own guidance note)."""


def condition_list(conditions, kind: str) -> list:
    """The conditions of one sampling call as a list, one item per image; a single prompt, class index
    (numpy and torch integer scalars included) or class name becomes a list of one."""
    if isinstance(conditions, (str, bytes, int, float, np.generic)):
        return [conditions]
    if torch.is_tensor(conditions) or isinstance(conditions, np.ndarray):
        if conditions.ndim > 1:
            raise DiffvizError(f"classes must be a single label or a 1-D list of labels, got shape {tuple(conditions.shape)}")
        return conditions.reshape(-1).tolist()
    if isinstance(conditions, (list, tuple)):
        return list(conditions)
    what = "a prompt or a list of prompts" if kind == "text" else "a class (index or name) or a list of classes"
    raise InputTypeError(f"conditions must be {what}, got {type(conditions).__name__}")


class DiffusionModel:
    """A samplable diffusion model: `sample(conditions, steps=, guidance=, scheduler=, seed=)`."""

    def __init__(
        self,
        unet: UNet2DModel | UNet2DConditionModel,
        scheduler_config: dict,
        conditioner: TextConditioner | BilingualConditioner | ClassConditioner | None = None,
        vae: AutoencoderKL | None = None,
        latent_scale: float = 1.0,
        info: ModelInfo | dict | None = None,
        classifier: DomainClassifier | None = None,
        *,
        meta: dict | None = None,
    ):
        """info: a `ModelInfo`, or a dict of its fields (`meta=` is the older name of the same argument)."""
        if info is not None and meta is not None:
            raise DiffvizError("give info= or meta= (its older name), not both")
        info = meta if info is None else info
        self.info = info if isinstance(info, ModelInfo) else ModelInfo.from_dict(info)
        self.unet = unet.eval()
        self.scheduler_config = dict(scheduler_config)
        self.schedule = Schedule.from_scheduler_config(self.scheduler_config)
        self.conditioner = conditioner.eval() if conditioner is not None else None
        self.vae = vae.eval() if vae is not None else None
        self.latent_scale = float(latent_scale)
        self.classifier = classifier.eval() if classifier is not None else None
        self.device = next(unet.parameters()).device
        self._cache_token = object()  # this model in the trajectory cache's keys (a copy gets its own)

    # ---- description -------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """'text', 'class' or 'uncond'."""
        return self.conditioner.kind if self.conditioner is not None else "uncond"

    @property
    def latent(self) -> bool:
        return self.vae is not None

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the denoiser's space (latent for latent models)."""
        size = self.unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        return (self.unet.config.in_channels, *size)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images the model makes (the decoder's output for latent models)."""
        c, h, w = self.sample_shape
        if self.vae is None:
            return (c, h, w)
        f = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return (int(self.vae.config.out_channels), h * f, w * f)

    @property
    def class_names(self) -> list[str] | None:
        """The class names of a class model (index i is class i), else None."""
        return list(self.conditioner.class_names) if isinstance(self.conditioner, ClassConditioner) else None

    @property
    def meta(self) -> dict:
        """A read-only dict view of `info` with kind and latent (for older code; use `info`'s fields)."""
        view = {**self.info.to_dict(), "kind": self.kind, "latent": self.latent}
        if self.class_names is not None:
            view.update(num_classes=len(self.class_names), class_names=self.class_names)
        return view

    @property
    def sample_range(self) -> float:
        """Range the predicted clean sample is clipped to: [-1, 1] pixels, or ±3 σ of the scaled latents."""
        given = self.info.sample_range
        return float(given if given is not None else 3.0 if self.latent else 1.0)

    @property
    def default_guidance(self) -> float:
        given = self.info.default_guidance
        return float(given if given is not None else 1.0 if self.kind == "uncond" else 3.0)

    @property
    def guidance_range(self) -> tuple[float, float]:
        """The guidance scales w this model was tuned for, (lo, hi), from its model card's measurements.

        Outside it the images get worse: below lo the condition is only weakly followed (w = 0 ignores
        it); above hi colours saturate and shapes or strokes break up. A model folder states it as
        `guidance_range` in model_index.json; without it: 1 to twice the default guidance (at least 2).
        Unconditional models: (1, 1).
        """
        if self.kind == "uncond":
            return (1.0, 1.0)
        given = self.info.guidance_range
        if given is not None:
            try:
                lo, hi = (float(v) for v in given)
            except (TypeError, ValueError):
                raise DiffvizError(f"model {self.name!r}: guidance_range must be two numbers [lo, hi], got {given!r}") from None
            if not 0 <= lo <= hi < float("inf"):
                raise DiffvizError(f"model {self.name!r}: guidance_range must satisfy 0 <= lo <= hi, got {given!r}")
            return (lo, hi)
        return (min(1.0, self.default_guidance), max(2.0, 2 * self.default_guidance))

    @property
    def name(self) -> str:
        return str(self.info.name)

    def __repr__(self) -> str:
        parts = [f"kind={self.kind!r}", f"latent={self.latent}", f"sample_shape={self.sample_shape}", f"device={self.device}"]
        return f"DiffusionModel({self.name!r}, {', '.join(parts)})"

    def modules(self) -> dict[str, torch.nn.Module]:
        mods = {"unet": self.unet, "conditioner": self.conditioner, "vae": self.vae, "classifier": self.classifier}
        return {k: v for k, v in mods.items() if v is not None}

    def to(self, device=None) -> "DiffusionModel":
        self.device = pick_device(device)
        for m in self.modules().values():
            m.to(self.device)
        return self

    @torch.no_grad()
    def classify(self, images) -> dict[str, np.ndarray]:
        """The domain classifier's verdict on uint8 images (N, H, W, 3): {attribute: predicted index}
        (digits: {"digit": …}; shapes: {"colour": …, "shape": …, …}). An independent judge of samples."""
        if self.classifier is None:
            raise ValueError(f"model {self.name!r} has no domain classifier to judge images with")
        u8 = np.asarray(images)
        if u8.dtype != np.uint8 or u8.ndim != 4 or u8.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {u8.dtype} {u8.shape}")
        x = to_unit(torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2))
        if self.classifier.in_channels == 1:
            x = x.mean(1, keepdim=True)
        return {k: v.argmax(1).cpu().numpy() for k, v in self.classifier(x.to(self.device)).items()}

    # ---- latent space ---------------------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1] → the denoiser's space (VAE latent mean, or a VQModel's unquantised latent, × latent_scale;
        identity for pixel models)."""
        if self.vae is None:
            return x
        encoded = self.vae.encode(x.to(self.device, self.vae.dtype))
        z = encoded.latent_dist.mean if hasattr(encoded, "latent_dist") else encoded.latents  # AutoencoderKL, VQModel
        return (z * self.latent_scale).float()

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """The denoiser's space → pixels in [-1, 1] (the lecture's decoder; a VQModel quantises first, as LDMPipeline)."""
        if self.vae is None:
            return z
        return self.vae.decode(z.to(self.device, self.vae.dtype) / self.latent_scale).sample.float().clamp(-1, 1)

    # ---- conditions ----------------------------------------------------------------------
    def encode_conditions(self, conditions, num_images: int | None):
        """(cond, uncond, labels) for a batch; labels are the prompts/classes as given, one per image."""
        if self.conditioner is None:
            if conditions is not None:
                raise DiffvizError("this model is unconditional: pass conditions=None and num_images=N")
            n = check_int("num_images", num_images if num_images is not None else 1, minimum=1, maximum=MAX_IMAGES)
            return None, None, [""] * n
        if conditions is None:
            raise DiffvizError(f"this {self.kind} model needs conditions: "
                             + ("a prompt or list of prompts ('' = unconditional)" if self.kind == "text" else "a class or list of classes"))
        items = condition_list(conditions, self.kind)
        if not items:
            raise DiffvizError("conditions must not be empty: give " + ("a prompt or a list of prompts" if self.kind == "text"
                                                                      else "a class or a list of classes"))
        if num_images is not None:
            check_int("num_images", num_images, minimum=1, maximum=MAX_IMAGES)
            if len(items) == 1:
                items = items * num_images
            elif len(items) != num_images:
                raise DiffvizError(f"got {len(items)} conditions for num_images={num_images}; give one condition or {num_images}")
        if len(items) > MAX_IMAGES:
            raise DiffvizError(f"at most {MAX_IMAGES} images per call, got {len(items)}")
        cond = self.conditioner.encode(items)
        return cond, self.conditioner.null(len(items)), items

    # ---- sampling ------------------------------------------------------------------------
    def sample(
        self,
        conditions=None,
        *,
        num_images: int | None = None,
        steps: int = 50,
        guidance: float | None = None,
        scheduler: str | None = None,
        seed: int = 0,
        generator: torch.Generator | None = None,
        decode_steps: bool = True,
        progress: bool = False,
        callback: Callable[[int, int], None] | None = None,
        cache: bool = False,
        record_attention: bool = False,
    ) -> Trajectory:
        """Generate images and record the whole reverse process as a `Trajectory`.

        conditions: prompt(s) for text models ('' is unconditional), class index/name(s) for class
        models, None for unconditional models (then num_images). guidance: classifier-free guidance
        scale w ≥ 0 (1 = conditional only, 0 = unconditional only; default from the model card), applied at
        every w: diffusers' pipelines instead run no guidance at w ≤ 1, so for w < 1 `pipe(...)` equals this
        with guidance=1.
        cache: answer a request identical to an earlier one (same model and weights, conditions,
        seed, steps, scheduler, guidance) from the process's bounded trajectory cache, and let
        identical requests made at the same time share one computation (`diffviz.diffusion.cache`).
        The trajectory's tensors are then shared: do not change them in place.
        scheduler: "ddim", "ddpm", "dpm", "euler" (diffviz's teaching variants: trailing spacing, clipped x̂0) or
        "model" (the scheduler the model ships, config untouched: a diffusers pipeline's model then gives
        bitwise `pipe(...)`'s result); default: "model" for models imported from diffusers, else "ddim".
        seed: the initial noise (and DDPM's per-step noise) come from a CPU `torch.Generator().manual_seed(seed)`
        on every device, as diffusers' docs recommend: one seed means the same noise on the CPU and on CUDA.
        record_attention: also record where each prompt token acts, per step (text models): `traj.attention`
        (steps, B, tokens, H, W) and `traj.tokens` (`diffviz.diffusion.attention`, `models.tokens`).
        """
        if scheduler is None:
            scheduler = self.meta.get("default_scheduler", "ddim")
        if record_attention:
            check_attention_model(self)
        if cache and generator is None:
            key = self._cache_key(conditions, num_images, steps, guidance, scheduler, seed, decode_steps)
            key = key if key is None or not record_attention else (*key, "attention")
            if key is not None:
                computed = []

                def compute():
                    computed.append(True)
                    return self.sample(conditions, num_images=num_images, steps=steps, guidance=guidance,
                                       scheduler=scheduler, seed=seed, decode_steps=decode_steps, progress=progress,
                                       callback=callback, record_attention=record_attention)

                traj = shared_cache().get_or_compute(key, compute)
                if callback is not None and not computed:
                    callback(traj.num_steps, traj.num_steps)
                return traj
        T = self.schedule.num_train_timesteps
        steps = check_int("steps", steps, minimum=1, maximum=T)
        guidance = self.default_guidance if guidance is None else check_finite_number("guidance", guidance, minimum=0.0,
                                                                                      maximum=MAX_GUIDANCE)
        if self.kind == "uncond" and guidance != 1.0:
            raise DiffvizError("guidance needs a conditional model; this model is unconditional (use guidance=1)")
        if guidance > self.guidance_range[1]:
            lo, hi = self.guidance_range
            warnings.warn(GuidanceRangeWarning(
                f"guidance w = {guidance:g} is above the range {lo:g}–{hi:g} model {self.name!r} was tuned for: "
                "colours saturate and shapes break up"), stacklevel=2)
        seed = check_seed(seed)
        if not isinstance(scheduler, str):
            raise InputTypeError(f"scheduler must be a name (ddpm, ddim, dpm or euler), got {short(scheduler)}")
        sched = self._scheduler(scheduler)
        self._check_fit(sched, scheduler, steps)
        cond, uncond, labels = self.encode_conditions(conditions, num_images)
        if generator is None:  # on the CPU on every device: a seed is the same noise everywhere (see above)
            generator = torch.Generator().manual_seed(seed)
        loop = recording_attention(sample_loop, self.unet, len(labels), self.image_shape[1:]) if record_attention else sample_loop
        traj = loop(
            self.unet, sched, self.schedule, (len(labels), *self.sample_shape),
            cond=cond, uncond=uncond, guidance=guidance, steps=steps, generator=generator,
            device=self.device, dtype=self.unet.dtype, decode=self.decode_latents if self.latent else None,
            decode_steps=decode_steps, progress=progress, callback=callback,
        )
        if self.unet.dtype != torch.float32:  # half-precision runs: the record in float32 (exact) for the views
            for k, v in vars(traj).items():
                if torch.is_tensor(v) and v.is_floating_point():
                    setattr(traj, k, v.float())
        if record_attention:
            traj.meta["tokens"] = prompt_tokens(self.conditioner, labels)
            traj.meta["token_groups"] = prompt_token_groups(self.conditioner, labels)
        traj.meta.update(model=self.name, kind=self.kind, latent=self.latent, conditions=labels,
                         steps=steps, guidance=guidance, scheduler=scheduler, seed=seed)
        return traj

    def _scheduler(self, name: str):
        if name == "model":
            return model_scheduler(self.scheduler_config)
        return make_scheduler(name, self.scheduler_config, sample_range=self.sample_range)

    def _check_fit(self, sched, name: str, steps: int) -> None:
        T = self.schedule.num_train_timesteps
        if not steps_fit(sched, steps, T):
            raise DiffvizError(tr("compare.steps_limit", scheduler=name, limit=max_steps(sched, T), T=T, got=steps))

    def check_steps(self, steps: int, scheduler: str | None = None) -> None:
        """Refuse, with a short DiffvizError naming the allowed range, a step count that `scheduler` (a name as
        in `sample`; default: the model's) cannot take on this model (see `diffusion.schedulers.steps_fit`)."""
        name = self.meta.get("default_scheduler", "ddim") if scheduler is None else scheduler
        self._check_fit(self._scheduler(name), name, steps)

    def _cache_key(self, conditions, num_images, steps, guidance, scheduler, seed, decode_steps):
        """The trajectory cache's key for a request, or None when it cannot be keyed (then: no caching)."""
        if torch.is_tensor(conditions):
            conditions = tuple(conditions.tolist())
        elif isinstance(conditions, (list, tuple)):
            conditions = tuple(conditions)
        if guidance is None:
            guidance = self.default_guidance
        try:
            key = (self._cache_token, weights_version(self.modules().values()), conditions, num_images, steps,
                   float(guidance), scheduler, seed, decode_steps, str(self.device), self.sample_range,
                   self.latent_scale, json.dumps(self.scheduler_config, sort_keys=True, default=str))
            hash(key)
        except (TypeError, ValueError):  # an odd condition (a dict, NaN guidance): computed, not cached
            return None
        return key

    # ---- persistence -----------------------------------------------------------------------
    def parts(self) -> dict[str, torch.nn.Module]:
        """The parts a model folder holds, by folder name (as a diffusers pipeline's components): unet, vae,
        text_encoder (the English one under a swapped-in encoder), classifier."""
        cond = self.conditioner
        if isinstance(cond, BilingualConditioner):
            if cond.english is None:
                raise DiffvizError("this bilingual text encoder was loaded without the English one the folder needs; "
                                   "load the model folder with text_encoder='bilingual' to save it")
            cond = cond.english
        parts = {"unet": self.unet, "vae": self.vae, "text_encoder": cond if self.kind == "text" else None,
                 "classifier": self.classifier}
        return {k: v for k, v in parts.items() if v is not None}

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> Path:
        """Write the model folder, atomically (a failure leaves the old one intact): one folder per part, each
        written by the part's own `save_pretrained` (config.json + safetensors), and `model_index.json`
        naming each part's class (as `DiffusionPipeline` does) beside the model's `info`."""
        with io.atomic_folder(directory) as tmp:
            index = {**self.info.to_dict(), "format": io.FORMAT, "version": 2, "kind": self.kind, "latent": self.latent,
                     "latent_scale": self.latent_scale}
            index.pop("text_encoder", None)  # a swapped-in encoder is saved beside the own one, not instead of it
            for name, module in self.parts().items():
                save_part(module, tmp / name, dtype)
                index[name] = [_library(module), type(module).__name__]
            if isinstance(self.conditioner, BilingualConditioner):  # the swapped-in encoder, beside the English one
                save_part(self.conditioner, tmp / f"text_encoder_{self.info.text_encoder or 'bilingual'}", dtype)
            elif isinstance(self.conditioner, ClassConditioner):
                index.update(num_classes=self.conditioner.num_classes, class_names=self.conditioner.class_names)
            DDPMScheduler.from_config(self.scheduler_config).save_config(tmp / "scheduler")
            index["scheduler"] = ["diffusers", "DDPMScheduler"]
            io.write_json(tmp / "model_index.json", index)
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device=None, text_encoder: str | None = None) -> "DiffusionModel":
        """Load a model folder written by `save_pretrained` (or `diffviz train`): each part by its own
        `from_pretrained`, of the class model_index.json names (older folders: the class each part had).

        text_encoder: None (the model's own, `text_encoder/`) or the name of another text encoder trained
        for the same generator, in `text_encoder_<name>/` (shapes ships "bilingual": English and Chinese).
        The UNet and VAE are the same files either way."""
        if not isinstance(directory, (str, Path)):
            raise InputTypeError(f"a model folder path is a str or Path, got {type(directory).__name__}")
        asked = Path(directory)
        directory = io.recover_folder(asked)  # a save killed between its two renames left the old copy aside
        index = io.read_json(directory / "model_index.json") if (directory / "model_index.json").is_file() else {}
        kind, latent = index.get("kind"), bool(index.get("latent"))
        comps = ["unet"] + (["vae"] if latent else []) + (["text_encoder"] if kind == "text" else [])
        index = io.check_model_folder(directory, comps)
        if kind not in ("text", "class", "uncond"):
            raise io.ModelFolderError(f"{directory}: model_index.json has unknown kind {kind!r}; allowed: text, class, uncond")
        unet_cfg = io.read_json(directory / "unet" / "config.json")
        unet_cls = UNET_CLASSES.get(unet_cfg.get("_class_name"))
        if unet_cls is None:
            raise io.ModelFolderError(f"{directory}/unet is a {unet_cfg.get('_class_name')!r}; allowed: {', '.join(UNET_CLASSES)}")

        def part(name: str, fallback: type):
            entry = index.get(name)
            named = part_class(entry[1]) if isinstance(entry, list) and len(entry) == 2 else fallback
            return load_part(directory / name, named)

        unet = part("unet", unet_cls)
        vae = part("vae", AutoencoderKL) if latent else None
        info = ModelInfo.from_dict(index)
        if info.name == "model" and "name" not in index:
            info.name = asked.name
        conditioner = None
        if text_encoder is not None:
            if not isinstance(text_encoder, str):
                raise InputTypeError(f"text_encoder must be a name (str) or None, got {type(text_encoder).__name__}")
            others = sorted(p.name[len("text_encoder_"):] for p in directory.glob("text_encoder_*") if p.is_dir())
            if kind != "text" or text_encoder not in others:
                raise DiffvizError(f"model {info.name!r} has no text encoder named {short(text_encoder)}; "
                                   f"allowed: {', '.join(others) if others else 'none (only its own)'}")
        if kind == "text":
            conditioner = part("text_encoder", TextConditioner)
            if text_encoder is not None:  # swap the text encoder; the generator and decoder stay as they are
                folder = directory / f"text_encoder_{text_encoder}"
                named = io.read_json(folder / "config.json").get("_class_name")
                swapped = load_part(folder, None if named else BilingualConditioner)  # older folders: bilingual
                if hasattr(swapped, "attach_english"):
                    swapped.attach_english(conditioner)
                conditioner = swapped
                info.text_encoder = text_encoder
        elif kind == "class":
            conditioner = ClassConditioner(index["num_classes"], index.get("class_names"))
        scheduler_config = io.read_json(directory / "scheduler" / "scheduler_config.json")
        classifier = part("classifier", DomainClassifier) if (directory / "classifier").is_dir() else None
        model = cls(unet, scheduler_config, conditioner, vae, index.get("latent_scale", 1.0), info, classifier)
        return model.to(device)


def _library(module) -> str:
    """'diffusers' for diffusers' own classes, else 'diffviz' (model_index.json's [library, class] entries)."""
    return "diffusers" if type(module).__module__.startswith("diffusers.") else "diffviz"


def load_text_conditioner(folder: Path) -> TextConditioner:
    """The open_clip text encoder of a model folder's `text_encoder/` (`TextConditioner.from_pretrained`)."""
    return load_part(folder, TextConditioner)
