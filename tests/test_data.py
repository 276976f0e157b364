"""Data sets: deterministic shapes with a held-out split, real digits, local loaders."""
import numpy as np
import pytest
import torch
from PIL import Image

from diffviz.data import (ATTRIBUTES, HELDOUT_PAIRS, DigitsDataset, ImageFolderDataset, ShapesDataset,
                          TorchvisionDataset, generate_shapes, load_digits_tensor)
from diffviz.data.shapes import COLOURS, captions_zh, named_colour, vocabulary


def test_shapes_deterministic_and_seed_dependent():
    a, b, c = generate_shapes(64, seed=3), generate_shapes(64, seed=3), generate_shapes(64, seed=4)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (64, 3, 32, 32) and a.images.dtype == torch.uint8


def test_heldout_pairs_never_in_train_and_only_in_heldout():
    train = generate_shapes(3000, seed=0, split="train")
    held = generate_shapes(300, seed=0, split="heldout")
    pairs = lambda d: {(ATTRIBUTES["colour"][c], ATTRIBUTES["shape"][s]) for c, s in zip(d.labels["colour"].tolist(), d.labels["shape"].tolist())}
    assert not pairs(train) & set(HELDOUT_PAIRS)
    assert pairs(held) == set(HELDOUT_PAIRS)
    assert len(pairs(train)) == len(COLOURS) * 4 - len(HELDOUT_PAIRS)


def test_captions_name_the_attributes_and_vary():
    d = generate_shapes(500, seed=1, split="all")
    for cap, ci, si in zip(d.captions, d.labels["colour"].tolist(), d.labels["shape"].tolist()):
        assert ATTRIBUTES["colour"][ci] in cap and ATTRIBUTES["shape"][si] in cap
    short = sum(len(c.split()) <= 3 for c in d.captions)
    full = sum(any(p in c for p in ("left", "right", "centre")) for c in d.captions)
    assert short > 50 and full > 50, "both short prompts and full descriptions occur"
    assert set(w for c in d.captions for w in c.replace(",", " ").split()) <= set(vocabulary())


def test_shapes_pixels_show_the_colour():
    d = generate_shapes(200, seed=2, split="all")
    red = d.labels["colour"] == ATTRIBUTES["colour"].index("red")
    blue = d.labels["colour"] == ATTRIBUTES["colour"].index("blue")
    img = d.images.float()
    r_minus_b = img[:, 0] - img[:, 2]
    assert (r_minus_b[red].amax(dim=(1, 2)) > 100).all() and (r_minus_b[blue].amin(dim=(1, 2)) < -100).all()
    item = ShapesDataset(8, seed=0)[0]
    assert item["image"].min() >= -1 and item["image"].max() <= 1 and set(item["attributes"]) == set(ATTRIBUTES)


def test_a_caption_names_the_colour_its_picture_is_drawn_in():
    d = generate_shapes(300, seed=5, split="all")
    img = d.images.permute(0, 2, 3, 1).reshape(300, -1, 3).float()
    vivid = img[torch.arange(300), (img.amax(-1) - img.amin(-1)).argmax(1)]  # each picture's most saturated pixel
    palette = torch.tensor(list(COLOURS.values()), dtype=torch.float)
    drawn = [list(COLOURS)[int(i)] for i in torch.cdist(vivid, palette).argmin(1)]
    for english, chinese, ci, colour in zip(d.captions, captions_zh(d.labels, seed=5), d.labels["colour"].tolist(), drawn):
        want = "#{:02x}{:02x}{:02x}".format(*COLOURS[ATTRIBUTES["colour"][ci]])
        assert colour == ATTRIBUTES["colour"][ci], "the picture shows its colour label"
        assert named_colour(english) == named_colour(chinese) == want, (english, chinese)
    for text in ("a circle", "MSE", "a reddish circle", "a red circle beside a blue square", "红色和蓝色", ""):
        assert named_colour(text) is None, text


def test_digits_real_and_split():
    x, y = load_digits_tensor(16, "all")
    assert x.shape == (1797, 1, 16, 16) and set(y.tolist()) == set(range(10))
    tr, te = load_digits_tensor(16, "train")[1], load_digits_tensor(16, "test")[1]
    assert len(tr) + len(te) == 1797
    assert DigitsDataset(16, "test")[0]["image"].shape == (1, 16, 16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="allowed: train, heldout, all"):
        generate_shapes(4, split="valid")
    with pytest.raises(ValueError, match="size must be"):
        load_digits_tensor(12)


def test_image_folder_and_torchvision_offline(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    ds = ImageFolderDataset(tmp_path, size=32)
    assert len(ds) == 3 and ds[1]["image"].shape == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="cannot download"):
        TorchvisionDataset("CIFAR10", tmp_path)
    with pytest.raises(ValueError, match="no data set"):
        TorchvisionDataset("NoSuchSet", tmp_path)
