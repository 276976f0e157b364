"""FID over generated batches (`fid_for_model`), the singular-covariance warning, CLIP-tower features
and the `diffviz fid` command, with tiny real models."""
import numpy as np
import open_clip
import pytest
import torch

from diffviz.metrics import (ClassifierFeatures, ClipImageFeatures, RunningStats, fid_for_model, fid_from_stats,
                             generated_features)
from diffviz.models.builders import SHAPES_CLASSIFIER_CONFIG, build_classifier


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return ClassifierFeatures(build_classifier(dict(SHAPES_CLASSIFIER_CONFIG, width=8, feature_dim=6)), device="cpu")


def test_fid_for_model_matches_manual_pipeline_and_is_seeded(class_model, extractor):
    ref = RunningStats.from_features(torch.randn(40, extractor.dim, generator=torch.Generator().manual_seed(3)))
    kw = dict(conditions=[1, 2], n=8, batch_size=4, extractor=extractor, reference_stats=ref, steps=2)
    a = fid_for_model(class_model, seed=5, **kw)
    b = fid_for_model(class_model, seed=5, **kw)
    feats = generated_features(class_model, [1, 2], 8, extractor, batch_size=4, steps=2, seed=5)
    assert feats.shape == (8, extractor.dim)
    assert a == b == pytest.approx(fid_from_stats(ref, RunningStats.from_features(feats)), rel=1e-12)
    assert a > 0
    assert fid_for_model(class_model, seed=6, **kw) != a, "a different seed gives different samples"


def test_fid_for_model_rejects_mismatched_reference(class_model, extractor):
    with pytest.raises(ValueError, match="same extractor"):
        fid_for_model(class_model, [1], 4, 2, extractor, RunningStats.from_features(np.zeros((3, 5))), steps=2)
    with pytest.raises(TypeError, match="RunningStats"):
        fid_for_model(class_model, [1], 4, 2, extractor, (np.zeros(6), np.eye(6)), steps=2)
    with pytest.raises(ValueError, match="at least 2"):
        generated_features(class_model, [1], 1, extractor)


def test_covariance_with_fewer_samples_than_dims_warns():
    with pytest.warns(UserWarning, match="singular covariance"):
        RunningStats.from_features(np.random.default_rng(0).normal(size=(5, 8))).cov


def test_clip_image_features_tiny_open_clip():
    torch.manual_seed(0)
    clip = open_clip.CLIP(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
                          text_cfg=dict(context_length=16, width=32, heads=2, layers=1))
    ext = ClipImageFeatures(clip)
    imgs = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)  # resized to 32
    f = ext(imgs)
    assert f.shape == (3, 32) and ext.dim == 32
    torch.testing.assert_close(f.norm(dim=1), torch.ones(3), atol=1e-5, rtol=0)
    grey = ext(torch.zeros(2, 1, 32, 32))  # one channel is broadcast to RGB
    assert grey.shape == (2, 32)


def test_fid_command_runs(tmp_path, monkeypatch, capsys):
    """`diffviz fid` end to end on a tiny model folder with a tiny domain classifier: FID with its N and features,
    KID ×10³ with its spread computed as the library computes it (`features_kid`), the reference statistics
    cached on disk; then its refusals (too few images for KID before any work)."""
    import re

    from diffviz.cli import main
    from diffviz.data.domain import domain_conditions, real_images
    from diffviz.metrics import extract_features
    from diffviz.metrics.fid import features_kid
    from diffviz.models.registry import load
    from diffviz.models.tiny import tiny_class_model

    monkeypatch.setenv("DIFFVIZ_CACHE", str(tmp_path / "cache"))
    folder = tiny_class_model(classifier=True).save_pretrained(tmp_path / "tiny-digits")
    args = ["fid", "--model", str(folder), "-n", "16", "--reference-n", "24", "--steps", "2", "--batch-size", "4"]
    assert main(args + ["--kid"]) == 0
    out = capsys.readouterr().out
    fid = float(re.search(r"FID (\S+)\s+\(N = 16 generated vs 24 real, features tiny-class-classifier \(6-d\)", out).group(1))
    assert np.isfinite(fid) and fid > 0
    mean, std = re.search(r"KID ×10³ (-?[0-9.]+) ± ([0-9.]+) .*20 subsets of 8 per set", out).groups()
    assert float(std) > 0, "KID's subsets differ, so they spread"
    model = load(str(folder))
    ext = ClassifierFeatures(model.classifier, name=model.name)
    fake = generated_features(model, domain_conditions(model, 16), 16, ext, batch_size=4, steps=2, seed=0)
    kid = features_kid(extract_features(real_images(model, 24)[1], ext), fake, ext, subsets=20, seed=0)
    assert (mean, std) == (f"{kid.mean * 1000:.3f}", f"{kid.std * 1000:.3f}"), "the library's KID, ×10³"
    assert list((tmp_path / "cache").rglob("*")), "the reference statistics are cached"
    assert main(args) == 0 and f"FID {fid:.2f}" in capsys.readouterr().out, "the same seed gives the same FID"
    tiny = ["fid", "--model", "tiny-class", "-n", "4", "--reference-n", "8", "--steps", "2", "--batch-size", "4"]
    assert main(tiny) == 2, "tiny-class has no domain classifier: a clear error, not a crash"
    assert "--inception" in capsys.readouterr().err
    assert main(args[:3] + ["-n", "1"]) == 2
    assert main(["fid", "--model", "no-such-model", "-n", "8", "--kid"]) == 2, "refused before loading anything"
    assert "KID needs at least 16 images in each set" in capsys.readouterr().err
