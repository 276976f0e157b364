"""MODEL_CARD.md for a bundled model: data, parts, training steps, how to reproduce, measured quality."""
from __future__ import annotations

import json
from pathlib import Path

from ..models.builders import count_parameters
from .recipes import DIGITS_PARTS, SHAPES_PARTS
from ..utils import atomic_write

DATA = {
    "shapes": ("60 000 procedural 32×32 images with captions (`diffviz.data.shapes`, seed 0): 6 colours × 4 shapes "
               "× 2 sizes × 5 positions on graded grey backgrounds; captions vary from \"a red circle\" to "
               "\"at the top left there is a big blue cross\". Held out of training: {heldout}."),
    "digits": "scikit-learn's handwritten digits (1 797 real 8×8 images), upsampled to 16×16; 80 % train split (seed 0).",
}
TARGETS = {"adherence_seen": ">= 0.90", "adherence_heldout": ">= 0.70", "clip_top1": ">= 0.98", "vae_psnr_db": ">= 32",
           "class_accuracy": ">= 0.95", "fid": "<= 3x fid_floor"}


def _guidance_lines(model) -> list[str]:
    if model.kind == "uncond":
        return []
    lo, hi = model.guidance_range
    return [f"Classifier-free guidance: default w = {model.default_guidance:g}; tuned for w = {lo:g}–{hi:g} "
            "(`guidance_range`; outside it the views warn: below, the condition is followed weakly; above, colours "
            "saturate and images degrade).", ""]


def write_model_card(model, folder: str | Path, quality: dict | None = None) -> Path:
    folder = Path(folder)
    name = model.name
    heldout = ", ".join(f"{c} {s}" for c, s in model.info.heldout_pairs)
    lines = [f"# diffviz bundled model: `{name}`", "",
             f"Load with `diffviz.load(\"{name}\")`. Kind: {model.kind} · "
             f"{'latent' if model.latent else 'pixel'} space · sample shape {model.sample_shape}.", "",
             "## Data", "", DATA.get(name, "").format(heldout=heldout), "", "## Parts (trained separately)", "",
             "| part | class | parameters | training steps |", "| --- | --- | --- | --- |"]
    steps = model.info.training_steps
    vae_steps = steps.get("vae")
    if vae_steps and steps.get("decoder"):
        vae_steps = f"{vae_steps} + {steps['decoder']} decoder-only fine-tune"
    part_steps = {"unet": steps.get("unet"), "vae": vae_steps, "conditioner": steps.get("clip"),
                  "classifier": steps.get("classifier")}
    schedule = SHAPES_PARTS if name == "shapes" else DIGITS_PARTS if name == "digits" else {}
    short = [f"{part} {steps[part]:,} of {spec[0]:,}".replace(",", " ") for part, spec in schedule.items()
             if steps.get(part) is not None and steps[part] < spec[0]]
    for part, module in model.modules().items():
        cls = type(module.clip if part == "conditioner" and hasattr(module, "clip") else module).__name__
        lines.append(f"| {part} | {cls} | {count_parameters(module) / 1e6:.2f} M | {part_steps.get(part) or '—'} |")
    lines += ["", "Noise schedule: `squaredcos_cap_v2`, 1 000 training steps, ε-prediction; 10 % condition dropout "
              "for classifier-free guidance; EMA (0.999) weights for the denoiser; weights stored as fp16 safetensors.",
              ""] + _guidance_lines(model) + [
              "## Reproduce", "", "```bash", f"diffviz train {name} --device cuda --out {name}   # or cpu (resumable: re-run to continue)",
              "```", "", "Each part trains in `runs/<model>/<part>/` with resumable checkpoints; the command assembles "
              "this folder at the end. "
              + ("The decoder is fine-tuned with the encoder frozen (as Stable Diffusion's ft-MSE VAE was), so the "
                 "UNet's latents do not move while reconstructions sharpen. " if "decoder" in steps else "")
              + (f"Parts shipped as time-capped CPU runs (2 cores, `--minutes`), stopped short of the full schedule: "
                 f"{'; '.join(short)} steps. Re-running the command resumes them." if short else
                 "Every part ran its full schedule."), ""]
    if quality:
        lines += ["## Measured quality", "", "`diffviz evaluate` (benchmarks/model_quality.py; DDIM, 50 steps, default guidance, fixed seeds):", "",
                  "| measure | value | target |", "| --- | --- | --- |"]
        for k, v in quality.items():
            lines.append(f"| {k} | {v:.4g} | {TARGETS.get(k, '')} |" if isinstance(v, float) else f"| {k} | {v} | |")
        lines.append("")
    path = folder / "MODEL_CARD.md"
    atomic_write(path, "\n".join(lines))
    atomic_write(folder / "quality.json", json.dumps(quality or {}, indent=2))
    return path
