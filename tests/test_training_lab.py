"""The training lab: 2-D toy data, the 2-D noise predictor, the live trainer's controls and snapshots, the views."""
import threading
import time

import numpy as np
import pytest
import torch

from diffviz.data.toy2d import TOY_NAMES, text_mask, toy_points
from diffviz.diffusion.points import forward_chain, frame_timesteps, noise_field, point_film, reverse_points
from diffviz.diffusion.schedule import Schedule
from diffviz.errors import DiffvizError
from diffviz.metrics.sliced import sliced_wasserstein, swd_floor
from diffviz.models.toy2d import ToyDenoiser
from diffviz.training.live import DigitsTask, LiveTraining, ToyTask, smooth

TINY_DIGITS = dict(DigitsTask().config, block_out_channels=[8, 16, 16], norm_num_groups=4)


def tiny_toy(name="moons", **kw):
    task = ToyTask(name, n_data=2000, n_samples=200, sample_steps=20, width=64, depth=2, **kw)
    task.batch_size = 256
    return task


# ---- data ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TOY_NAMES)
def test_toy_sets_are_centred_unit_scale_and_seeded(name):
    a = toy_points(name, 3000, seed=0, text="Hi")
    assert a.shape == (3000, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.abs(a.mean(0)).max() < 0.1 and 0.8 < np.sqrt((a ** 2).sum(1).mean() / 2) < 1.2
    assert np.abs(a).max() < 3.2  # inside the pictures' square
    assert np.array_equal(a, toy_points(name, 3000, seed=0, text="Hi"))
    assert not np.array_equal(a, toy_points(name, 3000, seed=1, text="Hi"))


def test_text_points_lie_on_the_strokes():
    mask = text_mask("T", 64)
    assert mask.any() and mask.mean() < 0.6
    a, b = toy_points("text", 2000, text="T"), toy_points("text", 2000, text="O")
    assert sliced_wasserstein(a, b) > 3 * sliced_wasserstein(a, toy_points("text", 2000, seed=5, text="T"))
    # a T: many points along the top bar, fewer in the stem below it
    top = a[:, 1] > np.quantile(a[:, 1], 0.8)
    assert a[top, 0].std() > 2 * a[~top, 0].std()
    zh = toy_points("text", 500, text="扩散")
    assert zh.shape == (500, 2)


@pytest.mark.parametrize("bad, what", [("", "empty"), ("x" * 40, "at most"), (3, "string")])
def test_bad_text_is_refused_clearly(bad, what):
    with pytest.raises(DiffvizError, match=what):
        toy_points("text", 10, text=bad)


def test_unknown_set_and_bad_n_are_refused():
    with pytest.raises(DiffvizError, match="allowed: moons"):
        toy_points("circles", 10)
    with pytest.raises(DiffvizError, match="n must be"):
        toy_points("moons", 0)


# ---- the maths on points -----------------------------------------------------------------------------
def test_forward_chain_ends_in_standard_normal():
    s = Schedule.from_name("linear")
    x0 = torch.from_numpy(toy_points("moons", 4000))
    ts = frame_timesteps(s, 20)
    assert ts[0] == 0 and ts[-1] == 999 and ts == sorted(ts)
    chain = forward_chain(x0, s, ts, torch.Generator().manual_seed(0))
    assert chain.shape == (len(ts), 4000, 2)
    assert torch.allclose(chain[0], x0, atol=0.05)  # t = 0: barely noised
    end = chain[-1]
    assert end.mean(0).abs().max() < 0.08 and (end.std(0) - 1).abs().max() < 0.05
    # each recorded step has the closed form's spread: √ᾱ x0 + √(1-ᾱ) ε
    k = len(ts) // 2
    ab = float(s.alphas_cumprod[ts[k]])
    resid = chain[k] - ab ** 0.5 * x0
    assert abs(float(resid.std()) - (1 - ab) ** 0.5) < 0.05


def test_toy_denoiser_saves_and_loads(tmp_path):
    net = ToyDenoiser(width=32, depth=1)
    x = torch.randn(5, 2)
    out = net(x, torch.tensor([0, 10, 100, 500, 999])).sample
    assert out.shape == (5, 2)
    net.save_pretrained(tmp_path)
    again = ToyDenoiser.from_pretrained(tmp_path)
    assert torch.allclose(again(x, 7).sample, net(x, 7).sample)
    assert noise_field(net, 100, x).shape == (5, 2)
    traj = reverse_points(net, Schedule.from_name("linear"), 30, steps=10)
    assert traj.x_t.shape == (10, 30, 2) and traj.final.shape == (30, 2)


def test_sliced_wasserstein_zero_on_itself_and_grows_with_shift():
    a = toy_points("spiral", 1000)
    assert sliced_wasserstein(a, a) == 0
    floor = swd_floor(lambda n, s: toy_points("spiral", n, s), 500)
    assert 0 < floor < sliced_wasserstein(a, a + 0.5) and sliced_wasserstein(a, a + 0.5) < sliced_wasserstein(a, a + 1.0)


# ---- the live trainer --------------------------------------------------------------------------------
def test_toy_loss_falls_and_samples_approach_the_data():
    lab = LiveTraining(tiny_toy(), steps=400, sample_every=200)
    snap = lab.train()
    assert snap.state == "done" and snap.step == 400 and len(snap.losses) == 400
    assert snap.losses[:30].mean() > 1.3 * snap.losses[-30:].mean()
    assert [s for s, _ in snap.samples] == [0, 200, 400]
    data = lab.task.reference(200, seed=9)
    first, last = snap.samples[0][1], snap.samples[-1][1]
    assert sliced_wasserstein(last, data) < 0.6 * sliced_wasserstein(first, data)
    np.testing.assert_allclose(snap.smoothed, smooth(snap.losses, lab.smoothing), rtol=1e-6)
    p = snap.pairs
    assert p.step == 400 and p.x0.shape == p.x_t.shape == p.noise.shape == p.eps_pred.shape == (256, 2)
    assert ((p.t >= 0) & (p.t < 1000)).all()


def test_start_pause_resume_reset_from_another_thread():
    lab = LiveTraining(tiny_toy(), steps=100_000, sample_every=10**6)
    assert lab.state == "idle"
    lab.start()
    deadline = time.time() + 60
    while lab.snapshot().step < 20 and time.time() < deadline:
        time.sleep(0.05)
    lab.pause()
    paused = lab.snapshot()
    assert paused.state == "paused" and paused.step >= 20
    time.sleep(0.5)
    assert lab.snapshot().step == paused.step, "pause stops training between two steps"
    lab.resume()
    while lab.snapshot().step < paused.step + 10 and time.time() < deadline:
        time.sleep(0.05)
    assert lab.state == "running" and lab.snapshot().step >= paused.step + 10
    # snapshots taken while training are self-consistent
    seen = []

    def reader():
        for _ in range(200):
            s = lab.snapshot()
            seen.append((s.step, len(s.losses), len(s.smoothed), s.pairs.step if s.pairs else 0))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a == b == c == d for a, b, c, d in seen)
    lab.reset()
    snap = lab.snapshot()
    assert snap.state == "idle" and snap.step == 0 and not len(snap.losses) and not snap.samples and snap.pairs is None
    assert lab._thread is None


def test_same_seed_same_run_and_reaching_the_target():
    a = LiveTraining(tiny_toy(), steps=30, sample_every=10**6, seed=3).train()
    lab = LiveTraining(tiny_toy(), steps=30, sample_every=10**6, seed=3)
    lab.start().wait(60)
    b = lab.snapshot()
    assert b.state == "done" and b.step == 30
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-5)
    with pytest.raises(DiffvizError, match="raise the number of steps"):
        lab.start()
    lab.set_target(40)
    lab.start().wait(60)
    assert lab.snapshot().step == 40


def test_digits_task_trains_and_samples_the_ten_digits():
    task = DigitsTask(TINY_DIGITS, sample_steps=4, per_class=1)
    task.batch_size = 16
    lab = LiveTraining(task, steps=6, sample_every=3)
    snap = lab.train()
    assert [s for s, _ in snap.samples] == [0, 3, 6]
    assert snap.samples[-1][1].shape == (10, 16, 16, 3) and snap.samples[-1][1].dtype == np.uint8
    p = snap.pairs
    assert p.x0.shape == (8, 1, 16, 16) and len(p.labels) == 8
    assert all(v is None or 0 <= v <= 9 for v in p.labels)
    model = lab.trained_model()
    assert model.kind == "class" and model.sample([1, 2], steps=2).final_images().shape == (2, 16, 16, 3)


def test_point_film_frames():
    lab = LiveTraining(tiny_toy(), steps=50, sample_every=10**6)
    lab.train()
    film = point_film(lab.ema_network(), lab.task.schedule, torch.from_numpy(lab.task.reference(100)), frames=6, steps=10, size=64)
    assert film.forward.shape == (6, 1, 64, 64, 3) and film.forward.dtype == np.uint8
    assert film.reverse.shape[0] == len(film.reverse_t) and film.reverse_t[-1] == -1
    assert not np.array_equal(film.forward[0], film.forward[-1])


# ---- the views ---------------------------------------------------------------------------------------
def test_training_lab_view_buttons_and_charts():
    from diffviz.widgets.lab import TrainingLab

    view = TrainingLab("moons", steps=40)
    view.lab.task = tiny_toy()
    view.lab.reset(view.lab.task)
    assert view.w_pause.disabled and not view.w_start.disabled
    view.start()
    view.wait(60)
    snap = view.snapshot()
    assert snap.state == "done" and snap.step == 40
    assert len(view.loss_chart.data[0].x) == 40 and len(view.loss_chart.data[1].y) == 40
    assert view.samples.num_steps == len(snap.samples) >= 2
    assert len(view.pairs_chart.data[1].x) > 0
    assert "40" in view.status.value
    view.diffusion.show()
    assert view.diffusion.forward_player.num_steps == 30 and view.diffusion.reverse_player.num_steps > 2
    before = view.diffusion.field.data[2].x
    view.diffusion.t = 900
    assert view.diffusion.field.data[2].x != before
    view.reset()
    assert view.snapshot().step == 0 and len(view.loss_chart.data[0].x) == 0 and view.samples.num_steps == 0
    view.w_text.value = ""  # refused: the banner says why, the trait keeps its value
    assert "empty" in view.banner.value and view.text == "A"


def test_train_lab_three_lines():
    import diffviz

    lab = diffviz.train_lab("digits", steps=2)
    assert lab.data == "digits" and lab.lab.task.kind == "images"
    lab.data = "spiral"
    assert lab.lab.task.kind == "points" and lab.diffusion is not None
