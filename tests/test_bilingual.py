"""The bilingual (English + Chinese) text encoder: trained apart, swapped in, generator and decoder untouched."""
import warnings

import numpy as np
import pytest
import torch

import diffviz
from diffviz.data.shapes import (ATTRIBUTES, COLOURS_ZH, HELDOUT_PAIRS, SHAPES_ZH, bilingual_pairs, canonical_caption,
                                 captions_zh, generate_shapes, vocabulary, vocabulary_zh)
from diffviz.models import io
from diffviz.models.bilingual import BilingualConditioner, BilingualTextEncoder
from diffviz.models.builders import make_tokenizer
from diffviz.models.conditioning import UnknownWordsWarning
from diffviz.training import recipes
from diffviz.training.trainer import Trainer, TrainConfig


def tiny_student(**kw) -> BilingualConditioner:
    ids = make_tokenizer(48)([a for a, _ in bilingual_pairs("all")]).unique().tolist()
    cfg = dict(width=32, heads=2, layers=1, resampler_layers=1, **kw)
    torch.manual_seed(0)
    return BilingualConditioner.wrap(BilingualTextEncoder(ids, **cfg), vocabulary() + vocabulary_zh()).eval()


# ---- captions ------------------------------------------------------------------------------------
def test_chinese_captions_name_the_same_attributes():
    d = generate_shapes(200, seed=5, split="all")
    zh = captions_zh(d.labels, seed=1)
    assert zh == captions_zh(d.labels, seed=1) and zh != captions_zh(d.labels, seed=2)
    for i, cap in enumerate(zh):
        colour, shape = ATTRIBUTES["colour"][int(d.labels["colour"][i])], ATTRIBUTES["shape"][int(d.labels["shape"][i])]
        assert any(w in cap for w in COLOURS_ZH[colour]) and any(w in cap for w in SHAPES_ZH[shape]), cap
    assert len({len(c) for c in zh}) > 5  # short and full captions, varied


def test_pairs_map_chinese_to_the_english_translation_and_hold_out_pairs():
    pairs = bilingual_pairs("train")
    assert ("一个红色的圆", "a red circle") in pairs
    assert ("左上角有一个小的蓝色正方形", "a small blue square at the top left") in pairs
    assert ("a red circle", "a red circle") in pairs
    assert canonical_caption({"colour": "orange", "shape": "cross", "size": "big", "position": "centre"}) == \
        "a big orange cross in the centre"
    assert canonical_caption({"colour": "orange", "shape": "cross", "size": "big", "position": "centre"}, False, False) == \
        "an orange cross"
    targets = {t for _, t in pairs}
    for c, s in HELDOUT_PAIRS:  # the generator never saw these pairs; the encoder's training captions leave them out too
        assert not any(f"{c} {s}" in t for t in targets)
        assert any(f"{c} {s}" in t for _, t in bilingual_pairs("heldout"))
    tok = make_tokenizer(48)
    longest = max(len(tok.encode(a)) for a, _ in bilingual_pairs("all"))
    assert longest <= 46, "every training caption fits the student's context"


# ---- the student's interface ---------------------------------------------------------------------
def test_interface_shape_and_null():
    cond = tiny_student(output_length=24, output_width=64)
    with torch.no_grad():
        states = cond.encode(["一个红色的圆", "a red circle", "左上角有一个小的蓝色正方形", ""])
        assert states.shape == (4, 24, 64) and torch.isfinite(states).all()
        assert torch.allclose(cond.null(2), states[3:].expand(2, -1, -1), atol=1e-6)
        assert not torch.allclose(states[0], states[2])
        # padding beyond the end token is masked: the same prompt alone or beside a long one gives the same states
        alone = cond.encode(["一个红色的圆"])
    assert torch.allclose(alone[0], states[0], atol=1e-5)
    assert cond.kind == "text" and cond.context_length == 48 and cond.width == 64


def test_tokenisation_of_chinese_and_length_check():
    cond = tiny_student()
    assert len(cond.tokenizer.encode("一个红色的圆")) == 15  # byte-level BPE: 2–3 tokens per character
    assert len(cond.tokenizer.encode("左上角有一个小的蓝色正方形")) > 24 - 2  # beyond the English encoder's context
    with pytest.raises(ValueError, match=r"tokens long .*Chinese character.*at most 46 tokens"):
        cond.check_prompts(["左上角有一个小的蓝色正方形" * 2])
    with pytest.raises(TypeError):
        cond.check_prompts([3])
    with pytest.raises(ValueError, match="must not be empty"):
        cond.check_prompts([])
    with pytest.raises(ValueError, match="lone surrogate U\\+D800"):  # the one check of every text encoder
        cond.check_prompts(["一个红色的\ud800圆"])
    with pytest.raises(ValueError, match="U\\+202E RIGHT-TO-LEFT OVERRIDE"):
        cond.check_prompts(["一个\u202e红色的圆"])


def test_unknown_words_in_either_script_warn():
    cond = tiny_student()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cond.check_prompts(["一个红色的圆", "a small red circle at the top left", "右下角：一个大的紫色十字形"])
    with pytest.warns(UnknownWordsWarning, match="龙"):
        cond.check_prompts(["一条紫色的龙"])
    with pytest.warns(UnknownWordsWarning, match="dragon"):
        cond.check_prompts(["a purple dragon"])


def test_save_load_round_trip(tmp_path):
    cond = tiny_student()
    cond.save_pretrained(tmp_path / "enc")  # diffusers' ModelMixin.save_pretrained: config + safetensors
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    back = BilingualConditioner.from_pretrained(tmp_path / "enc").eval()
    prompts = ["一个红色的圆", "a big blue square at the top left", ""]
    with torch.no_grad():
        assert torch.equal(back.encode(prompts), cond.encode(prompts))
    assert back.known_words == cond.known_words
    (tmp_path / "enc" / "config.json").write_text('{"clip": {}}')
    with pytest.raises(io.ModelFolderError, match="bilingual"):
        BilingualConditioner.from_pretrained(tmp_path / "enc")


def test_recipe_distils_a_teacher(text_model):
    """A few steps of the recipe on the tiny random text model's encoder: the distillation error falls."""
    teacher = text_model.conditioner
    student = tiny_student(output_length=teacher.context_length, output_width=teacher.width).encoder
    student.init_from_teacher(teacher.clip)
    data = recipes.distill_data(teacher, make_tokenizer(48), 48, "train")
    assert data.states.shape[1:] == (teacher.context_length, teacher.width)
    before = recipes.distill_error(student, data)
    model, loss_fn = recipes.bilingual_recipe(student, data, 32, "cpu")
    Trainer(model, loss_fn, TrainConfig(steps=40, lr=3e-3, warmup=5, checkpoint_every=1000), "/tmp/bilingual-test-run").run(
        resume=False, progress=False)
    after = recipes.distill_error(model, data)
    assert after["zh"] < 0.7 * before["zh"] and after["en"] < 0.7 * before["en"]


# ---- the bundled bilingual encoder, swapped into shapes -------------------------------------------
@pytest.fixture(scope="module")
def models():
    return diffviz.load("shapes"), diffviz.load("shapes", text_encoder="bilingual")


def test_swap_keeps_generator_and_decoder(models):
    english, both = models
    assert type(english.conditioner).__name__ == "TextConditioner"
    assert isinstance(both.conditioner, BilingualConditioner)
    for part in ("unet", "vae"):
        a, b = getattr(english, part).state_dict(), getattr(both, part).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{part} changed"
    assert both.info.text_encoder == "bilingual" and both.name == "shapes"
    with pytest.raises(ValueError, match="allowed: bilingual"):
        diffviz.load("shapes", text_encoder="klingon")
    with pytest.raises(ValueError, match="no text encoder"):
        diffviz.load("digits", text_encoder="bilingual")


def adherence(model, prompts, want, steps=12, n=3):
    imgs = model.sample([p for p in prompts for _ in range(n)], steps=steps, seed=1, decode_steps=False).final_images()
    pred = model.classify(imgs)
    colours, shapes = ATTRIBUTES["colour"], ATTRIBUTES["shape"]
    wc = np.repeat([colours.index(c) for c, _ in want], n)
    ws = np.repeat([shapes.index(s) for _, s in want], n)
    return ((pred["colour"] == wc) & (pred["shape"] == ws)).reshape(len(prompts), n).mean(1)


def test_chinese_prompts_draw_the_right_colour_and_shape(models):
    _, both = models
    prompts = ["一个红色的圆", "左上角有一个小的蓝色正方形", "一个大的绿色三角形", "右下角有一个橙色的十字"]
    want = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("orange", "cross")]
    ok = adherence(both, prompts, want)
    assert ok.mean() >= 0.75 and (ok > 0).all(), dict(zip(prompts, ok))


def test_english_still_works_with_the_bilingual_encoder(models):
    _, both = models
    prompts = ["a red circle", "a small blue square at the top left", "a big green triangle", "an orange cross"]
    want = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("orange", "cross")]
    ok = adherence(both, prompts, want)
    assert ok.mean() >= 0.75 and (ok > 0).all(), dict(zip(prompts, ok))


def test_model_with_swapped_encoder_saves_and_loads(models, tmp_path):
    _, both = models
    both.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "text_encoder" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "m" / "text_encoder_bilingual" / "diffusion_pytorch_model.safetensors").is_file()
    again = diffviz.load(tmp_path / "m", text_encoder="bilingual")
    with torch.no_grad():
        assert torch.allclose(again.conditioner.encode(["一个红色的圆"]), both.conditioner.encode(["一个红色的圆"]), atol=1e-6)
    assert type(diffviz.load(tmp_path / "m").conditioner).__name__ == "TextConditioner"


def test_clip_score_still_reads_english(models):
    from diffviz.metrics.clip_score import ClipScorer

    _, both = models
    img = generate_shapes(4, seed=3, split="train")
    scorer = ClipScorer.from_model(both)
    sim = scorer.similarity(img.images.permute(0, 2, 3, 1).numpy(), img.captions)
    assert sim.shape == (4, 4) and (np.diag(sim) >= sim.max(1) - 1e-6).mean() >= 0.5


# ---- what the bilingual encoder makes of a prompt, row by row (LatentParts) ---------------------
def test_token_pieces_join_byte_tokens_into_characters():
    from diffviz.models.token_rows import token_pieces

    tok = make_tokenizer(48)
    ids = tok(["左上角有一个小的蓝色正方形"])[0]
    n = int((ids != 0).sum())
    pieces = token_pieces(tok, ids[:n].tolist())
    labels = [p for p, _, _ in pieces]
    assert labels[0] == "<start_of_text>" and labels[-1] == "<end_of_text>"
    assert "".join(labels[1:-1]) == "左上角有一个小的蓝色正方形" and not any("\ufffd" in p for p in labels)
    assert [a for _, a, _ in pieces][1:] == [b for _, _, b in pieces][:-1] and pieces[-1][2] == n  # every token, once
    assert n > len(labels), "a Chinese character is several byte-level tokens"
    en = tok(["a big red circle"])[0]
    assert [p for p, _, _ in token_pieces(tok, en[:6].tolist())] == [
        "<start_of_text>", "a", "big", "red", "circle", "<end_of_text>"]


def test_latent_parts_shows_the_bilingual_tokens_and_states(models):
    from diffviz.widgets import LatentParts

    english, both = models
    view = LatentParts(both)
    view.prompt = "一个红色的圆"
    cond = both.conditioner
    assert not view.banner.value
    assert "一 | 个 | 红 | 色 | 的 | 圆" in view.tokens.value and "\ufffd" not in view.tokens.value
    n = len(cond.tokenizer.encode("一个红色的圆")) + 2
    assert f"{n} tokens (of {cond.context_length})" in view.tokens.value and n > 8
    assert list(view.states.data[0].y) == ["<start_of_text>", "一", "个", "红", "色", "的", "圆", "<end_of_text>"]
    with torch.no_grad():  # the rows are the bilingual encoder's own token states, a character's tokens averaged
        hidden = cond.encoder.token_states(cond.tokenize(["一个红色的圆"]))[0, :n]
    assert view.token_states.shape == (8, hidden.shape[1]) != (8, english.conditioner.width)
    assert np.allclose(view.token_states[0], hidden[0].numpy(), atol=1e-5)
    assert np.allclose(view.token_states[-1], hidden[n - 1].numpy(), atol=1e-5)
    assert view.resampler.layout.display == "" and "24" in view.resampler.value
    before = view.token_states.copy()
    view.prompt = "一个小的红色的圆"  # 的 twice: each keeps its own row
    assert list(view.states.data[0].y).count("的") == 1 and "的 (2)" in list(view.states.data[0].y)
    view.prompt = "a red circle"  # English through the same encoder: one row per word
    assert list(view.states.data[0].y) == ["<start_of_text>", "a", "red", "circle", "<end_of_text>"]
    assert f"(of {cond.context_length})" in view.tokens.value and view.token_states.shape[0] == 5
    assert not np.allclose(before[0], view.token_states[0]) or before.shape != view.token_states.shape

    plain = LatentParts(english)  # the English CLIP: its own 24-token context, rows = what the generator reads
    assert f"5 tokens (of {english.conditioner.context_length})" in plain.tokens.value
    assert plain.resampler.layout.display == "none"
    font = lambda v: [c for c in v.style_sheet.children if "dv-cjk-font" in c._dom_classes]  # noqa: E731
    assert font(view) and not font(plain), "a model that reads Chinese carries the CJK font, even in English mode"
    with torch.no_grad():
        assert np.allclose(plain.token_states, english.conditioner.encode(["a red circle"])[0, :5].numpy(), atol=1e-5)



# ---- given no model, the Chinese lecture reads Chinese ----------------------------------------------
@pytest.fixture
def zh(monkeypatch):
    from diffviz import i18n

    monkeypatch.setattr(i18n, "_current", ["zh"])
    yield


def test_views_and_commands_given_no_model_read_chinese_in_zh_mode(zh, models, tmp_path, monkeypatch):
    from diffviz.cli import main
    from diffviz.models.defaults import default_text_encoder, load_default
    from diffviz.widgets import ClipSimilarity, ReverseProcess, WordMaps

    views = [ReverseProcess(generate=False), ClipSimilarity(run=False)]
    assert all(isinstance(v.model.conditioner, BilingualConditioner) for v in views)
    assert type(WordMaps(generate=False).model.conditioner).__name__ == "TextConditioner"  # attention over tokens
    assert len({id(v.model) for v in views}) == 1, "one shared copy per process"
    assert default_text_encoder("digits") is None and default_text_encoder("shapes", lang="en") is None
    ok = adherence(load_default(), ["一个蓝色的正方形", "一个红色的圆"], [("blue", "square"), ("red", "circle")], n=4)
    assert ok.min() >= 0.75, ok  # the English encoder draws the first one right 0.25 of the time (issue 23)
    monkeypatch.setenv("DIFFVIZ_LANG", "zh")
    out = tmp_path / "zh.png"
    assert main(["sample", "一个蓝色的正方形", "--steps", "12", "-o", str(out)]) == 0 and out.stat().st_size > 0


def test_english_mode_keeps_the_clip_text_encoder(models, monkeypatch):
    from diffviz import i18n
    from diffviz.widgets import ReverseProcess

    monkeypatch.setattr(i18n, "_current", ["en"])
    assert type(ReverseProcess(generate=False).model.conditioner).__name__ == "TextConditioner"
