"""Should shapes' bilingual text encoder be the default everywhere, or only in the Chinese lecture?

Measures, on the bundled shapes model (DDIM, default guidance, the same seeds for both encoders):
- Chinese prompts: colour AND shape right (domain classifier) with the English CLIP text encoder (what a
  zh-mode view got before issue 23) and with the bilingual encoder (what it gets now);
- English prompts: the same adherence through both encoders;
- how often the two encoders' pictures for one English prompt and seed get the same colour and shape,
  and their mean pixel difference (switching the default everywhere would change every English example);
- text-encoding time per prompt.

    python benchmarks/bilingual_default.py [--n 8] [--steps 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import diffviz
from diffviz.errors import DiffvizError
from diffviz.data.shapes import ATTRIBUTES

ZH = {"一个蓝色的正方形": ("blue", "square"), "一个红色的圆": ("red", "circle"), "一个大的绿色三角形": ("green", "triangle"),
      "右下角有一个橙色的十字": ("orange", "cross")}
EN = {"a blue square": ("blue", "square"), "a red circle": ("red", "circle"), "a big green triangle": ("green", "triangle"),
      "an orange cross at the bottom right": ("orange", "cross"), "a small yellow circle": ("yellow", "circle"),
      "a purple square at the top left": ("purple", "square")}


def adherence(model, prompt, want, n, steps):
    """(fraction right or None when the encoder refuses the prompt, the pictures, the classifier's predictions)."""
    try:
        imgs = model.sample([prompt] * n, steps=steps, seed=0, decode_steps=False).final_images()
    except DiffvizError:  # the English encoder's byte tokens: a longer Chinese prompt is too long for it
        return None, None, None
    pred = model.classify(imgs)
    ok = (pred["colour"] == ATTRIBUTES["colour"].index(want[0])) & (pred["shape"] == ATTRIBUTES["shape"].index(want[1]))
    return float(ok.mean()), imgs, pred


def encode_ms(model, prompts, repeat=20):
    start = time.perf_counter()
    for _ in range(repeat):
        model.conditioner.encode(prompts)
    return (time.perf_counter() - start) / repeat / len(prompts) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="images per prompt (default 8)")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    english, both = diffviz.load("shapes", device="cpu"), diffviz.load("shapes", device="cpu", text_encoder="bilingual")
    rows = {}
    for lang, table in (("zh", ZH), ("en", EN)):
        for name, model in (("English encoder", english), ("bilingual encoder", both)):
            rows[lang, name] = {p: adherence(model, p, want, args.n, args.steps) for p, want in table.items()}
    print(f"shapes, DDIM {args.steps} steps, default guidance, {args.n} images per prompt, seed 0\n")
    for (lang, name), got in rows.items():
        mean = np.mean([0.0 if ok is None else ok for ok, _, _ in got.values()])
        detail = ", ".join(f"{p} {'refused' if ok is None else f'{ok:.2f}'}" for p, (ok, _, _) in got.items())
        print(f"{lang} prompts, {name:17s}: colour and shape right {mean:.2f} (a refused prompt counts 0)   ({detail})")
    a, b = rows["en", "English encoder"], rows["en", "bilingual encoder"]
    same = np.mean([(a[p][2]["colour"] == b[p][2]["colour"]) & (a[p][2]["shape"] == b[p][2]["shape"]) for p in EN])
    diff = np.mean([np.abs(a[p][1].astype(float) - b[p][1].astype(float)).mean() for p in EN])
    print(f"\nEnglish prompts, same seed, the two encoders: same colour and shape in {same:.2f} of pictures; "
          f"mean |pixel difference| {diff:.1f}/255")
    print(f"text encoding per prompt: English {encode_ms(english, list(EN)):.2f} ms, "
          f"bilingual {encode_ms(both, list(EN)):.2f} ms")


if __name__ == "__main__":
    main()
