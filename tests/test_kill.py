"""kill -9 at the exact instants between the steps of a save: what is left always loads, and agrees with itself.

Each save runs in a child process with DIFFVIZ_KILL_AT naming a point (diffviz.utils.kill_point); the child
SIGKILLs itself there, and the test checks the files it left.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import diffviz
from diffviz.models.tiny import tiny_class_model

ROOT = Path(__file__).resolve().parents[1]

SAVE_MODEL = """
import sys, torch
from diffviz.models.tiny import tiny_class_model
m = tiny_class_model(seed=1)
m.save_pretrained(sys.argv[1])
"""

SAVE_CHECKPOINT = """
import sys, torch
from diffviz.training.trainer import Trainer, TrainConfig
torch.manual_seed(0)
model = torch.nn.Linear(3, 1)
x = torch.randn(16, 3)
loss_fn = lambda step, g: ((model(x) - 1) ** 2).mean()
t = Trainer(model, loss_fn, TrainConfig(steps=int(sys.argv[2]), warmup=1, checkpoint_every=5, log_every=1, device="cpu"), sys.argv[1])
t.run(progress=False)
"""

SAVE_TRAJECTORY = """
import sys
from diffviz.models.tiny import tiny_class_model
tiny_class_model(seed=0).sample([int(sys.argv[2])], steps=2).save(sys.argv[1])
"""


def killed_at(point: str, script: str, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, DIFFVIZ_KILL_AT=point, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the child was not killed at {point}: rc {proc.returncode} {proc.stderr[-500:]}"
    return proc


def weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.unet.parameters()]


@pytest.fixture
def saved_model(tmp_path):
    old = tiny_class_model(seed=0)
    old.save_pretrained(tmp_path / "m")
    return tmp_path / "m", weights(diffviz.load(tmp_path / "m"))


@pytest.mark.parametrize("point, which", [("folder:built", "old"), ("folder:between-renames", "old"),
                                          ("folder:after-swap", "new")])
def test_a_model_folder_always_loads_after_a_kill(saved_model, point, which):
    folder, old = saved_model
    killed_at(point, SAVE_MODEL, folder)
    model = diffviz.load(folder)  # old or new, never nothing
    new = weights(tiny_class_model(seed=1))
    expect = old if which == "old" else [w.half().float() for w in new]
    assert all(torch.allclose(a, b, atol=1e-3) for a, b in zip(weights(model), expect)), f"the {which} model after a kill at {point}"
    left = sorted(p.name for p in folder.parent.iterdir())
    assert left == ["m"], f"no temp or .old folder stays after the load: {left}"


def test_a_bundled_name_survives_a_kill_between_the_renames(tmp_path, monkeypatch):
    import diffviz.models.registry as registry

    monkeypatch.setattr(registry, "BUNDLED_DIR", tmp_path)
    tiny_class_model(seed=0).save_pretrained(tmp_path / "toy")
    killed_at("folder:between-renames", SAVE_MODEL, tmp_path / "toy")
    assert not (tmp_path / "toy").exists() and "toy" in registry.bundled_names()
    assert diffviz.load("toy").kind == "class" and (tmp_path / "toy").is_dir()


def test_the_next_save_cleans_what_a_killed_save_left(saved_model):
    folder, _ = saved_model
    killed_at("folder:built", SAVE_MODEL, folder)
    assert any(p.name.startswith(".m.tmp-") for p in folder.parent.iterdir()), "the killed save left its temp folder"
    tiny_class_model(seed=2).save_pretrained(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["m"]


def test_a_checkpoint_never_disagrees_with_its_metadata(tmp_path):
    from diffviz.training.trainer import TrainConfig, Trainer, read_checkpoint_meta

    run = tmp_path / "run"
    subprocess.run([sys.executable, "-c", SAVE_CHECKPOINT, str(run), "10"], check=True, timeout=300,
                   env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"), capture_output=True)
    # resume to 15 steps; killed right after the tensors of step 15 are in place, before checkpoint.json follows
    killed_at("checkpoint:after-tensors", SAVE_CHECKPOINT, run, 15)
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 10, "the readable copy is behind"
    assert read_checkpoint_meta(run / "checkpoint.safetensors")["step"] == 15, "the tensors carry their own step"
    model = torch.nn.Linear(3, 1)
    t = Trainer(model, lambda s, g: model.weight.sum(), TrainConfig(steps=15, device="cpu"), run)
    assert t.load_checkpoint() and t.step == 15
    t.run(progress=False)  # nothing left to do; the log is cut to the checkpoint's step
    steps = [json.loads(line)["step"] for line in (run / "loss.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and max(steps) <= 15, "no step is logged twice after a resume"


def test_a_resumed_run_logs_each_step_once(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", SAVE_CHECKPOINT, str(run), "7"], check=True, timeout=300, env=env, capture_output=True)
    # the run logged steps 1..7 but its last checkpoint is 7 (the final save); fake a kill after step 7's log by
    # appending lines of steps it will redo from checkpoint 5
    (run / "loss.jsonl").open("a").write('{"step": 8, "loss": 1.0}\n{"step": 9, "lo')
    subprocess.run([sys.executable, "-c", SAVE_CHECKPOINT, str(run), "12"], check=True, timeout=300, env=env, capture_output=True)
    steps = [json.loads(line)["step"] for line in (run / "loss.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))


@pytest.mark.slow  # three child processes, each importing torch and diffusers
def test_a_trajectory_killed_between_its_two_files_loads_whole(tmp_path):
    killed_at("trajectory:after-tensors", SAVE_TRAJECTORY, tmp_path / "t", 3)
    traj = diffviz.Trajectory.load(tmp_path / "t")
    assert traj.meta["conditions"] == [3] and traj.num_steps == 2
    SAVE = SAVE_TRAJECTORY
    subprocess.run([sys.executable, "-c", SAVE, str(tmp_path / "t"), "5"], check=True, timeout=300,
                   env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"), capture_output=True)
    killed_at("trajectory:after-tensors", SAVE_TRAJECTORY, tmp_path / "t", 7)
    traj = diffviz.Trajectory.load(tmp_path / "t")
    assert traj.meta["conditions"] == [7], "metadata comes with the tensors, not from the older trajectory.json"
    assert json.loads((tmp_path / "t" / "trajectory.json").read_text())["meta"]["conditions"] == [5]


WRITE_FILE = """
import sys
from diffviz.utils import atomic_write
atomic_write(sys.argv[1], "new")
"""


def test_the_next_write_cleans_what_a_killed_file_write_left(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    killed_at("file:written", WRITE_FILE, target)
    assert target.read_text() == "old", "a write killed before its rename leaves the old file whole"
    left = [p.name for p in tmp_path.iterdir() if p.name != "notes.txt"]
    assert left and all(n.startswith(".diffviz-tmp-notes.txt.") for n in left), left
    from diffviz.utils import atomic_write

    atomic_write(target, "newer")
    assert target.read_text() == "newer" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
