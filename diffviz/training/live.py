"""Live training from scratch: a noise predictor learning while you watch, in a background thread.

    lab = LiveTraining(DigitsTask())      # or ToyTask("moons"), ToyTask("text", text="扩散")
    lab.start(); ...; lab.pause(); lab.resume(); lab.reset()
    snap = lab.snapshot()                 # a consistent copy: loss history, samples over training time, …

Every step is the lecture's recipe: take a batch of clean data x0, random steps t and noises ε, make
x_t with the forward process (`objective.noise_prediction`), and nudge the network to predict ε
(AdamW on ‖ε − ε̂‖², gradients clipped, an EMA of the weights kept with diffusers' `EMAModel`).
Every `sample_every` steps the EMA weights generate from one fixed noise batch (same seed every
time), so the samples kept form a film of the model learning. The forward pairs of the latest batch
(x0, t, x_t, ε, ε̂) are kept too: what the network is being taught right now.

Thread safety: the training thread owns the model; everything a reader sees goes through
`snapshot()`, which copies under a lock. `pause()` returns once the thread has stopped between two
steps; `reset()` stops the thread and starts again from fresh weights (same seed: same run).
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import EMAModel

from ..data.toy2d import TOY_NAMES, toy_points
from ..diffusion.guidance import drop_conditions
from ..diffusion.objective import NoisePrediction, noise_prediction
from ..diffusion.points import reverse_points
from ..diffusion.schedule import Schedule
from ..errors import DiffvizError
from ..models import builders
from ..models.conditioning import ClassConditioner
from ..models.pipeline import DiffusionModel
from ..models.toy2d import ToyDenoiser
from ..utils import check_int
from .recipes import CAPTION_DROPOUT, _shift, digits_data

STATES = ("idle", "running", "paused", "done")
MAX_FRAMES = 60  # sample frames kept; beyond, every other old one is dropped (the film stays evenly spaced)
MAX_STEPS = 1_000_000


# ---- what is learnt --------------------------------------------------------------------------------
class LabTask:
    """A data set, a network and how to sample it: subclasses say which."""

    kind = "images"  # or "points"
    schedule_name = "cosine"
    lr, batch_size, ema_decay, warmup = 1e-3, 64, 0.999, 50
    default_steps, sample_every = 2000, 100

    def __init__(self):
        self.schedule = Schedule.from_name(self.schedule_name)

    @property
    def title(self) -> str:
        return type(self).__name__

    def build(self) -> torch.nn.Module:
        raise NotImplementedError

    def pairs(self, model, step: int, g: torch.Generator) -> tuple[NoisePrediction, list | None]:
        """One training batch: (the pairs and the network's prediction with the loss, labels or None)."""
        raise NotImplementedError

    def sample(self, model) -> np.ndarray:
        """Samples from the task's fixed noise batch: uint8 images (B, H, W, 3) or points (N, 2)."""
        raise NotImplementedError

    def scheduler_config(self) -> dict:
        return dict(DDPMScheduler(num_train_timesteps=self.schedule.num_train_timesteps,
                                  beta_schedule=builders_schedule(self.schedule_name)).config)


def builders_schedule(name: str) -> str:
    from ..diffusion.schedule import SCHEDULE_NAMES

    return SCHEDULE_NAMES[name]


# A UNet small enough to learn the digits in minutes on two CPU cores (the bundled one is 4× wider, 6 000 steps).
LAB_DIGITS_CONFIG = dict(builders.DIGITS_UNET_CONFIG, block_out_channels=[16, 32, 32], norm_num_groups=8,
                         down_block_types=["DownBlock2D"] * 3, up_block_types=["UpBlock2D"] * 3)


class DigitsTask(LabTask):
    """The handwritten digits at 16×16, class-conditional (10 % of labels dropped, for guidance)."""

    kind = "images"
    lr, batch_size, ema_decay = 2e-3, 64, 0.995
    default_steps, sample_every = 3000, 100

    def __init__(self, config: dict | None = None, sample_steps: int = 20, guidance: float = 1.5, per_class: int = 2):
        super().__init__()
        self.config = dict(config or LAB_DIGITS_CONFIG)
        self.images, self.labels = digits_data(16, "train")
        self.sample_steps, self.guidance, self.per_class = sample_steps, guidance, per_class
        self.classes = [d for _ in range(per_class) for d in range(10)]

    @property
    def title(self) -> str:
        return "digits"

    def build(self):
        return builders.build_class_unet(self.config)

    def pairs(self, model, step, g):
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=g).cpu()
        x0 = _shift(self.images[idx], g)
        null = self.config["num_class_embeds"] - 1
        lab = drop_conditions(self.labels[idx], torch.full_like(self.labels[idx], null), CAPTION_DROPOUT, g)
        return noise_prediction(model, self.schedule, x0, cond=lab, generator=g), [None if int(v) == null else int(v) for v in lab]

    def as_model(self, unet) -> DiffusionModel:
        return DiffusionModel(unet, self.scheduler_config(), ClassConditioner(10),
                              meta={"name": "lab digits", "image_size": 16, "default_guidance": self.guidance,
                                    "guidance_range": [1.0, 2.0]})

    def sample(self, model, conditions=None, seed: int = 0) -> np.ndarray:
        return self.as_model(model).sample(self.classes if conditions is None else conditions, steps=self.sample_steps,
                                           guidance=self.guidance, scheduler="ddim", seed=seed, decode_steps=False).final_images()


class ToyTask(LabTask):
    """2-D points: two moons, a swiss roll, a spiral, or a typed character or word."""

    kind = "points"
    schedule_name = "linear"
    lr, batch_size, ema_decay, warmup = 2e-3, 512, 0.99, 50
    default_steps, sample_every = 3000, 100

    def __init__(self, name: str = "moons", text: str = "A", n_data: int = 20_000, n_samples: int = 600,
                 sample_steps: int = 50, width: int = 128, depth: int = 3):
        super().__init__()
        self.name, self.text = name, text
        self.data = torch.from_numpy(toy_points(name, n_data, seed=0, text=text))  # checks name and text
        self.n_samples, self.sample_steps = n_samples, sample_steps
        self.width, self.depth = width, depth

    @property
    def title(self) -> str:
        return f"{self.name}: {self.text}" if self.name == "text" else self.name

    def reference(self, n: int, seed: int = 1) -> np.ndarray:
        """Fresh data points (another draw than the training set)."""
        return toy_points(self.name, n, seed=seed, text=self.text)

    def build(self):
        return ToyDenoiser(width=self.width, depth=self.depth, num_train_timesteps=self.schedule.num_train_timesteps)

    def pairs(self, model, step, g):
        x0 = self.data[torch.randint(0, len(self.data), (self.batch_size,), generator=g)]
        return noise_prediction(model, self.schedule, x0, generator=g), None

    def sample(self, model, n: int | None = None, steps: int | None = None, seed: int = 0) -> np.ndarray:
        traj = reverse_points(model, self.schedule, n or self.n_samples, steps=steps or self.sample_steps, seed=seed)
        return traj.final.numpy()


def make_task(data: str = "digits", text: str = "A") -> LabTask:
    """A task by name: "digits" or a 2-D set (moons, swiss_roll, spiral, text)."""
    if data == "digits":
        return DigitsTask()
    if data in TOY_NAMES:
        return ToyTask(data, text=text)
    raise DiffvizError(f"unknown training data {data!r}; allowed: digits, {', '.join(TOY_NAMES)}")


# ---- what a reader sees ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Pairs:
    """The forward pairs of the latest batch (first `n` items): what the network is taught right now."""
    step: int
    x0: np.ndarray
    t: np.ndarray
    x_t: np.ndarray
    noise: np.ndarray
    eps_pred: np.ndarray
    labels: list | None = None


@dataclass(frozen=True)
class Snapshot:
    state: str  # idle, running, paused, done
    step: int  # optimiser steps taken
    target: int  # steps the run goes to
    steps: np.ndarray  # step of each loss value
    losses: np.ndarray  # the loss of every step
    smoothed: np.ndarray  # its exponential moving average (bias-corrected)
    samples: list = field(default_factory=list)  # [(step, samples from the fixed noise)], in step order
    pairs: Pairs | None = None
    seconds: float = 0.0  # training time (pauses and sampling excluded)
    error: str | None = None

    @property
    def loss(self) -> float | None:
        return float(self.losses[-1]) if len(self.losses) else None


def smooth(values, weight: float = 0.98) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing): no dip at the start."""
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * float(v)
        out[i] = avg / (1 - weight ** (i + 1))
    return out


class LiveTraining:
    """Train `task`'s network from scratch in a background thread; see the module docstring."""

    def __init__(self, task: LabTask | str = "digits", *, steps: int | None = None, sample_every: int | None = None,
                 seed: int = 0, pairs_shown: int = 8, smoothing: float = 0.98):
        self.task = make_task(task) if isinstance(task, str) else task
        self.seed = check_int("seed", seed, minimum=0)
        self.target = check_int("steps", steps if steps is not None else self.task.default_steps, minimum=1, maximum=MAX_STEPS)
        self.sample_every = check_int("sample_every", sample_every or self.task.sample_every, minimum=1)
        self.pairs_shown = pairs_shown
        self.smoothing = smoothing
        self._lock = threading.RLock()  # guards everything a snapshot reads
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[["LiveTraining"], None]] = []
        self._fresh()

    # ---- state ------------------------------------------------------------------------------------
    def _fresh(self) -> None:
        torch.manual_seed(self.seed)
        self.model = self.task.build().train()
        self.ema_model = copy.deepcopy(self.model).eval()  # what samples are drawn with
        self.ema = EMAModel(self.model.parameters(), decay=self.task.ema_decay)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.task.lr)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.step = 0
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._avg = 0.0
        self._samples: list[tuple[int, np.ndarray]] = []
        self._pairs: Pairs | None = None
        self._seconds = 0.0
        self._state = "idle"
        self._pause = self._stop = False
        self._error: str | None = None

    @property
    def state(self) -> str:
        return self._state

    def snapshot(self) -> Snapshot:
        """A consistent copy of everything shown (safe to read while training runs)."""
        with self._lock:
            n = len(self._losses)
            return Snapshot(self._state, self.step, self.target, np.arange(1, n + 1), np.array(self._losses),
                            np.array(self._smoothed), list(self._samples), self._pairs, self._seconds, self._error)

    def on_update(self, fn: Callable[["LiveTraining"], None]) -> None:
        """Call fn(lab) from the training thread after every step and state change (keep fn quick)."""
        self._listeners.append(fn)

    def _notify(self) -> None:
        for fn in list(self._listeners):
            try:
                fn(self)
            except Exception:  # a listener's bug must not stop training
                pass

    # ---- control ----------------------------------------------------------------------------------
    def start(self) -> "LiveTraining":
        """Start training in the background (or resume when paused; go on to a raised `target` when done)."""
        with self._lock:
            if self._state == "paused" and self._thread is not None and self._thread.is_alive():
                self._pause = False
                self._state = "running"
                self._wake.notify_all()
                return self
            if self._thread is not None and self._thread.is_alive():
                return self
            if self.step >= self.target:
                self._state = "done"
                raise DiffvizError(f"the run has reached its {self.target} steps: raise the number of steps to go on")
            self._pause = self._stop = False
            self._state = "running"
            self._thread = threading.Thread(target=self._loop, name="diffviz-live-training", daemon=True)
            self._thread.start()
        self._notify()
        return self

    def pause(self, timeout: float = 60) -> "LiveTraining":
        """Stop between two steps; returns when the thread has stopped (or at once when not running)."""
        with self._lock:
            if self._state != "running":
                return self
            self._pause = True
            self._wake.wait_for(lambda: self._state != "running", timeout)
        self._notify()
        return self

    def resume(self) -> "LiveTraining":
        return self.start()

    def reset(self, task: LabTask | None = None) -> "LiveTraining":
        """Stop, and start over from fresh weights (the same seed gives the same run); optionally a new task."""
        self._halt()
        with self._lock:
            if task is not None:
                self.task = task
                self.sample_every = task.sample_every
            self._fresh()
        self._notify()
        return self

    def set_target(self, steps: int) -> None:
        self.target = check_int("steps", steps, minimum=1, maximum=MAX_STEPS)

    def _halt(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None

    def wait(self, timeout: float | None = None) -> "LiveTraining":
        """Block until the background run has stopped (done, paused or reset)."""
        end = None if timeout is None else time.time() + timeout
        with self._lock:
            self._wake.wait_for(lambda: self._state != "running", None if end is None else max(0.0, end - time.time()))
        return self

    # ---- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while self._pause and not self._stop:
                        if self._state != "paused":
                            self._state = "paused"
                            self._wake.notify_all()
                            threading.Thread(target=self._notify, daemon=True).start()
                        self._wake.wait()
                    if self._stop:
                        return
                    if self._state == "paused":
                        self._state = "running"
                    if self.step >= self.target:
                        self._state = "done"
                        self._wake.notify_all()
                        break
                self.train_step()
                self._notify()
        except Exception as err:  # shown, not raised into a thread nobody joins
            with self._lock:
                self._error = f"{type(err).__name__}: {str(err)[:300]}"
                self._state = "done"
                self._wake.notify_all()
        self._notify()

    def train(self, steps: int | None = None, seconds: float | None = None) -> Snapshot:
        """Train in the calling thread (scripts, benchmarks, tests): `steps` more steps or `seconds` of
        training, at most up to the target. Not while the background thread runs."""
        if self._thread is not None and self._thread.is_alive():
            raise DiffvizError("training runs in the background: pause it first")
        end_step = self.target if steps is None else min(self.target, self.step + int(steps))
        start = time.time()
        while self.step < end_step and (seconds is None or time.time() - start < seconds):
            self.train_step()
        with self._lock:
            self._state = "done" if self.step >= self.target else ("paused" if self.step else "idle")
        return self.snapshot()

    def train_step(self) -> float:
        """One optimiser step (and, every `sample_every` steps, samples from the fixed noise)."""
        if self.step == 0 and not self._samples:
            self._record_samples()  # the untrained network's output: the film's first frame
        t0 = time.time()
        for group in self.opt.param_groups:
            group["lr"] = self.task.lr * min(1.0, (self.step + 1) / max(1, self.task.warmup))
        out, labels = self.task.pairs(self.model, self.step, self.generator)
        if not torch.isfinite(out.loss):
            raise FloatingPointError(f"the loss became {out.loss.item()} at step {self.step}")
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.ema.step(self.model.parameters())
        value = float(out.loss.detach())
        k = self.pairs_shown if self.task.kind == "images" else len(out.x0)
        pairs = Pairs(self.step + 1, *(v[:k].detach().cpu().numpy() for v in (out.x0, out.t, out.x_t, out.noise, out.eps_pred)),
                      labels=None if labels is None else labels[:k])
        with self._lock:
            self.step += 1
            self._avg = self.smoothing * self._avg + (1 - self.smoothing) * value
            self._losses.append(value)
            self._smoothed.append(self._avg / (1 - self.smoothing ** self.step))
            self._pairs = pairs
            self._seconds += time.time() - t0
        if self.step % self.sample_every == 0 or self.step == self.target:
            self._record_samples()
        return value

    def ema_network(self) -> torch.nn.Module:
        """A copy of the network with the EMA weights (what the samples are drawn with)."""
        self.ema.copy_to(self.ema_model.parameters())
        return self.ema_model

    def _record_samples(self) -> None:
        samples = self.task.sample(self.ema_network())
        with self._lock:
            self._samples.append((self.step, samples))
            if len(self._samples) > MAX_FRAMES:  # thin the older half, keep the newest and the first
                self._samples = self._samples[:1] + self._samples[1:-1][1::2] + self._samples[-1:]

    def trained_model(self) -> DiffusionModel | torch.nn.Module:
        """The network as trained so far (EMA weights, a copy): a `DiffusionModel` for images (use it in
        ReverseProcess, model.sample…), the bare 2-D predictor for points."""
        with self._lock:
            net = copy.deepcopy(self.ema_network())
        return self.task.as_model(net) if isinstance(self.task, DigitsTask) else net
