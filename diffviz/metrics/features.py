"""Feature extractors behind one interface: what FID and KID compare images with.

- `ClassifierFeatures`: the bundled domain classifier's embedding — meaningful offline, the default.
- `InceptionFeatures`: pytorch-fid's InceptionV3 (2048-d pool features), the standard FID, with
  its weights from a local file (nothing is downloaded): pass `weights=` or set
  DIFFVIZ_INCEPTION_WEIGHTS to pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`.
- `ClipImageFeatures`: a CLIP image tower's normalised embedding.
Every extractor takes images as uint8 (B, H, W, 3|1) or float (B, C, H, W) in [-1, 1].
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from ..utils import to_unit
from .stats import RunningStats, content_hash
from ..errors import DiffvizError, InputTypeError, MissingFileError

INCEPTION_ENV = "DIFFVIZ_INCEPTION_WEIGHTS"


def prepare_images(images) -> torch.Tensor:
    """uint8 (B, H, W, C) or float (B, C, H, W) in [-1, 1] → float (B, C, H, W) in [-1, 1]."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not torch.is_tensor(images):
        raise InputTypeError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise DiffvizError(f"images must be a batch: uint8 (B, H, W, C) or float (B, C, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        if images.shape[-1] not in (1, 3):
            raise DiffvizError(f"uint8 images must be (B, H, W, 1 or 3), got shape {tuple(images.shape)}")
        return to_unit(images.permute(0, 3, 1, 2))
    if not images.is_floating_point():
        raise InputTypeError(f"images must be uint8 or float, got {images.dtype}")
    if images.shape[1] not in (1, 3):
        raise DiffvizError(f"float images must be (B, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise DiffvizError("images contain NaN or inf")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.001 or hi > 1.001:
        raise DiffvizError(f"float images must be in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return images.float()


def fit_images(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Match an extractor's channels (grey ↔ RGB) and square size (bilinear)."""
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


class FeatureExtractor:
    """Base: `name`, `dim`, and `__call__(images) -> (B, dim)` float tensor on the CPU."""

    name = "features"
    dim = 0
    channels = 3
    image_size = 32

    def __init__(self, module: torch.nn.Module, device=None):
        self.module = module.eval()
        self.device = device or next(module.parameters()).device
        self.module.to(self.device)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images) -> torch.Tensor:
        x = fit_images(prepare_images(images), self.channels, self.image_size).to(self.device)
        return self.embed(x).float().cpu()


class ClassifierFeatures(FeatureExtractor):
    """Penultimate embedding of a domain classifier (any module with `features(x)`)."""

    def __init__(self, classifier, name: str = "domain", device=None):
        if not hasattr(classifier, "features"):
            raise InputTypeError("the classifier needs a features(x) method returning (B, dim)")
        super().__init__(classifier, device)
        self.name = f"{name}-classifier"
        self.channels = getattr(classifier, "in_channels", 3)
        self.image_size = getattr(classifier, "image_size", 32)
        self.dim = int(self.embed(torch.zeros(1, self.channels, self.image_size, self.image_size, device=self.device)).shape[1])

    def embed(self, x):
        return self.module.features(x)


class ClipImageFeatures(FeatureExtractor):
    """L2-normalised CLIP image embeddings (the model's own mean/std normalisation applied)."""

    def __init__(self, clip, name: str = "clip", device=None):
        super().__init__(clip, device)
        from open_clip.model import get_model_preprocess_cfg

        cfg = get_model_preprocess_cfg(clip)
        size = cfg.get("size", 224)
        self.image_size = size if isinstance(size, int) else size[0]
        self.mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))).view(1, 3, 1, 1)
        self.name = name
        self.dim = int(clip.text_projection.shape[1] if torch.is_tensor(getattr(clip, "text_projection", None))
                       else self.embed(torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)).shape[1])

    def embed(self, x):
        x = ((x + 1) / 2 - self.mean.to(x.device)) / self.std.to(x.device)
        return self.module.encode_image(x, normalize=True)


@contextlib.contextmanager
def _local_inception_weights(state_dict):
    """Make pytorch-fid's own `fid_inception_v3()` take a local state dict instead of downloading."""
    import pytorch_fid.inception as pfi

    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: state_dict
    try:
        yield
    finally:
        pfi.load_state_dict_from_url = original


def load_inception_state(weights: str | Path | None) -> dict:
    path = weights or os.environ.get(INCEPTION_ENV)
    if not path:
        raise MissingFileError(
            "InceptionV3 weights for FID are not available offline. Download pytorch-fid's "
            "pt_inception-2015-12-05-6726825d.pth on a machine with internet, then pass "
            f"InceptionFeatures(weights='/path/to/file') or set {INCEPTION_ENV}=/path/to/file. "
            "Without them, use the bundled domain features (ClassifierFeatures)."
        )
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingFileError(f"InceptionV3 weights file {path} does not exist (from the argument or {INCEPTION_ENV})")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:  # pytorch-fid ships a torch file; weights_only refuses anything but tensors (no code runs)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DiffvizError(f"{path} is not a readable InceptionV3 state dict: {err}") from err


class InceptionFeatures(FeatureExtractor):
    """pytorch-fid's InceptionV3 pool3 features (2048-d): the standard FID feature space."""

    name = "inception-v3-pool3"
    dim = 2048
    image_size = 299

    def __init__(self, weights: str | Path | None = None, device=None):
        from pytorch_fid.inception import InceptionV3

        state = load_inception_state(weights)
        with _local_inception_weights(state):
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False, normalize_input=False,
                                use_fid_inception=True)
        super().__init__(model, device)

    def embed(self, x):
        return self.module(x)[0].flatten(1)  # pytorch-fid's InceptionV3 takes [-1, 1] with normalize_input=False


def iter_batches(images, batch_size: int, progress: bool, desc: str):
    n = len(images)
    for i in tqdm(range(0, n, batch_size), disable=not progress, desc=desc, leave=False):
        yield images[i:i + batch_size]


def extract_features(images, extractor: FeatureExtractor, batch_size: int = 256, progress: bool = False) -> torch.Tensor:
    return torch.cat([extractor(b) for b in iter_batches(images, batch_size, progress, extractor.name)])


def extract_stats(images, extractor: FeatureExtractor, batch_size: int = 256, progress: bool = False) -> RunningStats:
    stats = RunningStats(extractor.dim)
    for b in iter_batches(images, batch_size, progress, extractor.name):
        stats.update(extractor(b))
    return stats


def cache_dir() -> Path:
    return Path(os.environ.get("DIFFVIZ_CACHE", Path.home() / ".cache" / "diffviz")) / "stats"


def cached_reference_stats(dataset: str, images, extractor, *, batch_size: int = 256, directory: Path | None = None,
                           progress: bool = False) -> RunningStats:
    """Feature statistics of `images` with `extractor`, reused from disk when data and extractor match."""
    directory = Path(directory) if directory else cache_dir()
    key = f"{dataset}-n{len(images)}-{extractor.name}-{content_hash(images)}"
    file = directory / f"{key}.safetensors"
    if file.is_file():
        return RunningStats.from_arrays(load_file(str(file)))
    stats = extract_stats(images, extractor, batch_size=batch_size, progress=progress)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    save_file(stats.to_arrays(), str(tmp), metadata={"key": json.dumps(key)})
    tmp.replace(file)
    return stats
