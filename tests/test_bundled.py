"""The bundled, trained models load with the right parts and follow their conditions."""
import numpy as np
import pytest
import torch

import diffviz
from diffviz.models.registry import BUNDLED_DIR, bundled_names


@pytest.fixture(scope="module")
def shapes():
    assert "shapes" in bundled_names(), f"bundled shapes model missing in {BUNDLED_DIR}"
    return diffviz.load("shapes")


@pytest.fixture(scope="module")
def digits():
    assert "digits" in bundled_names(), f"bundled digits model missing in {BUNDLED_DIR}"
    return diffviz.load("digits")


def test_bundle_size_and_files():
    files = [p for p in BUNDLED_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 30e6, "bundled weights stay within 30 MB"
    assert not [p for p in files if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
    for name in ("shapes", "digits"):
        assert (BUNDLED_DIR / name / "MODEL_CARD.md").is_file()


def test_shapes_parts(shapes):
    assert shapes.kind == "text" and shapes.latent and shapes.sample_shape == (4, 8, 8)
    assert type(shapes.unet).__name__ == "UNet2DConditionModel" and type(shapes.vae).__name__ == "AutoencoderKL"
    assert type(shapes.conditioner.clip).__name__ == "CLIP" and shapes.classifier is not None
    assert shapes.unet.config.cross_attention_dim == shapes.conditioner.width


def test_digits_parts(digits):
    assert digits.kind == "class" and not digits.latent and digits.sample_shape == (1, 16, 16)
    assert digits.unet.config.num_class_embeds == 11 and digits.conditioner.null_class == 10


def colour_mean(images: np.ndarray) -> np.ndarray:
    """Mean colour of the pixels that differ most from the grey background."""
    x = images.astype(float)
    sat = x.max(-1) - x.min(-1)
    mask = sat > np.percentile(sat, 80, axis=(1, 2), keepdims=True)
    return np.stack([(x[i][mask[i]]).mean(0) for i in range(len(x))])


def test_shapes_follows_the_colour_in_the_prompt(shapes):
    red = shapes.sample(["a red circle"] * 6, steps=20, seed=0, decode_steps=False).final_images()
    blue = shapes.sample(["a blue circle"] * 6, steps=20, seed=0, decode_steps=False).final_images()
    r, b = colour_mean(red), colour_mean(blue)
    assert (r[:, 0] - r[:, 2]).mean() > (b[:, 0] - b[:, 2]).mean() + 40, "red prompts give redder images than blue ones"


def test_digits_follow_the_class(digits):
    labels = [0, 1, 7, 8] * 4
    images = digits.sample(labels, steps=20, seed=0).final_images()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().mean(1, keepdim=True) / 127.5 - 1
    with torch.no_grad():
        pred = digits.classifier(x)["digit"].argmax(1).numpy()
    assert (pred == np.array(labels)).mean() >= 0.6


def test_unknown_words_warn_but_generate(shapes):
    with pytest.warns(UserWarning, match="never seen in training: dodecahedron"):
        traj = shapes.sample(["a red dodecahedron"], steps=3, seed=0)
    assert traj.final_images().shape == (1, 32, 32, 3)
    empty = shapes.sample([""], steps=3, seed=0)  # the empty prompt is the unconditional input
    assert empty.final_images().shape == (1, 32, 32, 3)
