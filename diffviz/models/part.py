"""`Part`: one trainable piece of a model that owns its config, as every diffusers model does.

A diffviz model is several parts trained apart (text encoder, denoiser, decoder, domain classifier).
Each part is a diffusers `ModelMixin` + `ConfigMixin`: its constructor's arguments are its config
(`register_to_config`), so `save_pretrained(folder)` writes `config.json` + one `.safetensors` file and
`from_pretrained(folder)` rebuilds the same module from them, with nothing riding in the model's own
metadata. diffusers' UNets and VAE are parts already; `Part` adds diffviz's own ones (text encoders,
classifier), with checked, safetensors-only loading and short errors.

`PART_CLASSES` names every class a model folder or a training checkpoint may ask for; a name outside
it is refused (a folder never makes diffviz import an arbitrary class). Subclasses of `Part` join it
by being defined.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ModelMixin, UNet2DConditionModel, UNet2DModel
from diffusers.configuration_utils import ConfigMixin

from ..errors import short
from . import io

WEIGHTS = "diffusion_pytorch_model.safetensors"  # diffusers' name for a part's weights
LEGACY_WEIGHTS = "model.safetensors"  # diffviz < parts-as-ModelMixin: text encoders and classifier

PART_CLASSES: dict[str, type] = {c.__name__: c for c in (UNet2DModel, UNet2DConditionModel, AutoencoderKL)}


class Part(ModelMixin, ConfigMixin):
    """A diffviz part: a diffusers ModelMixin/ConfigMixin whose `from_pretrained` reads safetensors only
    and answers a wrong or broken folder with a `ModelFolderError` saying what was wrong.

    Subclasses decorate `__init__` with `register_to_config`; config keys must not share a name with a
    submodule (diffusers resolves `self.name` to the config value then). `legacy_prefix` is where the
    weights of a folder written before parts owned their configs (`model.safetensors`, the inner
    module's keys) sit in this module's state dict; `legacy_config` turns that folder's config.json into
    this class's config.
    """

    config_name = "config.json"
    describes = "a model part"  # "… does not describe <this>"
    legacy_prefix = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PART_CLASSES[cls.__name__] = cls

    @classmethod
    def legacy_config(cls, cfg: dict) -> dict:
        return {k: v for k, v in cfg.items() if not k.startswith("_")}

    @classmethod
    def from_pretrained(cls, folder, **kwargs):  # noqa: D102 - diffusers' signature, checked and local
        return load_part(folder, cls)

    def _fix_state_dict_keys_on_load(self, state_dict) -> None:
        """diffusers' hook for renamed keys: an older file's keys lack this module's `legacy_prefix`."""
        super()._fix_state_dict_keys_on_load(state_dict)
        p = self.legacy_prefix
        own = set(self.state_dict())
        if p and state_dict and not all(k in own for k in state_dict) and all(p + k in own for k in state_dict):
            for k in list(state_dict):
                state_dict[p + k] = state_dict.pop(k)


def part_class(name) -> type:
    """The part class a config or checkpoint names, from `PART_CLASSES` only."""
    cls = PART_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise io.ModelFolderError(f"unknown part class {short(name)}; allowed: {', '.join(sorted(PART_CLASSES))}")
    return cls


def plain_config(module) -> dict:
    """A part's config as plain JSON-able data (no diffusers bookkeeping keys)."""
    return {k: v for k, v in dict(module.config).items() if not k.startswith("_")}


def missing_arguments(cls, cfg: dict) -> list[str]:
    """Required constructor arguments of `cls` that `cfg` does not give."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in cfg]


def load_part(folder: str | Path, cls: type | None = None) -> torch.nn.Module:
    """Rebuild a part from its folder (config.json + safetensors), float32, in eval mode.

    cls: the class expected (None: the one config.json names, from `PART_CLASSES`). Folders written
    before parts owned their configs (`model.safetensors`, no `_class_name`) load too."""
    folder = Path(folder)
    if not folder.is_dir():
        raise io.ModelFolderError(f"part folder {short(str(folder))} does not exist")
    cfg = io.read_json(folder / "config.json")
    named = cfg.get("_class_name")
    if cls is None:
        cls = part_class(named)
    elif named is not None and named != cls.__name__:
        raise io.ModelFolderError(f"{folder}/config.json describes a {short(named)}, not {getattr(cls, 'describes', 'a')} "
                                  f"({cls.__name__})")
    weights, legacy = folder / WEIGHTS, folder / LEGACY_WEIGHTS
    if not weights.is_file() and not legacy.is_file():
        raise io.ModelFolderError(f"{folder} has no {WEIGHTS} (nor a legacy {LEGACY_WEIGHTS})")
    init = cls.legacy_config(cfg) if issubclass(cls, Part) and named is None else cfg
    missing = missing_arguments(cls, init)
    if missing:
        raise io.ModelFolderError(f"{folder}/config.json does not describe {getattr(cls, 'describes', 'a model part')} "
                                  f"({cls.__name__}): it lacks {', '.join(missing)}")
    file = weights if weights.is_file() else legacy
    io.check_safetensors(file)
    wrong = []
    try:
        if file == weights:
            model, info = ModelMixin.from_pretrained.__func__(cls, folder, use_safetensors=True, torch_dtype=torch.float32,
                                                             output_loading_info=True)
            wrong = [f"{what} {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
                     for what, keys in (("missing", info.get("missing_keys", [])), ("unexpected", info.get("unexpected_keys", [])),
                                        ("wrong-shaped", [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", [])]))
                     if keys]
        else:
            model = cls.from_config(init)
            state = io.load_weights(file)
            model._fix_state_dict_keys_on_load(state)
            model.load_state_dict(state, strict=True)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as err:
        raise io.ModelFolderError(f"could not load {folder} as {cls.__name__}: {str(err)[:400]}") from err
    if wrong:  # diffusers would start missing tensors from random values: a folder must hold them all
        raise io.ModelFolderError(f"{file} does not fit this {cls.__name__}: {'; '.join(wrong)}")
    io.check_finite_weights(model, folder)
    return model.float().eval()


def save_part(module, folder: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
    """`save_pretrained` of a cast copy (the live module keeps its dtype and device even if saving fails)."""
    out = torch.nn.Module.to(copy.deepcopy(module), "cpu", dtype)  # nn.Module's: diffusers' own .to warns about fp16
    out.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
