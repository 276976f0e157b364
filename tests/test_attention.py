"""Word maps: cross-attention recorded while sampling (diffusion/attention.py, models/tokens.py)."""
import numpy as np
import pytest
import torch

from diffviz.diffusion.attention import (AttentionRecorder, RecordingAttnProcessor, difference_frames, overlay,
                                         word_indices)
from diffviz.diffusion.cache import shared_cache
from diffviz.errors import DiffvizError


def test_attention_shape_range_and_sums(text_model):
    traj = text_model.sample(["a red circle", "a big blue square"], steps=4, guidance=3.0, seed=1, record_attention=True)
    S, B, L = 4, 2, text_model.conditioner.context_length
    assert traj.attention.shape == (S, B, L, *text_model.image_shape[1:])
    assert float(traj.attention.min()) >= 0 and float(traj.attention.max()) <= 1
    # every pixel distributes its attention over the L tokens: the maps sum to 1 over tokens
    torch.testing.assert_close(traj.attention.sum(2), torch.ones(S, B, *text_model.image_shape[1:]), atol=1e-4, rtol=0)
    assert traj.tokens[0][:5] == ["<start>", "a", "red", "circle", "<end>"]
    assert traj.tokens[1][:6] == ["<start>", "a", "big", "blue", "square", "<end>"]
    assert all(len(t) == L for t in traj.tokens)
    assert word_indices(traj.tokens[1]) == [1, 2, 3, 4]
    # maps differ between steps and between tokens (they are not a constant)
    assert not torch.allclose(traj.attention[0], traj.attention[-1])
    assert not torch.allclose(traj.attention[-1, 0, 2], traj.attention[-1, 0, 3])


def test_recording_changes_nothing_and_restores_processors(text_model):
    before = dict(text_model.unet.attn_processors)
    kw = dict(steps=3, guidance=2.0, seed=5)
    plain = text_model.sample("a red circle", **kw)
    recorded = text_model.sample("a red circle", record_attention=True, **kw)
    assert torch.equal(plain.final, recorded.final)  # the layers' own processors computed the outputs
    assert plain.attention is None and plain.tokens is None
    after = text_model.unet.attn_processors
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)


def test_processors_restored_on_error(text_model):
    before = dict(text_model.unet.attn_processors)
    with pytest.raises(RuntimeError, match="boom"):
        with AttentionRecorder(text_model.unet, 1):
            assert all(isinstance(p, RecordingAttnProcessor) for p in text_model.unet.attn_processors.values())
            raise RuntimeError("boom")
    assert all(text_model.unet.attn_processors[k] is v for k, v in before.items())
    with pytest.raises(DiffvizError, match="images"):  # a call with a batch the recorder was not told about
        text_model.sample(["a red circle"] * 3, steps=1, guidance=1.0, callback=_break_batch(text_model))
    assert all(text_model.unet.attn_processors[k] is v for k, v in before.items())


def _break_batch(model):
    """A callback that, mid-run, enters a recorder for the wrong batch size and calls the UNet."""
    def callback(i, n):
        with AttentionRecorder(model.unet, 2):
            x = torch.zeros(3, *model.sample_shape)
            model.unet(x, 10, encoder_hidden_states=model.conditioner.encode(["a"] * 3))
    return callback


def test_guided_keeps_conditional_half(text_model):
    """With guidance the recorded maps are the conditional call's: equal to a guidance-free call's at step 0."""
    guided = text_model.sample("a red circle", steps=2, guidance=4.0, seed=3, record_attention=True)
    plain = text_model.sample("a red circle", steps=2, guidance=1.0, seed=3, record_attention=True)
    torch.testing.assert_close(guided.attention[0], plain.attention[0], atol=1e-5, rtol=0)  # same x_T, same prompt
    empty = text_model.sample("", steps=2, guidance=1.0, seed=3, record_attention=True)
    assert not torch.allclose(guided.attention[0], empty.attention[0], atol=1e-4)


def test_cache_keeps_recorded_and_unrecorded_apart(text_model):
    shared_cache().clear()
    kw = dict(steps=2, seed=11, cache=True)
    plain = text_model.sample("a green square", **kw)
    recorded = text_model.sample("a green square", record_attention=True, **kw)
    again = text_model.sample("a green square", **kw)
    assert plain.attention is None and again.attention is None
    assert recorded.attention is not None and recorded.tokens[0][1:4] == ["a", "green", "square"]
    assert text_model.sample("a green square", record_attention=True, **kw).attention is recorded.attention  # from the cache


def test_slicing_and_saving_keep_attention(text_model, tmp_path):
    from diffviz.diffusion.trajectory import Trajectory

    traj = text_model.sample("a red circle", steps=3, record_attention=True)
    assert traj[1:].attention.shape[0] == 2
    loaded = Trajectory.load(traj.save(tmp_path / "t"))
    assert torch.equal(loaded.attention, traj.attention) and loaded.tokens == traj.tokens
    end = traj.tokens[0].index("<end>")  # English words: one token each, up to the end token
    assert loaded.token_groups == traj.token_groups == [[(n, i, i + 1) for i, n in enumerate(traj.tokens[0][:end + 1])]]


def test_errors_for_models_without_word_maps(class_model, uncond_model):
    with pytest.raises(DiffvizError, match="needs a text model.*class"):
        class_model.sample(3, steps=1, record_attention=True)
    with pytest.raises(DiffvizError, match="needs a text model.*unconditional"):
        uncond_model.sample(None, num_images=1, steps=1, record_attention=True)


def test_bilingual_encoder_has_no_word_maps():
    import diffviz

    model = diffviz.load("shapes", text_encoder="bilingual")
    with pytest.raises(DiffvizError, match="learned queries"):
        model.sample("a red circle", steps=1, record_attention=True)


def test_overlay_and_difference_pictures():
    images = np.full((2, 8, 8, 3), 100, np.uint8)
    maps = np.zeros((2, 8, 8), np.float32)
    maps[:, 2, 3] = 0.2
    out = overlay(images, maps)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert not np.array_equal(out[0, 2, 3], out[0, 0, 0])  # the peak is coloured differently from the rest
    a = np.zeros((3, 4, 4, 3), np.uint8)
    b = a.copy()
    b[2, 1, 1] = 255
    frames, mean = difference_frames(a, b)
    assert frames.shape == (3, 4, 4, 3) and mean[0] == 0 and mean[2] > 0
    assert not np.array_equal(frames[2, 1, 1], frames[2, 0, 0])


# ---- widgets ------------------------------------------------------------------------------------
def _row(player, r: int) -> bytes:
    lay = player.frame_layout
    row = lay["rows"][r]
    size = lay["steps"] * lay["batch"] * row["height"] * row["width"] * 3
    return player.frames[row["offset"]: row["offset"] + size]


def test_word_maps_widget(text_model):
    from diffviz.widgets import WordMaps

    w = WordMaps(text_model, steps=3, prompt="a big red circle").wait()
    assert w.banner.layout.display == "none", w.banner.value
    names = [n for n, _ in w.w_tokens.options]
    assert names == ["<start>", "a", "big", "red", "circle", "<end>"] and w.token == 4
    assert w.player.num_steps == 3 and len(w.player.row_labels) == 2 and "circle" in w.player.row_labels[1]
    pictures, first = _row(w.player, 0), _row(w.player, 1)
    w.w_tokens.value = 3  # the browser picks 'red'
    w.wait()
    assert w.token == 3 and "red" in w.player.row_labels[1] and "'red'" in w.readout.value.replace("&#x27;", "'")
    assert _row(w.player, 1) != first and _row(w.player, 0) == pictures  # the map changed, x̂0 did not
    shares = [float(s) for s in w.share]
    assert all(0 < s < 1 for s in shares)
    w.prompt = "   "
    w.generate()
    assert "prompt is empty" in w.banner.value
    with pytest.raises(DiffvizError, match="needs a text model"):
        from diffviz.models.tiny import tiny_class_model

        WordMaps(tiny_class_model())


def test_word_maps_join_byte_tokens_into_characters(text_model):
    """A Chinese prompt on the English (byte-level) encoder: one button per character, never '�'."""
    from diffviz.widgets import WordMaps

    prompt = "红色的圆"
    w = WordMaps(text_model, steps=2, prompt=prompt).wait()
    assert "dv-error" not in w.banner.value, w.banner.value  # a notice (unknown words) is expected
    names = [n for n, _ in w.w_tokens.options]
    assert "�" not in "".join(names) and "".join(names[1:-1]) == prompt and len(names) == len(prompt) + 2
    groups = w.token_groups
    assert all(b - a >= 2 for n, a, b in groups[1:-1])  # every character is 2–3 byte tokens here
    name, first, end = groups[2]  # "色": its map is the sum of its tokens' maps
    w.select_token(first + 1)  # any of a character's tokens picks the character
    w.wait()
    assert w.token == first and name in w.player.row_labels[1]
    expected = w.trajectory.attention[:, 0, first:end].sum(1).mean(dim=(-2, -1)).numpy()
    assert np.allclose(w.share, expected) and all(0 < s < 1 for s in w.share)
    assert (expected > w.trajectory.attention[:, 0, first].mean(dim=(-2, -1)).numpy()).all()
    legend = [t.name for t in w.chart.data]
    assert legend == list(prompt)


def test_prompt_compare_widget(text_model):
    from diffviz.widgets import PromptCompare

    v = PromptCompare(text_model, steps=3, prompt_a="a red circle", prompt_b="a red circle").wait()
    assert v.player.frame_layout["batch"] == 3 and v.player.num_steps == 3
    assert np.all(v.mean_delta == 0)  # the same prompt and seed: no difference at any step
    v.w_remove.value = 1  # remove 'red'
    assert v.prompt_b == "a circle"
    v.run()
    assert v.mean_delta[-1] > 0 and v.mean_delta.shape == (3,)
    assert v.chart is not None and len(v.chart.data) == 1
    v.prompt_a, v.prompt_b = "", " "
    v.run()
    assert "both prompts are empty" in v.banner.value


def test_explainer_overview_boxes_open_their_tabs(text_model, class_model):
    from diffviz.widgets import Explainer
    from diffviz.widgets.overview import BOXES, INSIDE

    e = Explainer(text_model, tabs=["overview", "forward", "reverse", "latent", "noise", "guidance", "schedulers"])
    ov = e.views["overview"]
    assert e.tabs.selected_index == 0 and list(e.views) == ["overview"]
    for label, _, tab in BOXES["text"] + [(k, None, t) for k, t in INSIDE]:
        if tab in e.tab_names:
            ov.boxes[label].click()
            assert e.tab_names[e.tabs.selected_index] == tab
        else:
            assert label not in ov.boxes  # a box for a tab that is not there is left out
    assert [b for b in ("prompt", "tokens", "image") if b in ov.boxes] == []
    for view in e.views.values():
        getattr(view, "wait", lambda: None)()
    c = Explainer(class_model, tabs=["overview", "reverse", "guidance"])
    assert set(c.views["overview"].boxes) >= {"class", "generator", "guidance"} and "tokens" not in c.views["overview"].boxes


def test_object_mask_and_peak_inside():
    from diffviz.data.shapes import generate_shapes
    from diffviz.metrics.word_maps import object_mask, peak_inside, token_positions

    images = generate_shapes(8, seed=0).images.permute(0, 2, 3, 1).numpy()
    masks = object_mask(images)
    area = masks.mean(axis=(1, 2))
    assert np.all(area > 0.01) and np.all(area < 0.5)  # one shape on a grey background
    assert peak_inside(masks.astype(np.float32), masks).all()
    assert not peak_inside((~masks).astype(np.float32), masks).any()
    assert token_positions(["<start>", "a", "red", "circle", "at", "the", "top", "left"], ["at", "top", "left"]) == [4, 6, 7]
    with pytest.raises(DiffvizError, match="not a token"):
        token_positions(["a", "red"], ["circle"])


def test_word_map_hit_rate_on_shapes():
    import diffviz
    from diffviz.metrics.word_maps import word_map_hit_rate

    report = word_map_hit_rate(diffviz.load("shapes"), n=4, steps=4, batch=4)
    assert 0 < report.chance < 0.5 and set(report.hits) == {"shape", "colour", "position", "'a'"}
    assert all(0 <= v <= 1 for rates in report.hits.values() for v in rates.values())
    assert "chance" in report.format()
