"""A small training loop with resumable, atomic checkpoints — enough to train every bundled part.

AdamW with a linear warm-up (`torch.optim.lr_scheduler.LambdaLR`), gradient clipping, and for denoisers
an exponential moving average of the weights (diffusers' `EMAModel`, the one diffusers' training
scripts use). A run lives in one folder: `checkpoint.safetensors` (model, EMA and optimiser tensors, and
in its header the step, optimiser hyper-parameters, seed and — for a diffusers part — the model's
class and config, so the checkpoint alone rebuilds its model, `model_from_checkpoint`: one file, so
tensors and metadata can never disagree), `checkpoint.json` (a readable copy of that metadata, not used
to resume) and `loss.jsonl` (one line per logged step, cut back to the checkpoint's step on resume).
Every file is written to a temp file and renamed into place, so a kill -9 at any instant leaves the
previous good checkpoint. Re-running the same command resumes where it stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.training_utils import EMAModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from ..errors import DiffvizError, FileFormatError, short
from ..models.part import PART_CLASSES, part_class, plain_config
from ..utils import atomic_write, check_finite_number, check_int, kill_point, pick_device

META_KEY = "diffviz_checkpoint"


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: int = 100
    batch_size: int = 64
    seed: int = 0
    ema_decay: float | None = None  # e.g. 0.999 for denoisers
    checkpoint_every: int = 200
    log_every: int = 10
    max_minutes: float | None = None  # stop (with a checkpoint) after this wall time
    device: str | None = None
    extra: dict = field(default_factory=dict)


class Trainer:
    """Runs `loss_fn(step, generator) -> loss` on `model` with AdamW, EMA, logs and checkpoints."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[int, torch.Generator], torch.Tensor],
                 config: TrainConfig, out_dir: str | Path, callbacks: list[Callable[[int, float], None]] | None = None):
        check_int("steps", config.steps, minimum=1)
        if config.max_minutes is not None:
            check_finite_number("minutes", config.max_minutes, minimum=0.0)
            if config.max_minutes <= 0:
                raise DiffvizError(f"minutes must be > 0, got {config.max_minutes:g}")
        self.config = config
        self.device = pick_device(config.device)
        self.model = model.to(self.device).train()
        self.loss_fn = loss_fn
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.callbacks = list(callbacks or [])
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.ema = EMAModel(self.model.parameters(), decay=config.ema_decay) if config.ema_decay else None
        self.lr_scheduler: LambdaLR | None = None  # made when the run starts, at the step it resumes from
        self.step = 0
        self.stopped_short = False  # True when the time budget ended the run before config.steps
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.losses: list[float] = []

    # ---- checkpoints ---------------------------------------------------------------------
    @property
    def checkpoint_file(self) -> Path:
        return self.out / "checkpoint.safetensors"

    def save_checkpoint(self) -> None:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{name}": v.detach().cpu().contiguous()
                            for (name, _), v in zip(self.model.named_parameters(), self.ema.shadow_params)})
        opt_state = self.opt.state_dict()
        for i, st in opt_state["state"].items():
            for k, v in st.items():
                tensors[f"opt.{i}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
        meta = {"step": self.step, "param_groups": opt_state["param_groups"], "seed": self.config.seed,
                "rng": self.generator.get_state().tolist() if self.device.type == "cpu" else None,
                "ema_step": self.ema.optimization_step if self.ema is not None else None, "model": model_spec(self.model)}
        # one file: the metadata rides in the safetensors header, so it always describes these tensors
        atomic_write(self.checkpoint_file, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)}))
        kill_point("checkpoint:after-tensors")
        atomic_write(self.out / "checkpoint.json", json.dumps(meta))  # a readable copy; resuming never reads it

    def load_checkpoint(self) -> bool:
        if not self.checkpoint_file.is_file():
            return False
        meta = read_checkpoint_meta(self.checkpoint_file)
        spec, mine = meta.get("model"), model_spec(self.model)
        if spec is not None and mine is not None and _canonical(spec) != _canonical(mine):
            differ = sorted(k for k in set(spec["config"]) | set(mine["config"])
                            if _canonical(spec["config"].get(k)) != _canonical(mine["config"].get(k)))
            raise FileFormatError(f"{self.checkpoint_file} was written for a {spec['class']} built differently from this "
                                  f"{mine['class']} (config differs in: {', '.join(differ) or 'class'}); rebuild the model "
                                  "from the checkpoint (model_from_checkpoint) or start afresh in another folder")
        tensors = load_file(str(self.checkpoint_file), device=str(self.device))
        _load_into(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, self.checkpoint_file)
        if self.ema is not None:
            ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
            if ema:
                fix = getattr(self.model, "_fix_state_dict_keys_on_load", None)
                if fix is not None:  # an older checkpoint may name a part's weights as its inner module did
                    fix(ema)
                names = [name for name, _ in self.model.named_parameters()]
                missing = [n for n in names if n not in ema]
                if missing:
                    raise FileFormatError(f"{self.checkpoint_file} has no EMA weights for {short(missing[0])} "
                                          f"({len(missing)} missing); start the run afresh in another folder")
                self.ema.shadow_params = [ema[n].float().clone() for n in names]
                self.ema.optimization_step = int(meta.get("ema_step") or meta["step"])
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v.cpu() if name == "step" else v
        self.opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.step = int(meta["step"])
        if meta.get("rng") is not None:
            self.generator.set_state(torch.tensor(meta["rng"], dtype=torch.uint8))
        return True

    def ema_state_dict(self) -> dict[str, torch.Tensor]:
        """Model weights to ship: the EMA average when kept, else the raw weights."""
        state = self.model.state_dict()
        if self.ema is not None:
            state.update({name: v for (name, _), v in zip(self.model.named_parameters(), self.ema.shadow_params)})
        return state

    # ---- loop --------------------------------------------------------------------------------
    def warmup_factor(self, step: int) -> float:
        """The learning rate at `step` as a fraction of `config.lr`: a linear warm-up over `config.warmup` steps."""
        return min(1.0, (step + 1) / max(1, self.config.warmup))

    def lr_at(self, step: int) -> float:
        return self.config.lr * self.warmup_factor(step)

    def _start_lr_scheduler(self) -> None:
        """LambdaLR from the step the run is at (a resumed run continues the same schedule)."""
        for g in self.opt.param_groups:
            g["initial_lr"] = self.config.lr
        self.lr_scheduler = LambdaLR(self.opt, self.warmup_factor, last_epoch=self.step - 1)

    def run(self, resume: bool = True, progress: bool = True) -> list[float]:
        c = self.config
        if resume and self.load_checkpoint():
            print(f"resumed {self.out} at step {self.step}")
        self._start_lr_scheduler()
        self._cut_log()
        start = time.time()
        log = open(self.out / "loss.jsonl", "a")
        bar = tqdm(total=c.steps, initial=self.step, disable=not progress, desc=self.out.name)
        try:
            while self.step < c.steps:
                loss = self.loss_fn(self.step, self.generator)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.opt.step()
                self.lr_scheduler.step()
                if self.ema is not None:
                    self.ema.step(self.model.parameters())
                self.step += 1
                value = loss.item()
                self.losses.append(value)
                bar.update(1)
                if self.step % c.log_every == 0:
                    log.write(json.dumps({"step": self.step, "loss": value, "time": time.time()}) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{value:.4f}")
                for cb in self.callbacks:
                    cb(self.step, value)
                if self.step % c.checkpoint_every == 0:
                    self.save_checkpoint()
                if c.max_minutes is not None and time.time() - start > 60 * c.max_minutes and self.step < c.steps:
                    self.stopped_short = True
                    print(f"{self.out.name}: stopped short: the time budget of {c.max_minutes:g} min ended the run at step "
                          f"{self.step} of {c.steps}; run the same command again to continue")
                    break
        finally:
            bar.close()
            log.close()
        self.save_checkpoint()
        return self.losses

    def _cut_log(self) -> None:
        """Keep only loss lines up to the checkpoint's step (a resumed run repeats the steps after it;
        a kill mid-line leaves a broken last line): the log never holds a step twice."""
        path = self.out / "loss.jsonl"
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if int(json.loads(line)["step"]) <= self.step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        atomic_write(path, "".join(k + "\n" for k in kept))


def read_checkpoint_meta(file: str | Path) -> dict:
    """The metadata stored with a checkpoint's tensors (older checkpoints: its checkpoint.json, which must
    then name the same step as the tensors' stamp when there is one)."""
    file = Path(file)
    try:
        with safe_open(str(file), framework="pt") as fh:
            header = fh.metadata() or {}
    except Exception as err:  # safetensors' own error type: a truncated or foreign file
        raise FileFormatError(f"{file} is not a readable checkpoint (truncated or corrupted?): {str(err)[:120]}") from None
    if META_KEY in header:
        return json.loads(header[META_KEY])
    legacy = file.with_name("checkpoint.json")
    if not legacy.is_file():
        raise FileFormatError(f"{file} has no step metadata and {legacy.name} is missing: start the run afresh")
    return json.loads(legacy.read_text())


def model_spec(model) -> dict | None:
    """{"class", "config"} that rebuilds `model` (a diffusers part named in PART_CLASSES), else None."""
    if isinstance(model, ConfigMixin) and PART_CLASSES.get(type(model).__name__) is type(model):
        return {"class": type(model).__name__, "config": plain_config(model)}
    return None


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _load_into(model: torch.nn.Module, state: dict, file: Path) -> None:
    fix = getattr(model, "_fix_state_dict_keys_on_load", None)
    if fix is not None:  # an older checkpoint may name a part's weights as its inner module did
        fix(state)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).split("\n")[1].strip()[:160] if "\n" in str(err) else str(err)[:160]
        raise FileFormatError(f"{file} does not fit this {type(model).__name__} ({first}); it was written for a model "
                              "built differently (an older checkpoint names no config): start afresh in another folder") from None


def checkpoint_spec(file: str | Path) -> dict | None:
    """The model class and config a checkpoint names ({"class", "config"}), None for an older checkpoint or none."""
    file = Path(file)
    return read_checkpoint_meta(file).get("model") if file.is_file() else None


def model_from_checkpoint(file: str | Path, ema: bool = True, build: Callable[[], torch.nn.Module] | None = None):
    """The model a checkpoint holds, rebuilt from the checkpoint alone (its class and config), with its EMA
    weights when it kept them (`ema`), in eval mode. `build` makes the model for an older checkpoint that
    names no config; without it such a checkpoint is refused."""
    file = Path(file)
    spec = checkpoint_spec(file)
    if spec is not None:
        model = part_class(spec["class"]).from_config(spec["config"])
    elif build is not None:
        model = build()
    else:
        raise FileFormatError(f"{file} was written by an older diffviz and names no model config; "
                              "build the model and resume it with Trainer, or retrain")
    tensors = load_file(str(file))
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    if ema:
        averaged = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        fix = getattr(model, "_fix_state_dict_keys_on_load", None)
        if fix is not None and averaged:
            fix(state)
            fix(averaged)
        state.update(averaged)
    _load_into(model, state, file)
    return model.eval()
