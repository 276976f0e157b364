"""Widgets are views whose state code can set; inputs change what they show; bad input shows a banner."""
from pathlib import Path

import numpy as np
import time

import pytest
import torch
import traitlets

from diffviz.models.tiny import tiny_class_model
from diffviz.widgets import (Explainer, ForwardProcess, FramePlayer, GuidanceSweep, NoiseInspector, ReverseProcess,
                             SchedulerCompare, set_language, tr)
from diffviz.frames import pack_frames


def test_frame_player_packs_rows_once_as_binary():
    rows = {"a": np.zeros((5, 2, 8, 8, 3), np.uint8), "b": np.full((5, 2, 16, 16, 3), 7, np.uint8)}
    p = FramePlayer(rows, step_labels=[f"s{i}" for i in range(5)], zoom=6)
    assert isinstance(p.frames, bytes) and len(p.frames) == 5 * 2 * (8 * 8 + 16 * 16) * 3
    assert p.frame_layout["rows"][1]["offset"] == 5 * 2 * 8 * 8 * 3 and p.frame_layout["steps"] == 5 and p.num_steps == 5
    p.step = 4
    with pytest.raises(Exception, match="step must be in"):
        p.step = 5
    with pytest.raises(ValueError, match="same steps"):
        pack_frames({"a": np.zeros((5, 2, 8, 8, 3), np.uint8), "b": np.zeros((4, 2, 8, 8, 3), np.uint8)})
    with pytest.raises(ValueError, match="uint8"):
        pack_frames({"a": np.zeros((5, 2, 8, 8, 3), np.float32)})
    assert "export default" in (Path(__file__).parents[1] / "diffviz/widgets/static/player.js").read_text()


def test_forward_process_state_drives_views():
    w = ForwardProcess(t=100)
    assert w.player.num_steps == 21 and w.player.row_labels == ["x_t", "ε"]
    before = w.current.x_t.clone()
    w.t = 900
    assert w.schedule_fig.layout.shapes[0].x0 == 900
    assert float(w.current.alpha_bar[0]) < 0.1 and not torch.equal(before, w.current.x_t)
    assert abs(float(np.std(w.hist_fig.data[0].x)) - 1) < 0.3, "late in the process x_t looks like N(0, 1)"
    w.schedule = "cosine"
    assert w.schedule_fig.data[0].y[500] == pytest.approx(float(w.noise_schedule.alphas_cumprod[500]))
    with pytest.raises(traitlets.TraitError, match="allowed: linear"):
        w.schedule = "quadratic"  # from code: refused loudly
    assert w.schedule == "cosine"
    w.w_schedule.value = "cosine"
    w.w_seed.value = -5  # from the browser: the box goes back and the banner says why
    assert w.w_seed.value == 0 and w.seed == 0 and "seed must be in [0" in w.banner.value
    w.w_seed.value = 7  # the refused value put right: the banner goes
    assert w.seed == 7 and w.banner.layout.display == "none"
    w.w_T.value = 200  # a shorter schedule moves t onto its last step
    assert w.t == 199 and w.w_t.value == 199 and w.w_t.max == 199
    w.set_image(np.zeros((20, 20, 4), np.uint8))
    assert "uint8 (H, W, 3)" in w.banner.value
    w.set_image(np.full((16, 16, 3), 255, np.uint8))
    assert w.image.shape == (3, 16, 16)


def test_reverse_process_generates_and_reports_bad_input(text_model, class_model):
    w = ReverseProcess(text_model, steps=4, num_images=3, seed=2)
    assert w.wait() is w  # the first trajectory is made on the kernel's worker thread
    w.submit(time.sleep, 0.5)  # background work shows on the page as the dv-busy class
    assert w.busy and "dv-busy" in w._dom_classes
    assert w.wait() is w and not w.busy and "dv-busy" not in w._dom_classes
    assert w.trajectory.num_steps == 4 and w.player.num_steps == 4 and w.player.frame_layout["batch"] == 3
    assert w.player.row_labels == [tr("reverse.row_decoded"), tr("reverse.row_latent"), tr("reverse.row_eps")]
    assert w.progress.value == w.progress.max
    first = w.trajectory.final.clone()
    w.prompt, w.seed = "a blue square", 3
    w.generate()
    assert not torch.equal(first, w.trajectory.final) and w.trajectory.meta["conditions"][0] == "a blue square"
    with pytest.raises(Exception, match="guidance must be a finite number"):
        w.guidance = float("nan")
    w.prompt = "a red circle " * 10
    assert w.generate() is None and "tokens" in w.banner.value
    assert w.trajectory.meta["conditions"][0] == "a blue square", "a failed generate keeps the previous result"
    c = ReverseProcess(class_model, steps=3, class_label=7).wait()
    assert c.trajectory.meta["conditions"] == [7] * 4


def test_noise_inspector_and_training_copy(class_model):
    w = NoiseInspector(class_model)
    weights = {k: v.clone() for k, v in class_model.unet.state_dict().items()}
    w.t = 100
    mse_100 = float(w.last.loss)
    assert "MSE" in w.stats.value and len(w.pictures.children[0].children) == 6, "x0, x_t, ε, ε̂, x̂0, error map"
    assert len(w.guided_pictures.children[0].children) == 5
    original = w.shown[tr("noise.eps_pred")]
    steps = [w.train_step() for _ in range(5)]
    assert steps[0][0] == pytest.approx(mse_100, rel=1e-6), "loss before the first step = the MSE shown above"
    assert all(after < before for before, after in steps), steps
    assert all(a[1] == pytest.approx(b[0], rel=1e-6) for a, b in zip(steps, steps[1:])), "each step starts where the last ended"
    trained = w.shown["trained: " + tr("noise.eps_pred")]
    assert np.abs(trained.astype(int) - original.astype(int)).sum() > 0, "the trained copy's ε̂ picture changed"
    assert np.array_equal(w.shown["original: " + tr("noise.eps_pred")], original)
    assert f"{steps[-1][1]:.4f}" in w.train_pictures.children[1].children[0].value and "Step 5" in w.train_info.value
    for k, v in class_model.unet.state_dict().items():
        assert torch.equal(v, weights[k]), "the shown model is never trained"
    w.t = 900
    assert float(w.last.loss) != mse_100
    assert float(w.student_last.loss) != steps[-1][1], "the trained row follows the pair shown"
    w.reset_student()
    assert w.train_pictures.children == () and w.student is None


def test_sweeps(text_model, class_model):
    g = GuidanceSweep(text_model, run=False)
    g.steps = 3
    g.scales = [0.0, 1.0, 4.0]
    g.run()
    assert len(g.images) == 3 and len(g.clip_scores) == 3 and not np.array_equal(g.images[0], g.images[2])
    assert len(g.chart.children) == 1 and g.fids == []
    d = GuidanceSweep(tiny_class_model(classifier=True), run=False)  # its own model: the fixture is never changed
    with pytest.raises(traitlets.TraitError, match="0 \\(off\\) or at least 16"):
        d.fid_n = 4  # FID and KID need 16 images a set: refused in the box, not after the sampling
    d.steps, d.scales, d.fid_n = 2, [0.0, 2.0], 16
    d.run()
    assert len(d.fids) == 2 and all(np.isfinite(f) and f >= 0 for f in d.fids) and d.fids[0] != d.fids[1]
    assert [t.name for t in d.chart.children[0].data] == ["FID"], "the FID-per-scale curve is drawn"
    assert class_model.classifier is None
    g.w_scales.value = "1, -2"
    assert "comma-separated" in g.banner.value and g.scales == [0.0, 1.0, 4.0]
    s = SchedulerCompare(class_model, run=False)
    s.schedulers, s.step_counts = ["ddim", "euler"], [2, 4]
    s.run()
    assert set(s.grid) == {("ddim", 2), ("ddim", 4), ("euler", 2), ("euler", 4)}


def test_explainer_builds_tabs_lazily(text_model):
    e = Explainer(text_model)
    assert list(e.views) == ["overview"]
    e.tabs.selected_index = 2
    assert list(e.views) == ["overview", "reverse"] and isinstance(e.views["reverse"], ReverseProcess)


def test_chinese_labels_without_touching_widget_code():
    set_language("zh")
    try:
        assert tr("reverse.generate") == "生成"
        w = ForwardProcess()
        assert "前向过程" in w.children[1].value and w.children[0] is w.style_sheet
    finally:
        set_language("en")
    assert tr("reverse.generate") == "Generate"
    with pytest.raises(ValueError, match="allowed: en, zh"):
        set_language("fr")


def test_views_have_a_short_text_form(text_model):
    """What a saved notebook shows where the widget cannot be drawn: the view and its settings, not a dump."""
    w = ReverseProcess(text_model, generate=False, prompt="a blue square", steps=7)
    text = w._repr_mimebundle_()["text/plain"]
    assert text.startswith("ReverseProcess(model=") and "prompt='a blue square'" in text and "steps=7" in text
    assert len(text) < 300 and "children" not in text and "layout" not in text
    f = ForwardProcess(t=300)
    assert repr(f) == "ForwardProcess(num_train_timesteps=1000, schedule='linear', seed=0, t=300)"


def test_reverse_process_warns_when_guidance_leaves_the_tuned_range():
    import diffviz

    w = ReverseProcess(diffviz.load("digits"), generate=False)
    lo, hi = w.model.guidance_range
    assert w.guidance_note.layout.display == "none", "the default guidance is inside the tuned range"
    w.w_guidance.value = hi + 3
    assert w.guidance_note.layout.display == "" and f"{hi + 3:g}" in w.guidance_note.value
    w.w_guidance.value = w.model.default_guidance
    assert w.guidance_note.layout.display == "none"


def test_line_figure_puts_a_series_in_other_units_on_its_own_axis():
    from diffviz.widgets.charts import line_figure

    fig = line_figure([0, 2, 4], {"CLIP score": [25.0, 28.0, 30.0], "FID": [140.0, 90.0, 120.0]}, "per w", "w",
                      "CLIP score", right="FID")
    clip, fid = fig.data
    assert clip.yaxis == "y" and fid.yaxis == "y2", "FID is drawn against the right-hand axis, not the CLIP scale"
    assert fig.layout.yaxis2.title.text == "FID" and fig.layout.yaxis2.overlaying == "y"
    alone = line_figure([0, 2], {"FID": [1.0, 2.0]}, "t", "w", "FID")
    assert alone.data[0].yaxis == "y" and "yaxis2" not in alone.layout.to_plotly_json(), "one series: one axis"


def test_charts_carry_the_cjk_fonts_after_plotlys_own():
    """Plotly measures text off-page, where no style sheet reaches: the figure's own family lists the CJK
    font (Chinese legends laid out at their drawn width, tests/browser/test_zh.py) after plotly's fonts."""
    from diffviz.i18n.fonts import FAMILY, INLINE_FAMILY
    from diffviz.widgets.charts import heatmap_figure, line_figure

    default = '"Open Sans", verdana, arial'  # plotly.js's own default family, sans-serif aside
    for fig in (line_figure([0, 1], {"一个红色的圆": [1.0, 2.0]}, "t", "w", "y"), heatmap_figure(np.zeros((1, 1)), ["a"], ["b"], "t")):
        family = fig.layout.font.family
        assert family.startswith(default), "English text keeps plotly's fonts"
        assert f'"{FAMILY}"' in family and f'"{INLINE_FAMILY}"' in family


def test_redrawn_pictures_are_closed_not_kept(class_model, monkeypatch):
    """Moving t redraws the noise inspector's pictures; the old picture widgets are closed one redraw
    later (not kept alive in the kernel for the whole session: a Solara server has many viewers)."""
    from diffviz.widgets import charts

    monkeypatch.setattr(charts, "RETIRE_AFTER_S", 0.0)
    w = NoiseInspector(class_model)

    def images(box):
        out, todo = [], [box]
        while todo:
            x = todo.pop()
            kids = getattr(x, "children", None)
            if kids:
                todo += list(kids)
            elif x is not box and type(x).__name__ == "Image":
                out.append(x)
        return out

    first = images(w.pictures)
    assert first and all(im.comm is not None for im in first)
    w.t = 300
    second = images(w.pictures)
    assert second and not set(map(id, second)) & set(map(id, first)), "new pictures are shown"
    w.t = 600
    assert all(im.comm is None for im in first), "pictures two redraws old are closed"
    assert all(im.comm is not None for im in images(w.pictures)), "what is shown stays open"


def test_a_training_step_that_overshoots_says_why():
    """On the bundled digits model one step at learning rate 1e-3 makes the pair's loss worse (Adam moves every
    weight by about the rate): the view says so; at the default rate the loss falls and nothing is said."""
    import diffviz

    w = NoiseInspector(diffviz.load("digits"))
    before, after = w.train_step()
    assert after < before and tr("noise.overshot", lr=w.lr)[:20] not in w.train_info.value
    w.reset_student()
    w.lr = 1e-3
    before, after = w.train_step()
    assert after > before, (before, after)
    assert tr("noise.overshot", lr=1e-3) in w.train_info.value
