"""Each recipe learns on a tiny config; checkpoints resume and survive a crash mid-write."""
import json

import pytest
import torch

from diffviz.data.shapes import generate_shapes
from diffviz.diffusion.schedule import Schedule
from diffviz.models import builders
from diffviz.training import recipes
from diffviz.training.trainer import TrainConfig, Trainer

TINY_CLIP = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
                 text_cfg=dict(context_length=24, width=32, heads=2, layers=1))
TINY_VAE = dict(builders.SHAPES_VAE_CONFIG, block_out_channels=[8, 16, 16], norm_num_groups=4)
TINY_UNET = dict(builders.SHAPES_UNET_CONFIG, block_out_channels=[16, 32], norm_num_groups=8, attention_head_dim=8,
                 cross_attention_dim=32)
TINY_CLS = dict(builders.SHAPES_CLASSIFIER_CONFIG, width=8, feature_dim=16)


@pytest.fixture(scope="module")
def data():
    return generate_shapes(256, seed=0)


def falls(losses, k=5):
    return sum(losses[-k:]) / k < sum(losses[:k]) / k


def run(model, loss_fn, tmp_path, steps=30, lr=3e-3, **kw):
    t = Trainer(model, loss_fn, TrainConfig(steps=steps, lr=lr, warmup=1, checkpoint_every=10, device="cpu", **kw), tmp_path)
    return t, t.run(progress=False)


def test_clip_recipe_learns(data, tmp_path):
    model, loss_fn = recipes.clip_recipe(data, TINY_CLIP, 32, "cpu")
    assert falls(run(model, loss_fn, tmp_path)[1])


def test_vae_recipe_learns(data, tmp_path):
    model, loss_fn = recipes.vae_recipe(data, TINY_VAE, 16, "cpu")
    assert falls(run(model, loss_fn, tmp_path)[1])


def test_vae_decoder_recipe_keeps_the_encoder(data, tmp_path):
    vae = builders.build_vae(TINY_VAE)
    encoder = {k: v.clone() for k, v in vae.state_dict().items() if k.startswith(("encoder.", "quant_conv."))}
    decoder = {k: v.clone() for k, v in vae.state_dict().items() if k.startswith("decoder.")}
    model, loss_fn = recipes.vae_decoder_recipe(data, vae, 16, "cpu")
    assert falls(run(model, loss_fn, tmp_path)[1])
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in encoder.items()), "the latents a UNet learnt on must not move"
    assert any(not torch.equal(state[k], v) for k, v in decoder.items())


def test_classifier_recipe_learns(data, tmp_path):
    model, loss_fn = recipes.classifier_recipe(data.images, recipes.shapes_labels(data), TINY_CLS, 32, "cpu")
    assert falls(run(model, loss_fn, tmp_path)[1])


def test_text_unet_recipe_learns(data, tmp_path):
    vae, clip = builders.build_vae(TINY_VAE), builders.build_clip(TINY_CLIP)
    lat = recipes.encode_latents(data, vae, clip, builders.make_tokenizer(24), "cpu")
    assert lat.mean.shape == (256, 4, 8, 8) and lat.states.shape[1:] == (24, 32) and lat.latent_scale > 0
    model, loss_fn = recipes.text_unet_recipe(lat, TINY_UNET, Schedule.from_name("cosine"), 16, "cpu")
    assert falls(run(model, loss_fn, tmp_path, steps=40)[1])


def test_class_unet_recipe_learns(tmp_path):
    x, y = recipes.digits_data(16, "train")
    cfg = dict(builders.DIGITS_UNET_CONFIG, block_out_channels=[16, 16, 32], norm_num_groups=8)
    model, loss_fn = recipes.class_unet_recipe(x, y, cfg, Schedule.from_name("cosine"), 16, "cpu")
    assert falls(run(model, loss_fn, tmp_path, steps=40)[1])


def test_resume_continues_and_matches_uninterrupted(data, tmp_path):
    def make():
        torch.manual_seed(0)
        return recipes.classifier_recipe(data.images, recipes.shapes_labels(data), TINY_CLS, 8, "cpu")

    m1, f1 = make()
    full, _ = run(m1, f1, tmp_path / "a", steps=20)
    m2, f2 = make()
    run(m2, f2, tmp_path / "b", steps=10)  # "interrupted" after 10 steps
    m3, f3 = make()
    resumed, _ = run(m3, f3, tmp_path / "b", steps=20)
    assert json.loads((tmp_path / "b" / "checkpoint.json").read_text())["step"] == 20
    for k, v in m1.state_dict().items():
        assert torch.allclose(v, m3.state_dict()[k], atol=1e-5), k


def test_crash_mid_write_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    model, loss_fn = recipes.classifier_recipe(data.images, recipes.shapes_labels(data), TINY_CLS, 8, "cpu")
    trainer, _ = run(model, loss_fn, tmp_path, steps=10)
    good = (tmp_path / "checkpoint.safetensors").read_bytes()
    import diffviz.training.trainer as tr

    def crash(tensors, path, **kwargs):
        open(path, "wb").write(b"partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(tr, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == good
    assert Trainer(model, loss_fn, TrainConfig(steps=10, device="cpu"), tmp_path).load_checkpoint()


@pytest.mark.slow  # two short training runs through the CLI
def test_the_same_seed_reproduces_a_training_run_on_the_cpu(tmp_path):
    from safetensors.torch import load_file

    from diffviz.cli import main

    def weights(name, seed):
        argv = ["train", "digits", "--part", "unet", "--steps", "3", "--seed", str(seed), "--runs", str(tmp_path / name),
                "--device", "cpu"]
        assert main(argv) == 0
        return load_file(str(tmp_path / name / "digits" / "unet" / "checkpoint.safetensors"))

    a, b, c = weights("a", 5), weights("b", 5), weights("c", 6)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "same seed, same weights bit for bit"
    assert any(not torch.equal(a[k], c[k]) for k in a if k.startswith("model.")), "another seed, other weights"
