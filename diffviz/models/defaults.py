"""What a view or command starts from when not told: which model, which prompts, which conditions.

One home for these choices: the views (through `widgets.base.default_model`, which also shares one
loaded copy per process), `diffviz sample` / `fid` / `export`, the lecture export, the dashboards
and the benchmarks all ask here.
"""
from __future__ import annotations

DEFAULT_MODEL = "shapes"  # the lecture's model: text → image, latent
STAND_INS = {"shapes": "tiny-text", "digits": "tiny-class"}  # a tiny random model of the same kind, for a checkout
# without bundled weights (the views and commands still run; the pictures are noise)
EXAMPLE_PROMPTS = ("a red circle", "a big blue square at the top left", "a small yellow triangle",
                   "a green cross in the centre", "an orange circle at the bottom right")  # the shapes model's
EXAMPLE_CLASSES = 5  # a class model's first classes shown by default
# Given no model, a lecture in this language reads its prompts through this text encoder of the bundled model
# (same UNet and VAE): in Chinese, shapes' bilingual encoder, so "一个蓝色的正方形" draws a blue square. English
# keeps the CLIP text encoder chapter 4 explains (benchmarks/bilingual_default.py measured both ways).
LANGUAGE_TEXT_ENCODERS = {"zh": "bilingual"}
# The word maps' example seed (30 steps, w = 3): for "a big blue square at the top left" seed 2 draws a clean
# blue square (classified a square, 96 % of its bounding box filled); seed 0 draws a ragged blob the classifier
# calls a triangle (75 %). tests/test_examples.py computes it.
WORD_MAP_SEED = 2
WORD_MAP_STEPS = 30
COLOURS = ("red", "blue", "green", "yellow", "orange", "purple")  # the shapes model's colour words


def model_name(prefer: str | None = None) -> str:
    """The bundled model `prefer` (default: DEFAULT_MODEL); another bundled one where it is missing; with no
    bundled models, the tiny stand-in of `prefer`'s kind."""
    from .registry import bundled_names

    prefer = prefer or DEFAULT_MODEL
    names = bundled_names()
    if names:
        return prefer if prefer in names else names[0]
    return STAND_INS.get(prefer, STAND_INS[DEFAULT_MODEL])


def default_text_encoder(name: str, lang: str | None = None) -> str | None:
    """The text encoder to swap into the bundled model `name` for `lang` (default: the current language),
    or None: the model's own (no swap for this language, or the model has no such encoder)."""
    from ..i18n import language
    from .registry import BUNDLED_DIR, bundled_names

    encoder = LANGUAGE_TEXT_ENCODERS.get(lang or language())
    if encoder is None or name not in bundled_names() or not (BUNDLED_DIR / name / f"text_encoder_{encoder}").is_dir():
        return None
    return encoder


def load_default(prefer: str | None = None, device=None):
    """The model a view or command uses when given none: `model_name(prefer)`, read in the current language
    (in Chinese, shapes with its bilingual text encoder)."""
    from .registry import load

    name = model_name(prefer)
    return load(name, device=device, text_encoder=default_text_encoder(name))


def example_prompts(model=None, k: int | None = None) -> list[str]:
    """The model's own example prompts (model_index.json's "prompt_examples"), else EXAMPLE_PROMPTS; the first k."""
    meta = getattr(model, "meta", None) or {}
    prompts = list(meta.get("prompt_examples") or EXAMPLE_PROMPTS)
    return prompts[:k] if k is not None else prompts


def example_conditions(model, k: int) -> list | None:
    """k example conditions of the model's kind: prompts, its first classes (at most EXAMPLE_CLASSES), or None."""
    if model.kind == "text":
        return example_prompts(model, k)
    if model.kind == "class":
        return list(range(min(k, EXAMPLE_CLASSES, model.conditioner.num_classes)))
    return None


def word_map_prompt(model) -> str:
    """The word maps' example: the longest of the model's first three example prompts (a shape with a size and
    a position when it has one)."""
    return max(example_prompts(model)[:3], key=lambda p: len(p.split()))


def prompt_pair(model) -> tuple[str, str] | None:
    """Two prompts that differ in one word (the first example with its colour swapped); None for a model with no
    example prompts of its own."""
    examples = list(getattr(getattr(model, "info", None), "prompt_examples", None) or [])
    if not examples:
        return None
    first = examples[0]
    colours = [w for w in first.split() if w in COLOURS]
    other = next((c for c in ("blue", "green", "red") if c not in first.split()), None)
    return first, first.replace(colours[0], other, 1) if colours and other else first
