"""Parts own their configs: every part round-trips through its own save_pretrained / from_pretrained, a model
folder names each part's class, a checkpoint rebuilds its model, and training resumes exactly (EMAModel, LambdaLR)."""
import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

import diffviz
from diffviz.data.shapes import generate_shapes
from diffviz.errors import FileFormatError
from diffviz.models import io
from diffviz.models.builders import DIGITS_CLASSIFIER_CONFIG, DomainClassifier, build_classifier
from diffviz.models.conditioning import TextConditioner
from diffviz.models.info import ModelInfo
from diffviz.models.part import PART_CLASSES, load_part
from diffviz.models.tiny import TINY_CLIP_CONFIG, TINY_WORDS
from diffviz.models.upgrade import upgrade_model_folder
from diffviz.diffusion.schedule import Schedule
from diffviz.training import recipes
from diffviz.training.trainer import META_KEY, TrainConfig, Trainer, checkpoint_spec, model_from_checkpoint

TINY_CLS = dict(DIGITS_CLASSIFIER_CONFIG, width=8, feature_dim=16, classes={"digit": [str(i) for i in range(10)]})


def test_hand_built_text_model_saves_and_loads_back_with_identical_samples(text_model, tmp_path):
    folder = text_model.save_pretrained(tmp_path / "m", dtype=torch.float32)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["text_encoder"] == ["diffviz", "TextConditioner"] and index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"] and "clip" not in index and "clip_config" not in index
    cfg = json.loads((folder / "text_encoder" / "config.json").read_text())
    assert cfg["_class_name"] == "TextConditioner" and cfg["clip_config"]["text_cfg"]["width"] == 32
    back = diffviz.load(folder)
    assert back.info == text_model.info
    a = text_model.sample(["a red circle", "a big blue square"], steps=4, seed=1)
    b = back.sample(["a red circle", "a big blue square"], steps=4, seed=1)
    assert torch.equal(a.final, b.final) and torch.equal(a.x_t, b.x_t)
    assert back.conditioner.known_words == text_model.conditioner.known_words


def test_a_classifier_is_kept_through_save_and_load(class_model, tmp_path):
    model = copy.copy(class_model)
    torch.manual_seed(0)
    model.classifier = build_classifier(TINY_CLS).eval()
    back = diffviz.load(model.save_pretrained(tmp_path / "m", dtype=torch.float32))
    assert isinstance(back.classifier, DomainClassifier) and back.classifier.classes == TINY_CLS["classes"]
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(back.classifier(x)["digit"], model.classifier(x)["digit"])
    assert json.loads((tmp_path / "m" / "model_index.json").read_text())["classifier"] == ["diffviz", "DomainClassifier"]


def test_each_part_round_trips_alone_and_a_wrong_folder_says_what_it_is(tmp_path):
    torch.manual_seed(0)
    enc = TextConditioner(TINY_CLIP_CONFIG, context_length=16, known_words=TINY_WORDS)
    enc.save_pretrained(tmp_path / "enc")
    back = TextConditioner.from_pretrained(tmp_path / "enc")
    with torch.no_grad():
        assert torch.equal(back.encode(["a red circle", ""]), enc.encode(["a red circle", ""]))
    assert type(load_part(tmp_path / "enc")) is TextConditioner, "config.json names the class"
    with pytest.raises(io.ModelFolderError, match="describes a 'TextConditioner', not a domain classifier"):
        DomainClassifier.from_pretrained(tmp_path / "enc")
    cfg = json.loads((tmp_path / "enc" / "config.json").read_text())
    (tmp_path / "enc" / "config.json").write_text(json.dumps(dict(cfg, _class_name="os.system")))
    with pytest.raises(io.ModelFolderError, match="unknown part class"):
        load_part(tmp_path / "enc")
    assert "TextConditioner" in PART_CLASSES and "UNet2DModel" in PART_CLASSES


def test_an_older_folder_loads_and_upgrades_without_touching_its_weights(text_model, tmp_path):
    """The layout before parts owned their configs: text_encoder/{config.json with "clip", model.safetensors with the
    CLIP's own tensor names}, no part classes in model_index.json."""
    folder = text_model.save_pretrained(tmp_path / "m", dtype=torch.float32)
    te = folder / "text_encoder"
    cfg = json.loads((te / "config.json").read_text())
    state = {k[len("clip."):]: v for k, v in load_file(str(te / "diffusion_pytorch_model.safetensors")).items()}
    (te / "diffusion_pytorch_model.safetensors").unlink()
    save_file(state, str(te / "model.safetensors"))
    (te / "config.json").write_text(json.dumps({"clip": cfg["clip_config"], "context_length": 16, "known_words": TINY_WORDS}))
    index = json.loads((folder / "model_index.json").read_text())
    for k in ("unet", "vae", "text_encoder", "scheduler"):
        del index[k]
    (folder / "model_index.json").write_text(json.dumps(dict(index, version=1, clip_config=cfg["clip_config"])))
    want = text_model.sample("a red circle", steps=3).final
    assert torch.equal(diffviz.load(folder).sample("a red circle", steps=3).final, want)
    weights = (te / "model.safetensors").read_bytes()
    assert upgrade_model_folder(folder) == ["text_encoder"]
    assert (te / "diffusion_pytorch_model.safetensors").read_bytes() == weights, "renamed, not rewritten"
    assert json.loads((te / "config.json").read_text())["_class_name"] == "TextConditioner"
    assert torch.equal(diffviz.load(folder).sample("a red circle", steps=3).final, want)


def test_model_info_is_typed_and_keeps_what_it_does_not_name(class_model, tmp_path):
    model = copy.copy(class_model)
    model.info = class_model.info.replace(guidance_range=(1.0, 2.5), extra={"course": "ML 2023"})
    back = diffviz.load(model.save_pretrained(tmp_path / "m"))
    assert back.info.guidance_range == [1.0, 2.5] and back.guidance_range == (1.0, 2.5)
    assert back.info.extra == {"course": "ML 2023"} and back.meta["course"] == "ML 2023" and back.info.dataset == "digits"
    assert back.meta["kind"] == "class" and back.class_names == [str(i) for i in range(10)]
    info = ModelInfo.from_dict({"name": "x", "image_size": 8, "unet": ["diffusers", "UNet2DModel"], "format": "diffviz"})
    assert info.name == "x" and info.image_size == 8 and info.extra == {}


# ---- training --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return recipes.digits_data(16, "train")


TINY_UNET = dict(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=[8, 16],
                 down_block_types=["DownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "UpBlock2D"],
                 norm_num_groups=4, num_class_embeds=11)


def unet_run(digits, out, steps, cfg=TINY_UNET):
    torch.manual_seed(0)
    model, loss_fn = recipes.class_unet_recipe(*digits, cfg, Schedule.from_name("cosine"), 4, "cpu")
    t = Trainer(model, loss_fn, TrainConfig(steps=steps, lr=2e-3, warmup=8, ema_decay=0.9, checkpoint_every=100,
                                            device="cpu"), out)
    t.run(progress=False)
    return t


def test_ema_resume_equals_an_uninterrupted_run(digits, tmp_path):
    full = unet_run(digits, tmp_path / "a", 6)
    unet_run(digits, tmp_path / "b", 3)  # "interrupted" after 3 steps
    resumed = unet_run(digits, tmp_path / "b", 6)
    assert resumed.ema.optimization_step == full.ema.optimization_step == 6
    for k, v in full.ema_state_dict().items():
        assert torch.allclose(v, resumed.ema_state_dict()[k], atol=1e-6), k
    assert not torch.equal(full.ema_state_dict()["conv_in.weight"], full.model.state_dict()["conv_in.weight"])
    lr = resumed.lr_scheduler.get_last_lr()[0]
    assert lr == pytest.approx(2e-3 * 7 / 8), "the warm-up continues across the resume" and lr == pytest.approx(full.lr_scheduler.get_last_lr()[0])


def test_a_checkpoint_alone_rebuilds_its_model(digits, tmp_path):
    t = unet_run(digits, tmp_path, 3)
    spec = checkpoint_spec(tmp_path / "checkpoint.safetensors")
    assert spec["class"] == "UNet2DModel" and spec["config"]["block_out_channels"] == [8, 16]
    model = model_from_checkpoint(tmp_path / "checkpoint.safetensors")
    assert type(model).__name__ == "UNet2DModel"
    for k, v in t.ema_state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # a changed constant cannot silently meet the old weights: resuming with another config says so
    other = dict(TINY_UNET, block_out_channels=[8, 8])
    with pytest.raises(FileFormatError, match="built differently.*block_out_channels"):
        unet_run(digits, tmp_path, 6, cfg=other)


def test_a_checkpoint_written_before_configs_were_stored_still_resumes(tmp_path):
    """Older checkpoints: no model spec, no EMA step, and the text encoder's tensors named as open_clip's CLIP names
    them (the part was a bare CLIP then)."""
    data = generate_shapes(64, seed=0)
    clip_cfg = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
                    text_cfg=dict(context_length=24, width=32, heads=2, layers=1))

    def make(out, steps):
        torch.manual_seed(0)
        model, loss_fn = recipes.clip_recipe(data, clip_cfg, 8, "cpu")
        return Trainer(model, loss_fn, TrainConfig(steps=steps, lr=1e-3, warmup=2, ema_decay=0.9, checkpoint_every=100,
                                                   device="cpu"), out)

    full = make(tmp_path / "a", 4)
    full.run(progress=False)
    make(tmp_path / "b", 2).run(progress=False)
    file = tmp_path / "b" / "checkpoint.safetensors"
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as fh:
        meta = json.loads(fh.metadata()[META_KEY])
    tensors = load_file(str(file))
    old = {k.replace("model.clip.", "model.").replace("ema.clip.", "ema."): v for k, v in tensors.items()}
    for k in ("model", "ema_step"):
        del meta[k]
    save_file(old, str(file), metadata={META_KEY: json.dumps(meta)})
    assert checkpoint_spec(file) is None
    with pytest.raises(FileFormatError, match="names no model config"):
        model_from_checkpoint(file)
    assert isinstance(model_from_checkpoint(file, build=lambda: TextConditioner(clip_cfg)), TextConditioner)
    resumed = make(tmp_path / "b", 4)
    resumed.run(progress=False)
    for k, v in full.ema_state_dict().items():
        assert torch.allclose(v, resumed.ema_state_dict()[k], atol=1e-6), k
    assert checkpoint_spec(file)["class"] == "TextConditioner", "the resumed run's checkpoints name their model"


def test_a_resumed_part_keeps_the_config_it_started_with(tmp_path, monkeypatch):
    """`diffviz train` resumes a part from the config its checkpoint names, even after the constant changed."""
    from diffviz.models import builders
    from diffviz.training import bundle

    bundle.train_part("digits", "classifier", tmp_path, device="cpu", steps=2)
    monkeypatch.setattr(builders, "DIGITS_CLASSIFIER_CONFIG", dict(builders.DIGITS_CLASSIFIER_CONFIG, width=16))
    model = bundle.train_part("digits", "classifier", tmp_path, device="cpu", steps=3)
    assert model.config.width == 32 and bundle.run_steps(tmp_path, "digits", "classifier") == 3
    assert bundle.load_part(tmp_path, "digits", "classifier").config.classes == {"digit": [str(i) for i in range(10)]}


def test_a_part_missing_a_tensor_is_refused_not_filled_with_random_values(tmp_path):
    build_classifier(TINY_CLS).save_pretrained(tmp_path / "c")
    file = tmp_path / "c" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(file))
    del state["proj.0.weight"]
    save_file(state, str(file))
    with pytest.raises(io.ModelFolderError, match="does not fit this DomainClassifier: missing proj.0.weight"):
        DomainClassifier.from_pretrained(tmp_path / "c")
