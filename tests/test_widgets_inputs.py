"""Widget state from code and from controls: charts change in place, bad values are refused clearly,
replaced charts are closed, the noise inspector takes a generated x0."""
import datetime
import html
import io

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from diffviz.diffusion.schedulers import SCHEDULER_NAMES
from diffviz.widgets import ClipSimilarity, ForwardProcess, GuidanceSweep, NoiseInspector, ReverseProcess, SchedulerCompare


def upload_value(data: bytes) -> tuple:
    return ({"name": "x.png", "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_forward_t_moves_marker_and_histogram_in_place(monkeypatch):
    from diffviz.widgets import charts

    monkeypatch.setattr(charts, "RETIRE_AFTER_S", 0.0)  # retired charts close on the next replacement
    w = ForwardProcess(t=10)
    hist, sched = w.hist_fig, w.schedule_fig
    early = np.asarray(hist.data[0].x).copy()
    w.w_t.value = 950  # the slider drives the trait
    assert w.t == 950 and w.hist_fig is hist and w.schedule_fig is sched, "a t move updates the charts, no new plots"
    late = np.asarray(hist.data[0].x)
    assert early.std() < late.std() and abs(late.std() - 1) < 0.3
    # the saved widget state (what a view made later gets) follows the in-place changes
    assert np.allclose(hist._widget_data[0]["x"], late)
    assert sched._widget_layout["shapes"][0]["x0"] == 950
    w.schedule = "cosine"
    assert w.schedule_fig is not sched and sched.comm is not None, "a replaced chart is kept a moment (late browser messages)"
    assert w.schedule_box.children == (w.schedule_fig,) and w.charts.children[1].children == (hist,)
    assert w.schedule_fig.layout.shapes[0].x0 == 950
    w.schedule = "linear"
    assert sched.comm is None, "then it is closed, not left in the kernel"


def test_forward_image_sources_and_uploads():
    w = ForwardProcess(source="digits")
    assert w.image.shape == (1, 32, 32)
    first = w.image.clone()
    w.w_index.value = 5
    assert not torch.equal(first, w.image)
    w.pick("cats", 0)
    assert "allowed: shapes, digits" in w.banner.value and w.image.shape == (1, 32, 32)
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 255, 0)).save(buf, format="PNG")
    w.w_upload.value = upload_value(buf.getvalue())
    assert w.banner.layout.display == "none" and w.image.shape[0] == 3
    assert w.image[1].mean() > 0.9 and w.image[0].mean() < -0.9, "the upload is green"
    assert w.player.num_steps == 21
    kept = w.image.clone()
    w.w_upload.value = upload_value(b"not a picture")
    assert "could not read" in w.banner.value and torch.equal(kept, w.image)
    with pytest.raises(ValueError, match="allowed: shapes, digits"):
        ForwardProcess(source="faces")


def test_reverse_refuses_bad_settings_and_keeps_them(class_model, uncond_model):
    w = ReverseProcess(class_model, steps=3, num_images=2, class_label=4)
    for name, value, match in [("scheduler", "plms", "allowed: " + ", ".join(SCHEDULER_NAMES)),
                               ("steps", 0, r"steps must be in \[1, "), ("num_images", 9, r"num_images must be in \[1, 8\]"),
                               ("class_label", 10, r"class_label must be in \[0, 9\]"), ("seed", -1, "seed must be")]:
        before = getattr(w, name)
        with pytest.raises(traitlets.TraitError, match=match):
            setattr(w, name, value)
        assert getattr(w, name) == before
    w.w_sched.value, w.w_steps.value = "euler", 2  # the controls drive the state
    assert (w.scheduler, w.steps) == ("euler", 2)
    w.generate()
    assert w.trajectory.meta["scheduler"] == "euler" and w.player.num_steps == 2
    assert w.trajectory.meta["conditions"] == [4, 4]
    u = ReverseProcess(uncond_model, steps=2, num_images=3).wait()
    assert u.w_guidance.disabled and u.trajectory.batch_size == 3 and u.player.row_labels[0] == "x_t"


def test_noise_inspector_generated_x0_and_guidance_views(text_model):
    w = NoiseInspector(text_model)
    assert len(w.guided_pictures.children[0].children) == 5, "a text model shows cond, uncond, w·diff, guided ε̂ and its x̂0"
    data_x0, loss = w.x0.clone(), float(w.last.loss)
    x0 = w.use_generated(steps=2)
    assert x0.shape == data_x0.shape and not torch.equal(x0, data_x0)
    assert float(w.last.loss) != loss and w.progress.value == w.progress.max
    w.set_x0(torch.zeros(3, 8, 8))
    assert "x0 must be one image of shape" in w.banner.value and torch.equal(w.x0, x0)
    w.set_x0(torch.full(tuple(x0.shape), 2.0))
    assert "[-1, 1]" in w.banner.value
    with pytest.raises(traitlets.TraitError, match=r"t must be in \[0, 999\]"):
        w.t = 1000
    w.guidance = 5.0
    assert "w = 5" in w.diff_note.value


def test_sweep_lists_from_code_and_text(class_model):
    g = GuidanceSweep(class_model, run=False)
    g.scales = [0.0, 2.5]
    assert g.w_scales.value == "0, 2.5", "scales set from code show in the text box"
    with pytest.raises(traitlets.TraitError, match="finite numbers >= 0"):
        g.scales = [1.0, float("inf")]
    g.w_scales.value = "1, 3; 6"
    assert g.scales == [1.0, 3.0, 6.0] and g.banner.layout.display == "none"
    g.w_scales.value = "1, x"
    assert "comma-separated" in g.banner.value and g.scales == [1.0, 3.0, 6.0]
    g.steps, g.scales = 2, [0.0, 4.0]
    g.run()
    assert len(g.images) == 2 and g.clip_scores == [] and g.chart.children == ()
    s = SchedulerCompare(class_model, run=False)
    with pytest.raises(traitlets.TraitError, match="ddpm, ddim, dpm, euler"):
        s.schedulers = ["ddim", "heun"]
    s.step_counts = [1, 3]
    assert s.w_steps.value == "1, 3"
    s.w_steps.value = "0"
    assert "step counts" in s.banner.value and s.step_counts == [1, 3]
    s.schedulers = ["ddpm"]
    s.run()
    assert list(s.grid) == [("ddpm", 1), ("ddpm", 3)] and len(s.results.children) == 1


def test_clip_rerun_replaces_and_closes_charts(text_model, monkeypatch):
    from diffviz.widgets import charts

    monkeypatch.setattr(charts, "RETIRE_AFTER_S", 0.0)  # retired charts close on the next replacement
    c = ClipSimilarity(text_model, prompts=["a red circle"], run=False)
    c.steps = 2
    c.run()
    heat, per_step = c.heatmap, c.per_step
    assert c.matrix.shape == (1, 1) and c.charts.children[0] is heat
    c.w_prompts.value = "a red circle\na green triangle\na blue square"
    c.run()
    assert c.charts.children == (c.heatmap, c.projection) and c.per_step_box.children == (c.per_step,)
    assert c.matrix.shape == (3, 3) and len(c.per_step.data) == 3
    c.run()
    assert heat.comm is None and per_step.comm is None, "replaced charts are closed, not left in the kernel"


def test_named_models_are_shared_by_views_and_folders_load_afresh(tmp_path):
    from diffviz.widgets.base import default_model

    shared = default_model("tiny-class")
    assert default_model("tiny-class") is shared, "views in one kernel share one copy of a named model"
    shared.save_pretrained(tmp_path / "m")
    own = default_model(str(tmp_path / "m"))
    assert own is not shared and default_model(str(tmp_path / "m")) is not own, "a folder is read again"
    before = [p.detach().clone() for p in shared.unet.parameters()]
    w = NoiseInspector("tiny-class")
    w.train_step()
    assert w.model is shared and all(torch.equal(a, b) for a, b in zip(shared.unet.parameters(), before)), \
        "training in the inspector changes its copy, never the shared model"
    assert any(not torch.equal(a, b) for a, b in zip(w.student.parameters(), before))


def _images(box) -> list:
    """Every picture widget inside a box, depth first."""
    import ipywidgets as W

    if isinstance(box, W.Image):
        return [box]
    return [im for child in getattr(box, "children", ()) for im in _images(child)]


def test_noise_inspector_latent_model_shows_images_and_large_latents(text_model):
    from diffviz.widgets import tr

    w = NoiseInspector(text_model)
    names = set(w.shown)
    assert {tr("noise.x0"), tr("noise.x0_decoded"), tr("noise.latent_xt"), tr("noise.eps"), tr("noise.eps_pred"),
            tr("noise.error")} <= names
    assert w.shown[tr("noise.x0_decoded")].shape == w.shown[tr("noise.x0")].shape == (16, 16, 3), "x̂0 decoded to pixels"
    assert all(int(im.width) >= 96 for im in _images(w.pictures)), "latent and image pictures are big enough to see"
    w.t = 999
    blurry = w.shown[tr("noise.x0_decoded")]
    w.t = 5
    assert not np.array_equal(w.shown[tr("noise.x0_decoded")], blurry)


def test_noise_inspector_condition_follows_example_and_edits_are_flagged(text_model, class_model):
    from diffviz.widgets.noise import data_image

    w = NoiseInspector(text_model)
    _, own = data_image(text_model, 4)
    w.w_index.value = 4
    assert w.w_cond.value == own and w.condition == own and "own caption" in w.condition_note.value
    w.w_cond.value = "a blue square"
    assert w.condition == "a blue square"
    assert "&#x27;a blue square&#x27;" in w.condition_note.value and repr(own).replace("'", "&#x27;") in w.condition_note.value
    w.w_index.value = -1  # refused: the control goes back, the banner says why
    assert w.index == 4 and w.w_index.value == 4 and "example must be in [0, " in w.banner.value
    c = NoiseInspector(class_model)
    for index in (3, 4):
        c.w_index.value = index
        assert c.w_cond.value == data_image(class_model, index)[1] == c.condition
    c.w_cond.value = (c.condition + 1) % 10
    assert "own class" in c.condition_note.value and "⚠" in c.condition_note.value


def test_guidance_difference_is_scaled_to_be_seen_and_out_of_range_warns(class_model):
    from diffviz.widgets import tr
    from diffviz.widgets.guidance import guidance_warning

    w = NoiseInspector(class_model)
    w.guidance = 2.0
    assert w.guidance_note.layout.display == "none"
    label = tr("noise.scaled_diff", k=w.diff_gain) if w.diff_gain > 1 else tr("noise.diff")
    diff = w.shown[label].astype(float)
    assert diff.std() > 5, "w·(cond − uncond) is not a flat grey square"
    w.guidance = 9.0
    assert w.guidance_note.layout.display == "" and "above the range" in w.guidance_note.value
    assert guidance_warning(class_model, 3.0) is None and "below" in guidance_warning(class_model, 0.0)
    assert "w = 5, 8" in guidance_warning(class_model, [0, 1, 5, 8])
    g = GuidanceSweep(class_model, run=False)
    g.steps, g.scales = 2, [1.0, 8.0]
    g.run()
    assert "above the range" in g.banner.value and "w = 8" in g.banner.value
    captions = [cell.children[0].value for cell in g.results.children[0].children]
    assert "⚠" in captions[1] and "⚠" not in captions[0]
    assert len({cell.layout.width for cell in g.results.children[0].children}) == 1, "equal cells: captions line up"


def test_noise_inspector_trained_copy_on_a_new_pair_says_so(class_model):
    w = NoiseInspector(class_model)
    w.train_step()
    w.guidance = 3.5  # not a new pair: the step report stays
    assert "Step 1" in w.train_info.value
    w.t = 50
    assert "other pairs" in w.train_info.value and w.loss_history == []
    copy_mse = float(w.student_last.loss)
    assert f"{copy_mse:.4f}" in w.train_info.value
    before, after = w.train_step()
    assert before == pytest.approx(copy_mse, rel=1e-6) and after < before and "Step 2" in w.train_info.value


def test_value_set_from_code_beyond_a_slider_is_kept_not_clamped(class_model):
    w = ReverseProcess(class_model, generate=False)
    w.guidance = 25.0
    assert w.guidance == 25.0 and w.w_guidance.value == 25.0 and w.w_guidance.max >= 25.0
    assert "25" in w.guidance_note.value, "the note says w is outside the tuned range"
    w.w_guidance.value = 2.0  # the slider still drives the trait
    assert w.guidance == 2.0


def test_scheduler_steps_past_a_schedulers_end_refused_up_front(class_model):
    """Steps = 1000 on a 1000-step schedule: Euler's last timestep would be past the schedule's end; the box
    refuses it naming the range, the list in use stays, and nothing starts (no bar left half-way)."""
    s = SchedulerCompare(class_model, run=False)
    s.w_steps.value = "5, 1000"
    assert "scheduler 'euler' can take 1 to 999 steps" in html.unescape(s.banner.value) and s.step_counts == [5, 10, 25, 50]
    with pytest.raises(traitlets.TraitError, match="1 to 999 steps"):
        s.step_counts = [1000]
    s.schedulers = ["ddpm", "ddim"]
    s.step_counts = [1000]  # DDPM and DDIM take every training timestep
    with pytest.raises(traitlets.TraitError, match="'euler' can take 1 to 999"):
        s.schedulers = ["euler"]


def test_run_rereads_a_refused_list_box(class_model):
    """A refused list stays in its box; Run reads the box again and refuses again, never running the last list."""
    for view, box, good in ((SchedulerCompare(class_model, run=False), "w_steps", "1, 2"),
                            (GuidanceSweep(class_model, run=False), "w_scales", "1, 2")):
        getattr(view, box).value = "abc"
        refusal = view.banner.value
        assert "comma-separated" in refusal and getattr(view, box).value == "abc"
        view.w_go.click()
        assert view.banner.value == refusal and not view.busy, "Run refused the box's text again and ran nothing"
        assert (view.grid if box == "w_steps" else view.images) in ({}, [])
        getattr(view, box).value = good
        view.steps = 2
        if box == "w_steps":
            view.schedulers = ["ddim"]
        view.w_go.click()
        view.wait()
        assert "dv-error" not in view.banner.value, view.banner.value
        assert len(view.grid if box == "w_steps" else view.images) == 2
