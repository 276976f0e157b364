"""Bring your own diffusers model: standard pipeline folders, Hugging Face cache snapshots, live pipelines.

    model = diffviz.load("/path/to/stable-diffusion-v1-5")          # a folder with model_index.json
    model = diffviz.load("runwayml/stable-diffusion-v1-5")          # a snapshot already in the HF cache
    model = diffviz.from_pipeline(pipe)                              # a pipeline you built (no weights copied)

Supported: pipelines whose parts are a `UNet2DModel` or `UNet2DConditionModel`, an optional `AutoencoderKL`
(`vae`, latent models) or `VQModel` (`vqvae`, LDMPipeline), a transformers CLIP text encoder + CLIP tokenizer (text models), and a diffusers
scheduler — DDPMPipeline, DDIMPipeline, LDMPipeline, StableDiffusionPipeline (SD 1.x and 2.x layouts) and others built the same
way. Nothing is ever downloaded (`local_files_only=True`), and only `.safetensors` weights are read.

Faithful by default: such a model samples with the scheduler it ships, config untouched (`scheduler="model"`),
so `model.sample(prompt, steps=n, guidance=w, seed=s)` gives bitwise the latents of
`pipe(prompt, num_inference_steps=n, guidance_scale=w, generator=torch.Generator().manual_seed(s),
output_type="latent")` on the CPU for w = 1 and w > 1 (diffusers runs no guidance at w ≤ 1; diffviz applies
w as given, so w = 0 is unconditional: pipe(guidance_scale=w < 1) is model.sample(guidance=1)). diffviz's teaching schedulers ("ddim", "ddpm", "dpm", "euler": trailing
spacing, clipped x̂0) stay available by name.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import DiffvizError, InputTypeError, short
from ..utils import pick_device
from . import io
from .pipeline import DiffusionModel

TEXT_PIPELINE_DEFAULT_GUIDANCE = 7.5  # StableDiffusionPipeline's guidance_scale default
EXTRA = "pip install 'diffviz[diffusers-models]'"
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_pipeline_folder(path: Path) -> bool:
    """A standard diffusers pipeline folder: model_index.json naming a pipeline class (`_class_name`)."""
    index = Path(path) / "model_index.json"
    if not index.is_file():
        return False
    try:
        data = io.read_json(index)
    except io.ModelFolderError:
        return False
    return "_class_name" in data and data.get("format") != io.FORMAT


def cached_snapshot(repo_id: str) -> Path | None:
    """The folder of a Hugging Face Hub repo already in the local cache (HF_HOME / HF_HUB_CACHE), or None.

    Offline only: `local_files_only=True`, never a download."""
    if not REPO_ID.match(repo_id):
        return None
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def pipeline_dtype(device: torch.device, dtype) -> torch.dtype:
    """float32 on the CPU (half precision there is slow and partly unsupported); the given dtype, or
    float16, on an accelerator."""
    if dtype is not None:
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InputTypeError(f"dtype must be a torch floating dtype (torch.float32, torch.float16, torch.bfloat16), got {short(dtype)}")
        return dtype
    return torch.float32 if device.type == "cpu" else torch.float16


def load_pipeline_folder(path: str | Path, device=None, dtype=None, attention_slicing=None, vae_tiling: bool = False):
    """A `DiffusionModel` over a diffusers pipeline folder (see the module docstring)."""
    from diffusers import DiffusionPipeline

    path = Path(path)
    index = io.read_json(path / "model_index.json")
    device = pick_device(device)
    dtype = pipeline_dtype(device, dtype)
    extra = {}
    if "safety_checker" in index:  # not a generation part; a real one is a 1.2 GB CLIP vision model
        extra.update(safety_checker=None, requires_safety_checker=False)
    if "feature_extractor" in index and not _loads(path / "feature_extractor"):
        extra.update(feature_extractor=None)  # a few hundred bytes of image preprocessing: kept when present, for a save
    _check_parts(path, index)
    try:
        pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=dtype, use_safetensors=True, local_files_only=True, **extra)
    except ImportError as err:
        raise DiffvizError(f"{path} needs a package that is not installed ({err}); {EXTRA}") from err
    except (OSError, ValueError, EnvironmentError) as err:
        raise io.ModelFolderError(f"could not load {path} as a diffusers {index.get('_class_name')}: {str(err)[:400]}") from err
    for part, module in pipe.components.items():
        if isinstance(module, torch.nn.Module):
            io.check_finite_weights(module, path / part)
    return from_pipeline(pipe, name=path.name, device=device, attention_slicing=attention_slicing, vae_tiling=vae_tiling,
                         _source=str(path))


def _loads(folder: Path) -> bool:
    """A transformers preprocessor folder (feature_extractor/) that is there and can be read here."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return (folder / "preprocessor_config.json").is_file()


def _check_classes(path: Path, index: dict) -> None:
    """The pipeline and scheduler classes a folder names must be diffusers' own, refused by name otherwise (diffusers
    raises a raw AttributeError for an unknown pipeline, and quietly uses model_index.json's scheduler class
    whatever scheduler_config.json names)."""
    import diffusers
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    def known(name, base) -> bool:
        cls = getattr(diffusers, str(name), None) if isinstance(name, str) else None
        return isinstance(cls, type) and issubclass(cls, base)

    name = index.get("_class_name")
    if not known(name, diffusers.DiffusionPipeline):
        raise io.ModelFolderError(f"{path}/model_index.json names the pipeline class {short(name)}, which diffusers "
                                  f"{diffusers.__version__} does not have; diffviz loads diffusers' own pipelines "
                                  "(DDPMPipeline, DDIMPipeline, StableDiffusionPipeline, …)")
    spec = index.get("scheduler")
    named = [("model_index.json", spec[1])] if isinstance(spec, list) and len(spec) == 2 and spec[0] == "diffusers" else []
    config = path / "scheduler" / "scheduler_config.json"
    if config.is_file():
        named.append(("scheduler/scheduler_config.json", io.read_json(config).get("_class_name")))
    for where, cls in named:
        if cls is not None and not known(cls, SchedulerMixin):
            raise io.ModelFolderError(f"{path}/{where} names the scheduler class {short(cls)}, which diffusers "
                                      f"{diffusers.__version__} does not have; allowed: a diffusers scheduler "
                                      "(DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler, …)")


def _check_parts(path: Path, index: dict) -> None:
    """Clear errors before diffusers' own: an unknown pipeline or scheduler class, a missing part, a transformers
    part without transformers, weights only as pickles."""
    _check_classes(path, index)
    parts = [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[0] is not None]
    if not parts:
        raise io.ModelFolderError(f"{path}/model_index.json names a {index.get('_class_name')} but none of its parts "
                                  "(unet, scheduler, …); a diffusers pipeline folder lists each part and has a folder for it")
    missing = [p for p in parts if p not in ("safety_checker", "feature_extractor") and not (path / p).is_dir()]
    if missing:
        raise io.ModelFolderError(f"{path} is missing the {', '.join(p + '/' for p in missing)} folder(s) its model_index.json names")
    for part, spec in index.items():
        if part.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        if part in ("safety_checker", "feature_extractor"):
            continue
        if spec[0] == "transformers":
            try:
                import transformers  # noqa: F401
            except ImportError:
                raise DiffvizError(f"{path} has a transformers {spec[1]} ({part}/); {EXTRA}") from None
        folder = path / part
        if folder.is_dir() and any(folder.glob("*.bin")) and not any(folder.glob("*.safetensors")):
            raise io.ModelFolderError(
                f"{folder} holds only pickle-style weights (.bin); diffviz loads only .safetensors (pickles can run "
                "arbitrary code). Convert it with safetensors.torch.save_file, or save the pipeline with safe_serialization=True.")


def from_pipeline(pipe, name: str | None = None, device=None, attention_slicing=None, vae_tiling: bool = False,
                  _source: str | None = None):
    """Wrap a live diffusers pipeline as a `DiffusionModel`: the same module objects, no weights copied.

    device: None keeps the pipeline's device. attention_slicing ("auto", "max" or a slice size) and vae_tiling
    are diffusers' memory savers (`enable_attention_slicing`, `enable_vae_tiling`) for a large model on a small GPU.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel, VQModel
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    comps = getattr(pipe, "components", None)
    if not isinstance(comps, dict):
        raise InputTypeError(f"from_pipeline takes a diffusers pipeline, got {type(pipe).__name__}")
    kind_name = type(pipe).__name__
    unet, scheduler = comps.get("unet"), comps.get("scheduler")
    vae = comps.get("vae") if comps.get("vae") is not None else comps.get("vqvae")  # LDMPipeline: a VQModel "vqvae"
    if not isinstance(unet, (UNet2DModel, UNet2DConditionModel)):
        found = unet if unet is not None else comps.get("transformer") or comps.get("prior")
        raise DiffvizError(f"diffviz works with pipelines whose denoiser is a UNet2DModel or UNet2DConditionModel; "
                           f"this {kind_name} has {type(found).__name__ if found is not None else 'no unet'}")
    if not isinstance(scheduler, SchedulerMixin):
        raise DiffvizError(f"this {kind_name} has no diffusers scheduler (got {type(scheduler).__name__})")
    if vae is not None and not isinstance(vae, (AutoencoderKL, VQModel)):
        raise DiffvizError(f"diffviz decodes latents with an AutoencoderKL or a VQModel; this {kind_name} has a "
                           f"{type(vae).__name__}")
    unsupported = [k for k in ("text_encoder_2", "image_encoder", "controlnet", "adapter") if comps.get(k) is not None]
    if unsupported:
        raise DiffvizError(f"this {kind_name} has parts diffviz does not drive ({', '.join(unsupported)}); supported: "
                           "DDPMPipeline, DDIMPipeline, LDMPipeline, StableDiffusionPipeline (SD 1.x/2.x) and pipelines of the same parts")
    conditioner = None
    if isinstance(unet, UNet2DConditionModel):
        text_encoder, tokenizer = comps.get("text_encoder"), comps.get("tokenizer")
        if text_encoder is None or tokenizer is None:
            raise DiffvizError(f"this {kind_name}'s UNet takes text, but the pipeline has no text_encoder and tokenizer")
        if getattr(unet.config, "class_embed_type", None) or getattr(unet.config, "addition_embed_type", None):
            raise DiffvizError(f"this {kind_name}'s UNet needs extra inputs (class or added embeddings) diffviz does not make")
        from .hf_text import HFTextConditioner

        conditioner = HFTextConditioner(text_encoder, tokenizer)
    elif getattr(unet.config, "num_class_embeds", None):
        raise DiffvizError(f"this {kind_name}'s UNet takes class labels but the pipeline says nothing about its classes")
    if attention_slicing is not None:
        if hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing(attention_slicing)
        else:
            unet.set_attention_slice(attention_slicing)
    if vae_tiling:
        if vae is None:
            raise DiffvizError("vae_tiling needs a latent model (a pipeline with a vae)")
        vae.enable_tiling()
    scheduler_config = {**dict(scheduler.config), "_class_name": type(scheduler).__name__}
    latent_scale = float(vae.config.scaling_factor) if vae is not None else 1.0
    meta = {"name": name or getattr(pipe, "name_or_path", None) or kind_name, "source": "diffusers",
            "pipeline_class": kind_name, "default_scheduler": "model"}
    if _source:
        meta["source_folder"] = _source
    if conditioner is not None:
        meta.update(default_guidance=TEXT_PIPELINE_DEFAULT_GUIDANCE, guidance_range=[1.0, 15.0],
                    prompt_examples=["a photograph of an astronaut riding a horse", "a red circle"])
    model = DiffusersModel(unet, scheduler_config, conditioner, vae, latent_scale, meta)
    size = model.image_shape[-1]
    model.info.image_size = size
    model.pipeline = pipe  # kept for save_pretrained (same module objects as the model's)
    if device is not None:
        model.to(device)
    return model


class DiffusersModel(DiffusionModel):
    """A `DiffusionModel` over a diffusers pipeline's parts; `save_pretrained` writes a diffusers pipeline folder."""

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """A standard diffusers pipeline folder (safetensors; `dtype=None` keeps the weights' dtype), atomically."""
        return save_pipeline_folder(self, directory, dtype)


def save_pipeline_folder(model, directory: str | Path, dtype: torch.dtype | None) -> Path:
    """Write a model imported from diffusers back as a standard diffusers pipeline folder (safetensors),
    atomically; `diffviz.load` and `DiffusionPipeline.from_pretrained` both read it."""
    pipe = getattr(model, "pipeline", None)
    if pipe is None:
        raise DiffvizError(f"model {model.name!r} came from diffusers but its pipeline object is gone; save the pipeline "
                           "itself with pipe.save_pretrained(folder, safe_serialization=True)")
    comps = dict(pipe.components)
    if dtype is not None:
        comps = {k: (_cast_copy(v, dtype) if isinstance(v, torch.nn.Module) else v) for k, v in comps.items()}
    if "requires_safety_checker" in type(pipe).__init__.__code__.co_varnames and comps.get("safety_checker") is None:
        comps["requires_safety_checker"] = False
    with io.atomic_folder(directory) as tmp:
        type(pipe)(**comps).save_pretrained(tmp, safe_serialization=True)
    return Path(directory)


def _cast_copy(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    if all(p.dtype == dtype for p in module.parameters() if p.is_floating_point()):
        return module  # already that dtype: saved as it is
    import copy

    return copy.deepcopy(module).to("cpu", dtype)


def resolve(name_or_path: str | Path) -> Path | None:
    """A diffusers pipeline folder for `load`: the path itself, or a repo id's cached snapshot."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path if is_pipeline_folder(path) else None
    snap = cached_snapshot(str(name_or_path))
    if snap is not None:
        if not is_pipeline_folder(snap):
            raise DiffvizError(f"{short(str(name_or_path))} is in the Hugging Face cache but is not a diffusers pipeline "
                               "(no model_index.json with _class_name)")
        return snap
    return None


def missing_repo_message(name: str) -> str | None:
    """What to do when a Hub repo id is not on this machine (diffviz never downloads)."""
    if not REPO_ID.match(str(name)) or Path(str(name)).expanduser().exists():
        return None
    return (f"{short(str(name))} is not in the local Hugging Face cache and diffviz never downloads; on a machine with "
            f"internet run `huggingface-cli download {name}` (or DiffusionPipeline.from_pretrained once), then load it here, "
            "or load the pipeline folder by its path")

