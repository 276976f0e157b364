"""FramePlayer's Python side: frames travel as one binary buffer, state is scriptable, bad input is named."""
import numpy as np
import pytest
import traitlets

from diffviz.frames import as_rows, pack_frames
from diffviz.widgets.player import FramePlayer


def frames(steps=5, batch=2, h=8, w=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (steps, batch, h, w, 3), dtype=np.uint8)


def test_buffer_holds_every_row_at_its_offset():
    a, b = frames(seed=1), frames(h=4, w=4, seed=2)
    p = FramePlayer({"x_t": a, "x̂0": b}, step_labels=[f"t={i}" for i in range(5)], zoom=6, fps=12)
    assert isinstance(p.frames, bytes) and len(p.frames) == a.nbytes + b.nbytes
    rows = p.frame_layout["rows"]
    assert [r["label"] for r in rows] == p.row_labels == ["x_t", "x̂0"]
    assert (p.frame_layout["steps"], p.frame_layout["batch"]) == (5, 2)
    got = np.frombuffer(p.frames, np.uint8, b.nbytes, rows[1]["offset"]).reshape(b.shape)
    np.testing.assert_array_equal(got, b)
    # the same frame the browser reads for (row 0, step 3, column 1)
    off = rows[0]["offset"] + (3 * 2 + 1) * 8 * 6 * 3
    np.testing.assert_array_equal(np.frombuffer(p.frames, np.uint8, 8 * 6 * 3, off).reshape(8, 6, 3), a[3, 1])
    assert (p.zoom, p.fps, p.num_steps) == (6, 12, 5)


def test_bytes_trait_is_sent_as_a_binary_buffer_not_json():
    p = FramePlayer([frames()], row_labels=["x_t"])
    state = p.get_state()
    assert isinstance(state["frames"], (bytes, memoryview))
    _, _, buffers = __import__("ipywidgets").widgets.widget._remove_buffers(state)
    assert sum(len(bytes(b)) for b in buffers) == frames().nbytes


def test_list_input_labels_and_replacing_frames_clamps_step():
    p = FramePlayer([frames(), frames(seed=3)], row_labels=["x_t", "ε̂"])
    assert p.row_labels == ["x_t", "ε̂"]
    p.step = 4
    p.set_frames({"decoded": frames(steps=3)})
    assert p.step == 2 and p.num_steps == 3 and p.row_labels == ["decoded"] and p.step_labels == []
    assert FramePlayer(frames()).row_labels == ["row 0"]
    assert FramePlayer().num_steps == 0 and FramePlayer().frames == b""


@pytest.mark.parametrize("bad, err, words", [
    ({"a": np.zeros((5, 2, 8, 8, 3), np.float32)}, ValueError, "uint8"),
    ({"a": np.zeros((5, 2, 8, 8), np.uint8)}, ValueError, "(steps, batch, H, W, 3)"),
    ({"a": frames(), "b": frames(steps=4)}, ValueError, "same steps"),
    ("frames.png", TypeError, "dict"),
])
def test_bad_frames_are_named(bad, err, words):
    with pytest.raises(err, match=None) as info:
        FramePlayer(bad)
    assert words in str(info.value)


def test_bad_state_is_refused():
    p = FramePlayer({"x": frames()})
    with pytest.raises(ValueError, match="step labels"):
        p.set_frames({"x": frames()}, step_labels=["only one"])
    with pytest.raises(ValueError, match="row labels"):
        as_rows([frames()], row_labels=["a", "b"])
    for name, value in (("step", 5), ("zoom", 0), ("fps", 0)):
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(p, name, value)
    assert pack_frames({}) == (b"", {"rows": [], "steps": 0, "batch": 0})
