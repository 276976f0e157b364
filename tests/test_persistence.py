"""save_pretrained / from_pretrained and Trajectory save / load round trips; unsafe folders refused."""
import json

import numpy as np
import pytest
import torch

import diffviz
from diffviz.diffusion.trajectory import Trajectory
from diffviz.models.io import ModelFolderError


@pytest.mark.parametrize("fixture", ["text_model", "class_model", "uncond_model"])
def test_model_round_trip_same_samples(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    cond = {"text_model": ["a red circle"], "class_model": [4], "uncond_model": None}[fixture]
    model.save_pretrained(tmp_path / "m", dtype=torch.float32)
    loaded = diffviz.load(tmp_path / "m")
    assert loaded.kind == model.kind and loaded.latent == model.latent and loaded.sample_shape == model.sample_shape
    a = model.sample(cond, num_images=None if cond else 1, steps=3, seed=5, guidance=None if cond else 1.0)
    b = loaded.sample(cond, num_images=None if cond else 1, steps=3, seed=5, guidance=None if cond else 1.0)
    # same weights bit for bit; conv kernels may round differently after a reload, and x̂0 at
    # ᾱ≈4e-5 amplifies that ~150x, hence the float32-rounding tolerance
    assert torch.allclose(a.final, b.final, atol=1e-3)


def test_fp16_storage_is_close(text_model, tmp_path):
    text_model.save_pretrained(tmp_path / "m")  # fp16 on disk by default
    loaded = diffviz.load(tmp_path / "m")
    assert next(loaded.unet.parameters()).dtype == torch.float32
    a = text_model.sample(["a red circle"], steps=3, seed=5).eps[0]
    b = loaded.sample(["a red circle"], steps=3, seed=5).eps[0]
    assert (a - b).abs().max() < 0.02 * a.abs().max(), "fp16 weights give the same first noise prediction to ~1 %"



def test_trajectory_save_load_and_slicing(class_model, tmp_path):
    traj = class_model.sample([1, 2], steps=5, seed=0)
    traj.save(tmp_path / "t")
    back = Trajectory.load(tmp_path / "t")
    for f in ("timesteps", "x_t", "eps", "x0_pred", "final", "eps_cond", "eps_uncond"):
        assert torch.equal(getattr(traj, f), getattr(back, f)), f
    assert back.meta["conditions"] == [1, 2] and back.meta["scheduler"] == "ddim"
    part = traj[1:3]
    assert part.num_steps == 2 and torch.equal(part.x_t, traj.x_t[1:3])
    step = traj[-1]
    assert torch.equal(step["eps"], traj.eps[-1])
    np.testing.assert_array_equal(part.final_images(), traj.final_images())
    with pytest.raises(IndexError):
        traj[5]


def test_refuses_pickle_weights(text_model, tmp_path):
    folder = text_model.save_pretrained(tmp_path / "m")
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelFolderError, match="pickle"):
        diffviz.load(folder)


def test_missing_and_corrupt_files(class_model, tmp_path):
    folder = class_model.save_pretrained(tmp_path / "m")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match="truncated or corrupted"):
        diffviz.load(folder)
    weights.unlink()
    with pytest.raises(ModelFolderError, match="no .safetensors"):
        diffviz.load(folder)
    (folder / "model_index.json").unlink()
    with pytest.raises(ModelFolderError, match="model_index.json is missing"):
        diffviz.load(folder)


def test_other_model_type_folder(tmp_path):
    """A diffusers pipeline folder loads (tests/test_byo_diffusers.py); a broken one says what is missing."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelFolderError, match="none of its parts"):
        diffviz.load(tmp_path / "m")
    (tmp_path / "m" / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
                                                                 "scheduler": ["diffusers", "DDPMScheduler"]}))
    with pytest.raises(ModelFolderError, match="missing the unet/, scheduler/ folder"):
        diffviz.load(tmp_path / "m")


def test_failed_save_keeps_old_folder(class_model, tmp_path, monkeypatch):
    folder = class_model.save_pretrained(tmp_path / "m")
    before = sorted(p.name for p in folder.rglob("*"))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(type(class_model.unet), "save_pretrained", boom)
    dtype_before = next(class_model.unet.parameters()).dtype
    with pytest.raises(OSError):
        class_model.save_pretrained(folder)
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert next(class_model.unet.parameters()).dtype == dtype_before == torch.float32
    assert diffviz.load(folder).kind == "class"


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_written_files_get_the_umask_mode(class_model, tmp_path, mask):
    """Chapter copies, a lecture page, a picture and a model folder get 0666/0777 less the umask (as open()
    and mkdir() give), not the temp file's 0600; a file that exists keeps its own mode."""
    import os
    import stat

    from diffviz.cli import main
    from diffviz.content import copy_chapters
    from diffviz.export import Section, export_html
    from diffviz.utils import atomic_write

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    old = os.umask(mask)
    try:
        chapters = copy_chapters(tmp_path / "ch")
        page = export_html(tmp_path / "lecture.html", [Section("one", players=[{"rows": {"x": np.zeros((2, 1, 4, 4, 3), np.uint8)}}])])
        assert main(["sample", "--model", "tiny-class", "--steps", "2", "3", "-o", str(tmp_path / "s.png")]) == 0
        folder = class_model.save_pretrained(tmp_path / "m")
        kept = tmp_path / "private.txt"
        kept.write_text("x")
        kept.chmod(0o600)
        atomic_write(kept, "y")
    finally:
        os.umask(old)
    files = [*chapters, page, tmp_path / "s.png", *(p for p in folder.rglob("*") if p.is_file())]
    assert {mode(p) for p in files} == {0o666 & ~mask}, sorted({oct(mode(p)) for p in files})
    assert {mode(p) for p in [folder, *(p for p in folder.rglob("*") if p.is_dir())]} == {0o777 & ~mask}
    assert mode(kept) == 0o600 and kept.read_text() == "y"
