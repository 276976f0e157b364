"""Forward process statistics and schedule quantities."""
import pytest
import torch

import diffviz
from diffviz.diffusion.schedule import SCHEDULE_NAMES, Schedule


@pytest.mark.parametrize("t", [0, 50, 300, 999])
def test_forward_moments_match_closed_form(t):
    schedule = Schedule.from_name("linear")
    x0 = torch.linspace(-1, 1, 3 * 4 * 4).view(1, 3, 4, 4)
    x0 = x0.expand(20000, 3, 4, 4)
    out = diffviz.forward_process(x0, t, schedule, generator=torch.Generator().manual_seed(0))
    ab = schedule.alphas_cumprod[t].item()
    assert torch.allclose(out.x_t.mean(0), ab**0.5 * x0[0], atol=0.03)
    assert torch.allclose(out.x_t.var(0), torch.full_like(x0[0], 1 - ab), atol=0.03 + 0.05 * (1 - ab))
    assert torch.allclose(out.alpha_bar, torch.full((20000,), ab, dtype=torch.float32))
    # ε is what was added
    assert torch.allclose(out.x_t, ab**0.5 * x0 + (1 - ab) ** 0.5 * out.noise, atol=1e-5)


def test_per_image_timesteps_and_strip():
    x0 = torch.rand(3, 3, 8, 8) * 2 - 1
    out = diffviz.forward_process(x0, torch.tensor([0, 500, 999]), "cosine", generator=torch.Generator().manual_seed(1))
    assert out.alpha_bar[0] > 0.99 and out.alpha_bar[2] < 1e-3
    strip = diffviz.forward_strip(x0[:1], [0, 250, 500, 999], "linear", generator=torch.Generator().manual_seed(2))
    assert strip.x_t.shape == (4, 1, 3, 8, 8)
    err = [(strip.x_t[k] - x0[:1]).abs().mean().item() for k in range(4)]
    assert err == sorted(err), "the image drowns more as t grows"
    assert torch.equal(strip.noise[0], strip.noise[3]), "one noise pattern shared along the strip"


@pytest.mark.parametrize("name", list(SCHEDULE_NAMES))
def test_schedules_are_monotone_and_consistent(name):
    s = Schedule.from_name(name)
    ab = s.alphas_cumprod
    assert (ab[1:] < ab[:-1]).all() and 0 < ab[-1] < ab[0] < 1
    assert torch.allclose(s.snr, ab / (1 - ab))
    assert torch.allclose(s.sqrt_alpha_bar**2 + s.sqrt_one_minus_alpha_bar**2, torch.ones_like(ab, dtype=torch.float64))
    d = s.as_dict()
    assert len(d["t"]) == 1000 and d["alpha_bar"][0] == pytest.approx(float(ab[0]))


def test_schedule_round_trips_through_scheduler_config():
    s = Schedule.from_name("scaled_linear", num_train_timesteps=200)
    back = Schedule.from_scheduler_config(s.to_scheduler_config())
    assert torch.allclose(back.alphas_cumprod, s.alphas_cumprod)


def test_noise_prediction_objective_trains(class_model):
    """One optimiser step on a fixed batch lowers ‖ε − ε̂‖² (the lecture's training loop)."""
    import copy

    from diffviz.diffusion.objective import drop_conditions, noise_prediction

    unet = copy.deepcopy(class_model.unet).train()
    opt = torch.optim.Adam(unet.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (8,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    labels = drop_conditions(torch.arange(8) % 10, torch.full((8,), 10), 0.5, generator=g)
    assert (labels == 10).any() and (labels != 10).any()
    losses = []
    for _ in range(5):
        out = noise_prediction(unet, class_model.schedule, x0, t, labels, noise=noise)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0]
    assert out.x_t.shape == x0.shape and out.t.tolist() == t.tolist()
