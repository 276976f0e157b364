"""Bad input at the public boundary gets a clear error naming what is allowed."""
import math

import pytest
import torch

import diffviz


@pytest.mark.parametrize("steps, exc, match", [
    (0, ValueError, ">= 1"), (1001, ValueError, "<= 1000"), (2.5, TypeError, "integer"),
])
def test_bad_steps(class_model, steps, exc, match):
    with pytest.raises(exc, match=match):
        class_model.sample([1], steps=steps)


@pytest.mark.parametrize("g", [math.nan, math.inf, -1.0])
def test_bad_guidance(class_model, g):
    with pytest.raises(ValueError, match="guidance"):
        class_model.sample([1], steps=2, guidance=g)


def test_unknown_scheduler(class_model):
    with pytest.raises(ValueError, match="allowed: ddpm, ddim, dpm, euler"):
        class_model.sample([1], steps=2, scheduler="plms")


def test_bad_conditions(class_model, text_model, uncond_model):
    with pytest.raises(ValueError, match=r"allowed: 0\.\.9"):
        class_model.sample([10], steps=2)
    with pytest.raises(ValueError, match="needs conditions"):
        text_model.sample(None, steps=2)
    with pytest.raises(ValueError, match="unconditional"):
        uncond_model.sample(["a red circle"], steps=2)
    with pytest.raises(ValueError, match="at most 14 tokens"):
        text_model.sample(["a red circle " * 10], steps=2)
    with pytest.warns(UserWarning, match="never seen in training: purple"):
        text_model.sample(["a purple circle"], steps=2)


@pytest.mark.parametrize("x0, exc, match", [
    (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), TypeError, "float"),
    (torch.zeros(8, 8), ValueError, "shape"),
    (torch.full((1, 3, 8, 8), 2.0), ValueError, r"\[-1, 1\]"),
    (torch.full((1, 3, 8, 8), math.nan), ValueError, "NaN"),
    ([[0.0]], TypeError, "torch.Tensor"),
])
def test_bad_x0(x0, exc, match):
    with pytest.raises(exc, match=match):
        diffviz.forward_process(x0, 10)


@pytest.mark.parametrize("t", [-1, 1000, [1, 2, 3]])
def test_bad_t(t):
    with pytest.raises(ValueError, match=r"\[0, 1000\)|one per image"):
        diffviz.forward_process(torch.zeros(2, 3, 8, 8), t)


def test_bad_schedule_and_load():
    with pytest.raises(ValueError, match="allowed: linear"):
        diffviz.forward_process(torch.zeros(1, 3, 8, 8), 1, schedule="quadratic")
    with pytest.raises(ValueError, match="available models"):
        diffviz.load("no-such-model")
