"""Metrics agree with pytorch-fid and behave as FID/KID/CLIP score should."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from diffviz.metrics import (ClassifierFeatures, ClipScorer, InceptionFeatures, RunningStats, cached_reference_stats,
                             extract_features, fid_from_features, fid_vs_n, frechet_distance,
                             kernel_inception_distance, prepare_images)
from diffviz.models.builders import build_classifier
from diffviz.models.tiny import tiny_text_model


def random_stats(rng, d, n, shift=0.0):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + shift
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("d", [8, 64])
def test_frechet_matches_pytorch_fid(d):
    rng = np.random.default_rng(d)
    m1, s1 = random_stats(rng, d, 4 * d)
    m2, s2 = random_stats(rng, d, 4 * d, shift=0.5)
    ours, ref = frechet_distance(m1, s1, m2, s2), calculate_frechet_distance(m1, s1, m2, s2)
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_frechet_of_real_features_matches(tiny_classifier):
    from diffviz.data.shapes import generate_shapes

    ext = ClassifierFeatures(tiny_classifier)
    a = extract_features(generate_shapes(300, seed=0).images.permute(0, 2, 3, 1).numpy(), ext).double().numpy()
    b = extract_features(generate_shapes(300, seed=1).images.permute(0, 2, 3, 1).numpy(), ext).double().numpy()
    args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*args) == pytest.approx(calculate_frechet_distance(*args), rel=1e-6, abs=1e-9)


def test_fid_self_zero_and_grows_with_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16))
    assert abs(fid_from_features(x, x)) < 1e-8
    fids = [fid_from_features(x, x + rng.normal(size=x.shape) * s) for s in (0.1, 0.5, 1.0)]
    assert fids == sorted(fids) and fids[0] > 0


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    diff = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert diff.mean > 10 * max(same.std, 1e-4)


def test_running_stats_merge_equals_one_shot():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 12))
    one = RunningStats.from_features(x)
    a = RunningStats(12).update(x[:100]).update(x[100:170])
    merged = a.merge(RunningStats(12).update(x[170:]))
    assert merged.n == 300
    np.testing.assert_allclose(merged.mean, one.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)


def test_fid_vs_n_curve_falls_towards_fid_inf():
    rng = np.random.default_rng(3)
    real = RunningStats.from_features(rng.normal(size=(2000, 8)))
    curve = fid_vs_n(real, rng.normal(size=(1000, 8)), ns=[50, 100, 200, 500, 1000], bootstrap=4)
    assert curve.mean[0] > curve.mean[-1], "FID is biased upwards at small N"
    assert curve.fid_inf < curve.mean[-1] and curve.slope > 0
    assert len(curve.std) == 5 and curve.std[-1] == 0


def test_cache_reused_and_invalidated(tmp_path, tiny_classifier):
    ext = ClassifierFeatures(tiny_classifier)
    imgs = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    s1 = cached_reference_stats("toy", imgs, ext, directory=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    s2 = cached_reference_stats("toy", imgs, ext, directory=tmp_path)
    np.testing.assert_array_equal(s1.mean, s2.mean)
    imgs2 = imgs.copy()
    imgs2[0, 0, 0, 0] ^= 1
    cached_reference_stats("toy", imgs2, ext, directory=tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2, "changed data must not reuse the old statistics"


def test_clip_score_and_per_step():
    model = tiny_text_model(0)
    scorer = ClipScorer.from_model(model)
    traj = model.sample(["a red circle", "a blue square"], steps=3, seed=0)
    sim = scorer.similarity(traj.final_images(), ["a red circle", "a blue square", "a cross"])
    assert sim.shape == (2, 3) and np.all(np.abs(sim) <= 1 + 1e-5)
    s = scorer.score(traj.final_images(), ["a red circle", "a blue square"])
    assert 0 <= s <= 100 and s == pytest.approx(np.mean(np.maximum(100 * np.diag(sim), 0)), rel=1e-4)
    assert scorer.score_per_step(traj).shape == (3, 2)


def test_inception_real_architecture_from_local_file(tmp_path, monkeypatch):
    import pytorch_fid.inception as pfi

    # pytorch-fid's FID Inception architecture, as fid_inception_v3() builds it, with random weights
    # saved as the user's "local weights file" (the real file cannot be downloaded here)
    arch = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    arch.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    arch.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    arch.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    arch.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    arch.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    arch.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    arch.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    arch.Mixed_7b = pfi.FIDInceptionE_1(1280)
    arch.Mixed_7c = pfi.FIDInceptionE_2(2048)
    torch.save(arch.state_dict(), tmp_path / "pt_inception.pth")
    ext = InceptionFeatures(weights=tmp_path / "pt_inception.pth")
    f = ext(np.zeros((2, 32, 32, 3), np.uint8))
    assert f.shape == (2, 2048) and ext.dim == 2048
    monkeypatch.delenv("DIFFVIZ_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="DIFFVIZ_INCEPTION_WEIGHTS"):
        InceptionFeatures()


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((2, 8, 8, 4), np.uint8), ValueError, "1 or 3"),
    (torch.full((2, 3, 8, 8), 3.0), ValueError, r"\[-1, 1\]"),
    (torch.full((2, 3, 8, 8), float("nan")), ValueError, "NaN"),
    (np.zeros((8, 8, 3), np.uint8), ValueError, "batch"),
])
def test_bad_images(bad, exc, match):
    with pytest.raises(exc, match=match):
        prepare_images(bad)


def test_bad_statistics():
    with pytest.raises(ValueError, match="at least 2 samples"):
        RunningStats.from_features(np.zeros((1, 4))).cov
    with pytest.raises(ValueError, match="NaN"):
        RunningStats(2).update(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2))


@pytest.mark.slow  # two accelerate processes, each importing torch and building a model
def test_two_processes_equal_one(tmp_path):
    script = tmp_path / "fid_script.py"
    script.write_text(ACCELERATE_SCRIPT)
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one.npy")], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          str(script), str(tmp_path / "two.npy")], capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = np.load(tmp_path / "one.npy"), np.load(tmp_path / "two.npy")
    assert a[1] == b[1] == 12, "all 12 images counted once"
    assert abs(a[0] - b[0]) <= 1e-6 * abs(a[0])


ACCELERATE_SCRIPT = '''
import sys, numpy as np, torch
torch.set_num_threads(1)
from accelerate import Accelerator
from diffviz.metrics import ClassifierFeatures, RunningStats, fid_from_stats
from diffviz.metrics.distributed import distributed_generated_stats
from diffviz.models.builders import build_classifier, SHAPES_CLASSIFIER_CONFIG
from diffviz.models.tiny import tiny_class_model
torch.manual_seed(0)
clf = build_classifier(dict(SHAPES_CLASSIFIER_CONFIG, width=8, feature_dim=6))
acc = Accelerator(cpu=True)
model = tiny_class_model(0)
ext = ClassifierFeatures(clf, device="cpu")
gen = distributed_generated_stats(model, [1, 2, 3], 12, ext, accelerator=acc, batch_size=3, steps=2)
real = RunningStats.from_features(torch.randn(50, 6, generator=torch.Generator().manual_seed(1)))
if acc.is_main_process:
    np.save(sys.argv[1], np.array([fid_from_stats(real, gen), gen.n]))
'''


@pytest.fixture(scope="module")
def tiny_classifier():
    from diffviz.models.builders import SHAPES_CLASSIFIER_CONFIG

    torch.manual_seed(0)
    return build_classifier(dict(SHAPES_CLASSIFIER_CONFIG, width=8, feature_dim=16))


def test_kid_is_the_unbiased_polynomial_mmd2_of_binkowski_et_al():
    """Each subset's value is the unbiased MMD² with k(x, y) = (x·y / d + 1)³ (Bińkowski et al. 2018, as in
    torchmetrics' KernelInceptionDistance), written here pair by pair; the KID is the mean over subsets."""
    from diffviz.metrics.kid import polynomial_mmd2

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(9, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    within_x = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_y = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(k(a, b) for a in x for b in y) / (m * n)
    assert polynomial_mmd2(x, y) == pytest.approx(within_x + within_y - 2 * across, rel=1e-10)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) + 0.5
    kid = kernel_inception_distance(a, b, subsets=6, subset_size=20, seed=3)
    pick = np.random.default_rng(3)
    values = [polynomial_mmd2(a[pick.choice(40, 20, replace=False)], b[pick.choice(40, 20, replace=False)])
              for _ in range(6)]
    assert (kid.mean, kid.std) == pytest.approx((np.mean(values), np.std(values)), rel=1e-12)
    assert kid.std > 0 and kid.mean > 0, "shifted sets: positive, and the subsets spread"
