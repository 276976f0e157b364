"""Shared fixtures: tiny real models (diffusers + open_clip at toy size) and thread settings."""
import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("DIFFVIZ_TEST_THREADS", min(2, torch.get_num_threads()))))


@pytest.fixture(scope="session")
def text_model():
    from diffviz.models.tiny import tiny_text_model

    return tiny_text_model(seed=0)


@pytest.fixture(scope="session")
def class_model():
    from diffviz.models.tiny import tiny_class_model

    return tiny_class_model(seed=0)


@pytest.fixture(scope="session")
def uncond_model():
    from diffviz.models.tiny import tiny_uncond_model

    return tiny_uncond_model(seed=0)
