"""Recorded sampling equals the bare diffusers loop; guidance and seeds behave."""
import inspect

import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from diffviz.diffusion.schedulers import SCHEDULER_NAMES, make_scheduler


def bare_loop(model, conditions, steps, guidance, scheduler_name, seed):
    """The plain diffusers sampling loop, written out as in the diffusers docs."""
    scheduler = make_scheduler(scheduler_name, model.scheduler_config, sample_range=model.sample_range)
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    n = len(conditions) if conditions is not None else 2
    x = randn_tensor((n, *model.sample_shape), generator=g, dtype=torch.float32) * scheduler.init_noise_sigma
    kwargs = {"generator": g} if "generator" in inspect.signature(scheduler.step).parameters else {}
    cond = model.conditioner.encode(conditions) if conditions is not None else None
    uncond = model.conditioner.null(n) if conditions is not None else None
    key = "class_labels" if model.kind == "class" else "encoder_hidden_states"
    with torch.no_grad():
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(x, t)
            if cond is None:
                eps = model.unet(x_in, t).sample
            elif guidance == 1.0:
                eps = model.unet(x_in, t, **{key: cond}).sample
            else:
                eu, ec = model.unet(torch.cat([x_in, x_in]), t, **{key: torch.cat([uncond, cond])}).sample.chunk(2)
                eps = eu + guidance * (ec - eu)
            x = scheduler.step(eps, t, x, **kwargs).prev_sample
    return x


@pytest.mark.parametrize("scheduler", list(SCHEDULER_NAMES))
def test_recorded_equals_bare_loop_text_guided(text_model, scheduler):
    prompts = ["a red circle", "a blue square"]
    traj = text_model.sample(prompts, steps=6, guidance=3.0, scheduler=scheduler, seed=7)
    ref = bare_loop(text_model, prompts, 6, 3.0, scheduler, 7)
    assert torch.equal(traj.final, ref), f"{scheduler}: recorded loop differs from the bare diffusers loop"


@pytest.mark.parametrize("scheduler", ["ddpm", "euler"])
def test_recorded_equals_bare_loop_class_and_uncond(class_model, uncond_model, scheduler):
    traj = class_model.sample([3, 5], steps=5, guidance=2.0, scheduler=scheduler, seed=1)
    assert torch.equal(traj.final, bare_loop(class_model, [3, 5], 5, 2.0, scheduler, 1))
    traj = uncond_model.sample(None, num_images=2, steps=5, guidance=1.0, scheduler=scheduler, seed=1)
    assert torch.equal(traj.final, bare_loop(uncond_model, None, 5, 1.0, scheduler, 1))


def test_guidance_one_is_conditional_only(text_model):
    traj = text_model.sample(["a red circle"], steps=4, guidance=1.0, seed=3)
    assert traj.eps_cond is None and traj.eps_uncond is None
    assert torch.equal(traj.final, bare_loop(text_model, ["a red circle"], 4, 1.0, "ddim", 3))
    guided = text_model.sample(["a red circle"], steps=4, guidance=4.0, seed=3)
    assert not torch.equal(guided.final, traj.final)
    # the guided ε̂ is recorded as uncond + w (cond - uncond)
    expect = guided.eps_uncond + 4.0 * (guided.eps_cond - guided.eps_uncond)
    assert torch.allclose(guided.eps, expect, atol=1e-6)


def test_same_seed_same_trajectory_other_seed_differs(class_model):
    a = class_model.sample([1, 2], steps=4, seed=11, scheduler="ddpm")
    b = class_model.sample([1, 2], steps=4, seed=11, scheduler="ddpm")
    c = class_model.sample([1, 2], steps=4, seed=12, scheduler="ddpm")
    for f in ("x_t", "eps", "x0_pred", "final"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert not torch.equal(a.final, c.final)


def test_trajectory_shapes_and_x0_formula(text_model):
    traj = text_model.sample(["a red circle", "a big green square", ""], steps=5, seed=0)
    S, B = 5, 3
    assert traj.x_t.shape == (S, B, 4, 8, 8) and traj.eps.shape == (S, B, 4, 8, 8)
    assert traj.decoded.shape == (S, B, 3, 16, 16) and traj.final_decoded.shape == (B, 3, 16, 16)
    assert traj.timesteps.tolist() == sorted(traj.timesteps.tolist(), reverse=True)
    assert int(traj.timesteps[0]) == 999, "trailing spacing starts the reverse process at pure noise"
    a = traj.alpha_bar.view(S, 1, 1, 1, 1)
    assert torch.allclose(traj.x0_pred, (traj.x_t - (1 - a).sqrt() * traj.eps) / a.sqrt(), atol=1e-4)
    imgs = traj.final_images()
    assert imgs.shape == (B, 16, 16, 3) and imgs.dtype.name == "uint8"
    lat = traj.frames("x_t")
    assert lat.shape == (S, B, 16, 16, 3), "4 latent channels shown as a 2x2 grid of 8x8 tiles"
    assert traj.meta["conditions"] == ["a red circle", "a big green square", ""]


def test_latent_decode_steps_off(text_model):
    traj = text_model.sample(["a red circle"], steps=3, seed=0, decode_steps=False)
    assert traj.decoded is None and traj.final_decoded is not None


def test_progress_callback_counts_steps(class_model):
    seen = []
    class_model.sample([0], steps=4, seed=0, callback=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.fixture(scope="module")
def short_schedule_model(text_model):
    """The tiny latent text model on a 12-step training schedule: a scheduler's last step counts are cheap to run."""
    from diffviz.models.pipeline import DiffusionModel
    from diffviz.models.tiny import tiny_scheduler_config

    m = text_model
    return DiffusionModel(m.unet, tiny_scheduler_config(12), m.conditioner, m.vae, latent_scale=1.0, info=m.info)


def test_every_scheduler_samples_up_to_its_limit_and_refuses_past_it(short_schedule_model):
    """Steps = T: DPM-Solver++ (latents) and Euler stop short of T (their first timestep would be T, past the
    schedule: the raw loop raises IndexError or draws NaN); up to their limit they sample, past it a short refusal."""
    from diffviz.diffusion.sampling import sample_loop
    from diffviz.diffusion.schedulers import max_steps
    from diffviz.errors import DiffvizError

    m, T = short_schedule_model, 12
    limits = {name: max_steps(m._scheduler(name), T) for name in SCHEDULER_NAMES}
    assert limits == {"ddpm": T, "ddim": T, "dpm": T - 2, "euler": T - 1}, limits
    for name, limit in limits.items():
        traj = m.sample("a red circle", steps=limit, scheduler=name, decode_steps=False)
        assert traj.num_steps == limit and torch.isfinite(traj.final).all(), name
        if limit == T:
            continue
        with pytest.raises(DiffvizError, match=f"scheduler '{name}' can take 1 to {limit} steps .* got {limit + 1}"):
            m.sample("a red circle", steps=limit + 1, scheduler=name)
        with pytest.raises(DiffvizError, match=f"1 to {limit} steps"):
            m.check_steps(T, name)
        cond = m.conditioner.encode(["a red circle"])
        try:  # what the refusal saves the user from: the bare loop past the limit breaks
            raw = sample_loop(m.unet, m._scheduler(name), m.schedule, (1, *m.sample_shape), cond=cond, steps=limit + 1,
                              generator=torch.Generator().manual_seed(0))
            assert not torch.isfinite(raw.final).all(), f"{name} at {limit + 1} steps should break without the check"
        except IndexError:
            pass
