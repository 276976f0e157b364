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
