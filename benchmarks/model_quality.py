"""Quality of the bundled models, judged independently of CLIP by the domain classifiers.

Prints (DDIM, 50 steps, default guidance, fixed seeds):
- shapes prompt adherence: fraction of images whose colour AND shape (classifier) match the prompt,
  seen and held-out colour–shape pairs apart (targets ≥ 0.90 seen, ≥ 0.70 held-out);
- digits class accuracy by the digits classifier (target ≥ 0.95);
- FID on the domain features, generated vs real, beside real vs real at the same N (target ≤ 3× floor),
  and KID, both from `diffviz.metrics.model_fid`;
- tiny CLIP top-1 caption retrieval (colour + shape) on fresh images (target ≥ 0.98);
- VAE reconstruction PSNR on fresh images (target ≥ 32 dB).

    .venv/bin/python benchmarks/model_quality.py [--per-pair 8] [--fid-n 256] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import diffviz
from diffviz.data.digits import load_digits_tensor
from diffviz.data.shapes import ATTRIBUTES, HELDOUT_PAIRS, generate_shapes
from diffviz.metrics import ClipScorer, model_fid


def to_float(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def classify(model, images_u8: np.ndarray) -> dict[str, np.ndarray]:
    x = to_float(images_u8)
    if model.classifier.in_channels == 1:
        x = x.mean(1, keepdim=True)
    return {k: v.argmax(1).numpy() for k, v in model.classifier(x).items()}


def generate(model, conds, steps, seed, batch=64, guidance=None):
    out = []
    for i in range(0, len(conds), batch):
        out.append(model.sample(conds[i:i + batch], steps=steps, seed=seed + i, guidance=guidance,
                                decode_steps=False).final_images())
    return np.concatenate(out)


def fid_report(model, args) -> dict:
    """FID on the domain features (metrics.model_fid): generated vs real and real vs real at the same N."""
    r = model_fid(model, args.fid_n, steps=args.steps, batch_size=64, seed=args.seed + 1000, curve=False)
    return {"fid": r.fid, "fid_floor": r.floor, "fid_floor_std": r.floor_std, "kid": r.kid.mean, "kid_std": r.kid.std,
            "fid_n": r.n}


def timed_load(name: str):
    t0 = time.perf_counter()
    model = diffviz.load(name, device="cpu")
    return model, round(time.perf_counter() - t0, 2)


def shapes_report(args) -> dict:
    model, load_s = timed_load("shapes")
    colours, shapes = ATTRIBUTES["colour"], ATTRIBUTES["shape"]
    pairs = [(c, s) for c in colours for s in shapes]
    prompts = [f"a {c} {s}".replace("a orange", "an orange") for c, s in pairs for _ in range(args.per_pair)]
    t0 = time.time()
    images = generate(model, prompts, args.steps, args.seed)
    pred = classify(model, images)
    want_c = np.repeat([colours.index(c) for c, _ in pairs], args.per_pair)
    want_s = np.repeat([shapes.index(s) for _, s in pairs], args.per_pair)
    ok = (pred["colour"] == want_c) & (pred["shape"] == want_s)
    held = np.repeat([(c, s) in HELDOUT_PAIRS for c, s in pairs], args.per_pair)
    report = {"adherence_seen": float(ok[~held].mean()), "adherence_heldout": float(ok[held].mean()),
              "colour_right": float((pred["colour"] == want_c).mean()), "shape_right": float((pred["shape"] == want_s).mean()),
              "images": len(prompts), "generation_s": round(time.time() - t0, 1), "load_s": load_s}
    report.update(fid_report(model, args))
    # tiny CLIP retrieval among the 24 colour+shape captions, on fresh images
    fresh = generate_shapes(args.clip_n, seed=31, split="all")
    scorer = ClipScorer.from_model(model)
    captions = [f"a {c} {s}" for c, s in pairs]
    sim = scorer.similarity(fresh.images.permute(0, 2, 3, 1).numpy(), captions)
    truth = fresh.labels["colour"].numpy() * len(shapes) + fresh.labels["shape"].numpy()
    report["clip_top1"] = float((sim.argmax(1) == truth).mean())
    # VAE reconstruction PSNR on fresh images
    x = fresh.images.float() / 127.5 - 1
    with torch.no_grad():
        recon = model.decode_latents(model.encode_images(x)).cpu()
    mse = ((recon - x) ** 2).mean(dim=(1, 2, 3))
    report["vae_psnr_db"] = float((10 * torch.log10(4.0 / mse)).mean())
    return report


def digits_report(args) -> dict:
    model, load_s = timed_load("digits")
    labels = [d for d in range(10) for _ in range(args.per_class)]
    images = generate(model, labels, args.steps, args.seed)
    pred = classify(model, images)["digit"]
    x, y = load_digits_tensor(16, "test")
    with torch.no_grad():
        test_acc = float((model.classifier(x)["digit"].argmax(1) == y).float().mean())
    by_guidance = {}
    for w in args.digits_guidance:  # the same seeds at other guidance scales: too much guidance hurts
        other = generate(model, labels, args.steps, args.seed, guidance=w)
        by_guidance[f"class_accuracy_w{w:g}"] = float((classify(model, other)["digit"] == np.array(labels)).mean())
    return {"class_accuracy": float((pred == np.array(labels)).mean()), "guidance": model.default_guidance, **by_guidance,
            "classifier_test_accuracy": test_acc,
            **fid_report(model, args), "images": len(labels), "load_s": load_s}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-pair", type=int, default=8)
    p.add_argument("--per-class", type=int, default=30)
    p.add_argument("--fid-n", type=int, default=256)
    p.add_argument("--clip-n", type=int, default=500)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--digits-guidance", type=float, nargs="*", default=[0.0, 1.0, 3.0],
                   help="also report digits class accuracy at these guidance scales")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="*", default=["shapes", "digits"], help="which bundled models to measure")
    p.add_argument("--json", default=None)
    p.add_argument("--write-cards", action="store_true", help="write the figures into each bundled MODEL_CARD.md")
    args = p.parse_args()
    names = [n for n in diffviz.models.registry.bundled_names() if n in args.models]
    out = {}
    if "shapes" in names:
        out["shapes"] = shapes_report(args)
    if "digits" in names:
        out["digits"] = digits_report(args)
    for name, rep in out.items():
        print(f"[{name}]")
        for k, v in rep.items():
            print(f"  {k:26s} {v:.4f}" if isinstance(v, float) else f"  {k:26s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    if args.write_cards:
        from diffviz.models.registry import BUNDLED_DIR
        from diffviz.training.card import write_model_card

        for name, rep in out.items():
            write_model_card(diffviz.load(name), BUNDLED_DIR / name, rep)


if __name__ == "__main__":
    main()
