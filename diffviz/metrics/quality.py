"""How good is a bundled model? The measures its model card cites, judged apart from CLIP by the
domain classifiers (`diffviz evaluate`, `python -m diffviz.metrics.quality`, benchmarks/model_quality.py).

- shapes: prompt adherence (colour AND shape right), seen and held-out colour–shape pairs apart;
  tiny-CLIP top-1 caption retrieval on fresh images; VAE reconstruction PSNR;
- digits: class accuracy at the default guidance and at other scales (too much guidance hurts);
- both: FID on the domain features beside the real-vs-real floor at the same N, and KID (`model_fid`);
- shapes-bilingual (`load("shapes", text_encoder="bilingual")`): the same adherence for Chinese prompts
  ("一个红色的圆"; and varied phrasings with size and position) and for English ones, seen and held-out
  pairs apart (`bilingual_quality`).
Everything is seeded: the same settings give the same figures.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..utils import to_unit
from ..data.digits import load_digits_tensor
from ..data.shapes import ATTRIBUTES, HELDOUT_PAIRS, TEMPLATES_ZH, caption_for, caption_zh, generate_shapes
from .clip_score import ClipScorer
from ..errors import DiffvizError
from .fid import model_fid


@dataclass
class QualitySettings:
    per_pair: int = 8          # shapes images per colour–shape pair
    per_class: int = 30        # digits images per class
    fid_n: int = 256
    clip_n: int = 500
    steps: int = 50
    seed: int = 0
    digits_guidance: tuple[float, ...] = (0.0, 1.0, 3.0)

    @classmethod
    def quick(cls) -> "QualitySettings":
        """A few minutes on a laptop CPU: rough figures, same measures."""
        return cls(per_pair=2, per_class=6, fid_n=64, clip_n=120, steps=20, digits_guidance=())


def generate(model, conds, steps: int, seed: int, batch: int = 64, guidance=None, bar=None) -> np.ndarray:
    """Final images for `conds` in batches (batch at i seeded by seed + i); `bar` (tqdm) counts the images."""
    out = []
    for i in range(0, len(conds), batch):
        out.append(model.sample(conds[i:i + batch], steps=steps, seed=seed + i, guidance=guidance,
                                decode_steps=False).final_images())
        if bar is not None:
            bar.update(len(out[-1]))
    return np.concatenate(out)


def fid_figures(model, s: QualitySettings, bar=None) -> dict:
    batch = 64
    done = [0]

    def tick(batches_done: int, _total: int) -> None:
        now = min(batches_done * batch, s.fid_n)
        if bar is not None:
            bar.update(now - done[0])
        done[0] = now

    r = model_fid(model, s.fid_n, steps=s.steps, batch_size=batch, seed=s.seed + 1000, curve=False, progress=tick)
    return {"fid": r.fid, "fid_floor": r.floor, "fid_floor_std": r.floor_std, "kid": r.kid.mean, "kid_std": r.kid.std,
            "fid_n": r.n}


def shapes_quality(model, s: QualitySettings, bar=None) -> dict:
    colours, shapes = ATTRIBUTES["colour"], ATTRIBUTES["shape"]
    pairs = [(c, sh) for c in colours for sh in shapes]
    prompts = [f"a {c} {sh}".replace("a orange", "an orange") for c, sh in pairs for _ in range(s.per_pair)]
    t0 = time.time()
    pred = model.classify(generate(model, prompts, s.steps, s.seed, bar=bar))
    want_c = np.repeat([colours.index(c) for c, _ in pairs], s.per_pair)
    want_s = np.repeat([shapes.index(sh) for _, sh in pairs], s.per_pair)
    ok = (pred["colour"] == want_c) & (pred["shape"] == want_s)
    held = np.repeat([(c, sh) in HELDOUT_PAIRS for c, sh in pairs], s.per_pair)
    report = {"adherence_seen": float(ok[~held].mean()), "adherence_heldout": float(ok[held].mean()),
              "colour_right": float((pred["colour"] == want_c).mean()), "shape_right": float((pred["shape"] == want_s).mean()),
              "images": len(prompts), "generation_s": round(time.time() - t0, 1)}
    report.update(fid_figures(model, s, bar))
    fresh = generate_shapes(s.clip_n, seed=31, split="all")  # tiny CLIP retrieval among the 24 captions
    captions = [f"a {c} {sh}" for c, sh in pairs]
    sim = ClipScorer.from_model(model).similarity(fresh.images.permute(0, 2, 3, 1).numpy(), captions)
    truth = fresh.labels["colour"].numpy() * len(shapes) + fresh.labels["shape"].numpy()
    report["clip_top1"] = float((sim.argmax(1) == truth).mean())
    report["vae_psnr_db"] = reconstruction_psnr(model, to_unit(fresh.images))
    return report


@torch.no_grad()
def reconstruction_psnr(model, x: torch.Tensor) -> float:
    """Mean PSNR (dB) of the VAE's encode → decode round trip on images in [-1, 1] (peak-to-peak 2)."""
    recon = model.decode_latents(model.encode_images(x)).cpu()
    mse = ((recon - x) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return float((10 * torch.log10(4.0 / mse)).mean())


def digits_quality(model, s: QualitySettings, bar=None) -> dict:
    labels = [d for d in range(10) for _ in range(s.per_class)]
    pred = model.classify(generate(model, labels, s.steps, s.seed, bar=bar))["digit"]
    x, y = load_digits_tensor(16, "test")
    with torch.no_grad():
        test_acc = float((model.classifier(x)["digit"].argmax(1) == y).float().mean())
    by_guidance = {}
    for w in s.digits_guidance:  # the same seeds at other guidance scales: too much guidance hurts
        other = model.classify(generate(model, labels, s.steps, s.seed, guidance=w, bar=bar))["digit"]
        by_guidance[f"class_accuracy_w{w:g}"] = float((other == np.array(labels)).mean())
    return {"class_accuracy": float((pred == np.array(labels)).mean()), "guidance": model.default_guidance, **by_guidance,
            "classifier_test_accuracy": test_acc, **fid_figures(model, s, bar), "images": len(labels)}


def language_prompts(pairs, per_pair: int, language: str, seed: int = 0) -> list[str]:
    """per_pair prompts for each (colour, shape): "en" "a red circle"; "zh" "一个红色的圆"; "zh_varied" every
    Chinese template and word variant in turn, with sizes and positions drawn from `seed`."""
    if language not in ("en", "zh", "zh_varied"):
        raise ValueError(f"unknown language {language!r}; allowed: en, zh, zh_varied")
    rng = np.random.default_rng(seed)
    out = []
    for c, sh in pairs:
        for i in range(per_pair):
            attrs = {"colour": c, "shape": sh, "size": ATTRIBUTES["size"][rng.integers(2)],
                     "position": ATTRIBUTES["position"][rng.integers(5)]}
            if language == "en":
                out.append(caption_for(attrs, 0))
            elif language == "zh":
                out.append(caption_zh(attrs, 0))
            else:
                k = len(out)
                out.append(caption_zh(attrs, k % len(TEMPLATES_ZH), (k // len(TEMPLATES_ZH)) % 6))
    return out


def prompt_adherence(model, prompts: list[str], pairs, per_pair: int, s: QualitySettings, bar=None) -> dict:
    """Share of images whose colour AND shape (domain classifier) are the prompt's, seen and held-out pairs apart."""
    colours, shapes = ATTRIBUTES["colour"], ATTRIBUTES["shape"]
    pred = model.classify(generate(model, prompts, s.steps, s.seed, bar=bar))
    want_c = np.repeat([colours.index(c) for c, _ in pairs], per_pair)
    want_s = np.repeat([shapes.index(sh) for _, sh in pairs], per_pair)
    ok = (pred["colour"] == want_c) & (pred["shape"] == want_s)
    held = np.repeat([(c, sh) in HELDOUT_PAIRS for c, sh in pairs], per_pair)
    return {"adherence_seen": float(ok[~held].mean()), "adherence_heldout": float(ok[held].mean())}


BILINGUAL_LANGUAGES = ("zh", "zh_varied", "en")


def bilingual_quality(model, s: QualitySettings, bar=None, languages=BILINGUAL_LANGUAGES) -> dict:
    """Prompt adherence per language for a model with a bilingual text encoder (same seeds and settings as
    `shapes_quality`'s: DDIM, `s.steps` steps, default guidance, `s.per_pair` images per colour–shape pair)."""
    pairs = [(c, sh) for c in ATTRIBUTES["colour"] for sh in ATTRIBUTES["shape"]]
    report = {}
    t0 = time.time()
    for lang in languages:
        prompts = language_prompts(pairs, s.per_pair, lang, s.seed)
        report.update({f"{lang}_{k}": v for k, v in prompt_adherence(model, prompts, pairs, s.per_pair, s, bar).items()})
    report.update(images=len(pairs) * s.per_pair * len(languages), steps=s.steps, generation_s=round(time.time() - t0, 1))
    return report


MEASURES = {"shapes": shapes_quality, "digits": digits_quality}  # by the data set the model records
PAIRS = len(ATTRIBUTES["colour"]) * len(ATTRIBUTES["shape"])
PLANNED_IMAGES = {  # images each measure generates (what its progress bar counts)
    shapes_quality: lambda s: PAIRS * s.per_pair + s.fid_n,
    digits_quality: lambda s: 10 * s.per_class * (1 + len(s.digits_guidance)) + s.fid_n,
    bilingual_quality: lambda s: PAIRS * s.per_pair * len(BILINGUAL_LANGUAGES),
}


def model_quality(model, settings: QualitySettings | None = None, progress: bool = False) -> dict:
    """The figures a model card cites, measured now, by the data set the model records (`model`: a bundled
    name "shapes" or "digits", "shapes-bilingual": shapes with its bilingual text encoder swapped in, a
    model folder, or a loaded model). progress: a bar on stderr over the images to generate, with the
    time left."""
    from ..data.domain import model_dataset
    from ..models.registry import load

    t0 = time.perf_counter()
    measure = None
    if model == "shapes-bilingual":
        model, measure = load("shapes", device="cpu", text_encoder="bilingual"), bilingual_quality
    elif isinstance(model, (str, Path)):
        model = load(model, device="cpu")
    load_s = round(time.perf_counter() - t0, 2)
    if measure is None:
        data = model_dataset(model, "evaluate")
        if data.name not in MEASURES:
            raise DiffvizError(f"no quality measures for the {data.name} data set; allowed: {', '.join(MEASURES)}")
        measure = MEASURES[data.name]
    settings = settings or QualitySettings()
    with tqdm(total=PLANNED_IMAGES[measure](settings), unit="img", desc=f"evaluate {model.name}", disable=not progress,
              dynamic_ncols=True) as bar:
        return {**measure(model, settings, bar), "load_s": load_s}


def format_report(reports: dict[str, dict]) -> str:
    lines = []
    for name, rep in reports.items():
        lines.append(f"[{name}]")
        lines += [f"  {k:26s} {v:.4f}" if isinstance(v, float) else f"  {k:26s} {v}" for k, v in rep.items()]
    return "\n".join(lines)
