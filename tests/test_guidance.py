"""Classifier-free guidance maths, x̂0 from ε̂, the one-pair train step and the tuned guidance range."""
import copy

import pytest
import torch

from diffviz.diffusion.forward import forward_process, predict_x0
from diffviz.diffusion.guidance import combine, guided_prediction, outside_range, visibility_gain
from diffviz.diffusion.objective import noise_prediction, train_step


def test_predict_x0_inverts_the_forward_process():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    t = torch.tensor([0, 400, 950])
    fwd = forward_process(x0, t, "linear", generator=g)
    assert torch.allclose(predict_x0(fwd.x_t, fwd.noise, fwd.alpha_bar), x0, atol=1e-4), "the true ε gives x0 back"
    wrong = predict_x0(fwd.x_t, torch.zeros_like(fwd.noise), fwd.alpha_bar)
    assert not torch.allclose(wrong, x0, atol=0.1)
    assert predict_x0(fwd.x_t, -fwd.noise, fwd.alpha_bar, clip=1.0).abs().max() <= 1.0


def test_guided_prediction_is_uncond_plus_w_times_difference(class_model):
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    cond, null = class_model.conditioner.encode([3, 7]), class_model.conditioner.null(2)
    with torch.no_grad():
        out = guided_prediction(class_model.unet, x, 500, cond, null, 4.0)
        alone = guided_prediction(class_model.unet, x, 500, cond, null, 4.0, eps_cond=out.eps_cond)
    assert torch.allclose(out.eps, out.eps_uncond + 4.0 * (out.eps_cond - out.eps_uncond), atol=1e-6)
    assert torch.allclose(out.delta, out.eps - out.eps_uncond, atol=1e-6)
    assert torch.allclose(alone.eps_uncond, out.eps_uncond, atol=1e-5)
    assert torch.equal(combine(out.eps_uncond, out.eps_cond, 1.0), out.eps_uncond + (out.eps_cond - out.eps_uncond))
    assert torch.allclose(combine(out.eps_uncond, out.eps_cond, 0.0), out.eps_uncond)


def test_visibility_gain_and_range():
    small = torch.tensor([0.01, -0.05, 0.02])
    k = visibility_gain(small)
    assert k == 60.0 and (small * k).abs().max() == pytest.approx(3.0)
    assert visibility_gain(torch.tensor([4.0, -1.0])) == 1.0 and visibility_gain(torch.zeros(3)) == 1.0
    assert outside_range([0, 1, 3, 8], (1.0, 4.0)) == ([0.0], [8.0])
    assert outside_range(2.5, (1.0, 4.0)) == ([], [])


@pytest.mark.parametrize("lr", [3e-5])
def test_train_step_lowers_the_loss_of_one_pair_and_first_loss_is_the_shown_mse(class_model, lr):
    unet = copy.deepcopy(class_model.unet).eval()
    opt = torch.optim.Adam(unet.parameters(), lr=lr)
    x0 = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    cond = class_model.conditioner.encode([5])
    with torch.no_grad():
        shown = noise_prediction(class_model.unet, class_model.schedule, x0, 300, cond,
                                 generator=torch.Generator().manual_seed(9))
    losses = [train_step(unet, opt, class_model.schedule, x0, 300, cond, noise=shown.noise) for _ in range(5)]
    assert losses[0] == pytest.approx(float(shown.loss), rel=1e-6), "before the first step: the original model's MSE"
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert any(not torch.equal(a, b) for a, b in zip(unet.parameters(), class_model.unet.parameters()))


def test_guidance_range_from_model_info(class_model, uncond_model):
    import diffviz

    assert diffviz.load("shapes").guidance_range == (1.0, 4.0)
    assert diffviz.load("digits").guidance_range == (1.0, 2.0)
    assert class_model.guidance_range == (1.0, 4.0), "no guidance_range: 1 to twice the default guidance (2)"
    assert uncond_model.guidance_range == (1.0, 1.0)
    m = copy.copy(class_model)
    m.info = class_model.info.replace(guidance_range=[3, 1])
    with pytest.raises(ValueError, match="lo <= hi"):
        m.guidance_range
