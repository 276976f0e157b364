"""Bad-input sweep: feed the public API, the widgets and the CLI bad values and classify each answer.

    PYTHONPATH=. python benchmarks/bad_input_sweep.py [--verbose] [--only api|widget|cli]

Each case says what a good answer is:
- refuse: the call must be refused with a short message (<= 300 characters, one line) that names the
  thing that was wrong (a keyword the case gives): a diffviz error (or a traitlets validator's TraitError)
  from code, the widget's error banner, or `diffviz ...` exiting 2 with one line on stderr.
- notice: the call runs, and says so (a warning, a widget notice, or a CLI message naming the keyword).
- accept: a valid value (numpy scalars are numbers) is accepted and gives the right result.
- either: a clear refusal, or the call runs and says so / gives the right result (both are good answers).

Answers are classified as
- clear: what the case asks for;
- unclear: refused, but with a library's message (raised outside diffviz), a long or multi-line one, one
  without the keyword, a valid value refused, or a CLI error given as an internal error;
- traceback: an exception type that is no refusal (ZeroDivisionError, RuntimeError, KeyError, …) escaped the
  API or a widget action, or a CLI run printed a Python traceback;
- silently wrong: no error and no notice where one was due, or a wrong result.
Cases are generated from tables (parameter × bad value), plus the hand-picked ones the issue lists.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("DIFFVIZ_CACHE", tempfile.mkdtemp(prefix="sweep-cache-"))
torch.set_num_threads(int(os.environ.get("DIFFVIZ_TEST_THREADS", "1")))

import traitlets  # noqa: E402

import diffviz  # noqa: E402

PKG = str(Path(diffviz.__file__).resolve().parent)
LONG = "a red circle " * 385  # 5,005 characters
REFUSALS = (ValueError, TypeError, traitlets.TraitError)
MAX_LEN = 300


def diffviz_error():
    try:
        from diffviz.errors import DiffvizError
        return DiffvizError
    except ImportError:
        return ()


def raised_in_diffviz(err: BaseException) -> bool:
    """Whether the innermost frame that raised `err` is diffviz code (not a library's error passed on)."""
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and str(Path(last).resolve()).startswith(PKG)


def judge_message(msg: str, keyword: str) -> str | None:
    """None when the message is short, one line and names the keyword; else why it is unclear."""
    if len(msg) > MAX_LEN:
        return f"message is {len(msg)} characters"
    if "\n" in msg.strip():
        return "message spans several lines"
    if keyword and not re.search(keyword, msg, re.I):
        return f"message does not name {keyword!r}"
    if re.match(r"^\w+(Error|Exception):", msg.strip()):
        return "message is a bare exception"
    return None


class Case:
    def __init__(self, surface, name, fn, expect="refuse", keyword="", check=None, isolate=False):
        self.surface, self.name, self.fn, self.expect, self.keyword, self.check = surface, name, fn, expect, keyword, check
        self.isolate = isolate or any(h in name for h in ("10**9", "10**6", "100000", "huge"))  # huge values: run in a forked child with a memory and time cap


def run_isolated(runner, case: Case, extra_gb: float = 3.0, seconds: int = 90) -> tuple[str, str]:
    """Run one case in a forked child capped at (its current size + extra_gb) of memory and `seconds`:
    a value that makes diffviz allocate gigabytes or loop for minutes is answered, not allowed to kill the sweep."""
    import resource
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            with open("/proc/self/statm") as fh:
                vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (vm + int(extra_gb * 2**30), resource.RLIM_INFINITY))
            signal.alarm(seconds)
            verdict = runner(case)
        except MemoryError:
            verdict = ("silently wrong", f"tried to allocate more than {extra_gb:g} GB (MemoryError)")
        except BaseException as err:  # noqa: BLE001
            verdict = ("traceback", f"{type(err).__name__}: {str(err)[:120]}")
        os.write(w, json.dumps(verdict).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return "silently wrong", f"the run was killed (signal {sig}: out of memory or over {seconds} s)"
    return tuple(json.loads(data))


def classify_exception(case: Case, err: BaseException) -> tuple[str, str]:
    msg = str(err)
    if case.expect == "either":
        case = Case(case.surface, case.name, case.fn, "refuse", case.keyword, case.check)
    if isinstance(err, traitlets.TraitError) and case.surface == "widget":
        why = judge_message(msg, case.keyword)
        return ("clear", msg) if why is None and case.expect == "refuse" else ("unclear", why or "valid value refused")
    if not isinstance(err, REFUSALS) and not (diffviz_error() and isinstance(err, diffviz_error())):
        return "traceback", f"{type(err).__name__}: {msg[:120]}"
    if case.expect != "refuse":
        return "unclear", f"valid input refused: {type(err).__name__}: {msg[:120]}"
    if not raised_in_diffviz(err):
        return "unclear", f"library error passed on: {type(err).__name__}: {msg[:120]}"
    why = judge_message(msg, case.keyword)
    return ("clear", msg[:120]) if why is None else ("unclear", f"{why}: {msg[:120]}")


def run_api(case: Case) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.fn()
        except Exception as err:  # noqa: BLE001 — the sweep classifies every answer
            return classify_exception(case, err)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if case.expect == "either":
        case = Case(case.surface, case.name, case.fn, "notice" if case.check is None else "accept", case.keyword, case.check)
    if case.expect == "refuse":
        return "silently wrong", f"accepted (result {str(result)[:60]!r})"
    if case.expect == "notice":
        hit = [n for n in notes if re.search(case.keyword, n, re.I)]
        if not hit:
            return "silently wrong", "no notice"
        why = judge_message(hit[0], case.keyword)
        return ("clear", hit[0][:120]) if why is None else ("unclear", why)
    if case.check is not None and not case.check(result):
        return "silently wrong", f"wrong result {str(result)[:80]!r}"
    return "clear", "accepted"


def banner_text(view) -> tuple[str, str]:
    value = view.banner.value if view.banner.layout.display != "none" else ""
    kind = "error" if "dv-error" in value else "notice" if "dv-notice" in value else ""
    text = re.sub(r"<[^>]+>", "", value).replace("⚠", "").replace("ℹ", "").strip()
    import html
    return kind, html.unescape(text)


def run_widget(case: Case) -> tuple[str, str]:
    """fn returns the view after the action (or raises); the banner is the answer."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            view = case.fn()
        except Exception as err:  # noqa: BLE001
            return classify_exception(case, err)
    kind, text = banner_text(view) if hasattr(view, "banner") else ("", "")
    if case.expect == "either":
        case = Case(case.surface, case.name, case.fn, "refuse" if kind == "error" else "notice", case.keyword, case.check)
        if kind != "error" and hasattr(view, "guidance_note") and view.guidance_note.layout.display != "none":
            kind, text = "notice", re.sub(r"<[^>]+>", "", view.guidance_note.value)
    if case.expect == "refuse":
        if kind != "error":
            return "silently wrong", "no error shown" + (f" (notice: {text[:80]})" if text else "")
        why = judge_message(text, case.keyword)
        return ("clear", text[:120]) if why is None else ("unclear", f"{why}: {text[:120]}")
    if case.expect == "notice":
        if kind == "error":
            return "unclear", f"valid input refused: {text[:120]}"
        if not re.search(case.keyword, text, re.I):
            return "silently wrong", "no notice"
        why = judge_message(text, case.keyword)
        return ("clear", text[:120]) if why is None else ("unclear", why)
    if kind == "error":
        return "unclear", f"valid input refused: {text[:120]}"
    if case.check is not None and not case.check(view):
        return "silently wrong", "wrong result"
    return "clear", "accepted"


def run_cli(case: Case) -> tuple[str, str]:
    from diffviz import cli

    out, err = io.StringIO(), io.StringIO()
    argv = case.fn() if callable(case.fn) else case.fn
    if argv is None:
        return "silently wrong", "not run: it would write into the installed package"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            rc = cli.main(argv)
        except SystemExit as stop:
            rc = stop.code if isinstance(stop.code, int) else 1
        except BaseException as exc:  # noqa: BLE001
            return "traceback", f"{type(exc).__name__}: {str(exc)[:120]}"
    text = err.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip() and not re.match(r"^\s*\w*[:\s]*\d+%\|", ln) and "it/s" not in ln
             and "s/it" not in ln]
    if "Traceback (most recent call last)" in text:
        return "traceback", lines[-1][:120] if lines else "traceback"
    if case.expect == "either":
        case = Case(case.surface, case.name, case.fn, "refuse" if rc == 2 else "notice", case.keyword, case.check)
        if rc == 2:
            return run_cli_verdict(case, rc, out, text, lines)
    return run_cli_verdict(case, rc, out, text, lines)


def run_cli_verdict(case, rc, out, text, lines) -> tuple[str, str]:
    if case.expect == "refuse":
        if rc == 0:
            return "silently wrong", f"rc 0: {out.getvalue().strip()[-100:]}"
        errors = [ln for ln in lines if "error" in ln.lower()]
        if rc != 2:
            return "unclear", f"rc {rc}: {(errors or lines or [''])[-1][:120]}"
        if not errors:
            return "unclear", "no error message"
        if len(lines) > 1:
            return "unclear", f"{len(lines)} lines on stderr: {errors[-1][:100]}"
        why = judge_message(errors[-1], case.keyword)
        if why is None and "internal error" in errors[-1]:
            why = "internal error"
        return ("clear", errors[-1][:120]) if why is None else ("unclear", f"{why}: {errors[-1][:120]}")
    if case.expect == "notice":
        both = out.getvalue() + text
        if rc != 0 and not re.search(case.keyword, both, re.I):
            return "unclear", f"rc {rc}"
        return ("clear", f"rc {rc}") if re.search(case.keyword, both, re.I) else ("silently wrong", f"rc {rc}, no notice")
    if rc != 0:
        return "unclear", f"valid input refused: rc {rc}: {(lines or [''])[-1][:120]}"
    if case.check is not None and not case.check(out.getvalue()):
        return "silently wrong", "wrong result"
    return "clear", "accepted"


# ---------------------------------------------------------------------------------------------------
def build_cases(tmp: Path) -> list[Case]:
    from diffviz.models.tiny import tiny_class_model, tiny_text_model, tiny_uncond_model

    cm, tm, um = tiny_class_model(seed=0), tiny_text_model(seed=0), tiny_uncond_model(seed=0)
    digits = diffviz.load("digits")  # a model with a domain classifier: FID works
    cases: list[Case] = []
    api = lambda name, fn, expect="refuse", kw="", check=None: cases.append(Case("api", name, fn, expect, kw, check))  # noqa: E731

    # --- sample(): each keyword argument × generated bad values --------------------------------
    bad = {"negative": -5, "zero": 0, "huge": 10**9, "nan": math.nan, "inf": math.inf, "str": "x", "none": None,
           "bool": True, "float": 2.5, "list": [2], "np.float": np.float64(2.5)}
    table = {  # parameter: (bad values that must be refused, keyword)
        "steps": (["negative", "zero", "huge", "nan", "str", "bool", "float", "list", "np.float", "none"], "steps"),
        "seed": (["negative", "nan", "str", "float", "list", "bool", "none"], "seed"),
        "guidance": (["negative", "nan", "inf", "str", "list"], "guidance"),
        "num_images": (["negative", "zero", "huge", "float", "str", "bool"], "num_images"),
        "scheduler": (["str", "zero", "none", "list"], "scheduler"),
    }
    for param, (names, kw) in table.items():
        for vname in names:
            value = bad[vname]
            kwargs = {param: value}
            if param != "steps":
                kwargs.setdefault("steps", 2)
            cond = None if param == "num_images" else [1]
            model = um if param == "num_images" else cm
            if param == "guidance":
                model, cond = cm, [1]
            api(f"sample({param}={vname})", lambda m=model, c=cond, k=kwargs: m.sample(c, **k), "refuse", kw)
    api("sample(seed=2**70)", lambda: cm.sample([1], steps=2, seed=2**70), "refuse", "seed")
    api("sample(seed=2**64-1)", lambda: cm.sample([1], steps=2, seed=2**64 - 1), "refuse", "seed")
    api("sample(guidance=1e6)", lambda: cm.sample([1], steps=2, guidance=1e6), "either", "guidance|range")
    api("sample(guidance=20)", lambda: cm.sample([1], steps=2, guidance=20.0), "notice", "guidance|range")
    for nm, v in [("np.int64 steps", np.int64(2)), ("np.int32 steps", np.int32(2))]:
        api(f"sample({nm})", lambda v=v: cm.sample([1], steps=v).num_steps, "accept", check=lambda r: r == 2)
    api("sample(np.int64 seed)", lambda: cm.sample([1], steps=2, seed=np.int64(3)).meta["seed"], "accept", check=lambda r: r == 3)
    api("sample(np.float guidance)", lambda: cm.sample([1], steps=2, guidance=np.float32(2.0)).meta["guidance"], "accept",
        check=lambda r: r == 2.0)
    api("sample(np.int64 num_images)", lambda: um.sample(None, num_images=np.int64(2), steps=2).batch_size, "accept",
        check=lambda r: r == 2)

    # --- class labels ------------------------------------------------------------------------
    for nm, lab, expect, kw in [("3.5", 3.5, "refuse", "class"), ("10", 10, "refuse", "class"), ("-1", -1, "refuse", "class"),
                                ("'nosuch'", "nosuch", "refuse", "class"), ("[]", [], "refuse", "condition|class"),
                                ("None in list", [None], "refuse", "class"), ("True", True, "refuse", "class"),
                                ("nan", math.nan, "refuse", "class"), ("2**70", 2**70, "refuse", "class"),
                                ("[[1]]", [[1]], "refuse", "class")]:
        api(f"class sample({nm})", lambda lab=lab: cm.sample(lab, steps=2), expect, kw)
    for nm, lab in [("np.int64(3)", np.int64(3)), ("[np.int64(3)]", [np.int64(3)]), ("np.array([3])", np.array([3])),
                    ("'3'", "3"), ("torch.tensor(3)", torch.tensor(3))]:
        api(f"class sample({nm})", lambda lab=lab: cm.sample(lab, steps=2).meta["conditions"], "accept",
            check=lambda r: [int(x) for x in r] == [3])

    # --- prompts ---------------------------------------------------------------------------------
    for nm, p, expect, kw in [("5000 chars", LONG, "refuse", "prompt"), ("int", 123, "refuse", "prompt"),
                              ("[]", [], "refuse", "prompt|condition"), ("['a', 3]", ["a", 3], "refuse", "prompt"),
                              ("None", None, "refuse", "prompt|condition"), ("bytes", b"a red circle", "refuse", "prompt"),
                              ("Chinese", "红色的圆", "notice", "never seen|红色的圆"), ("emoji", "🔴 ⭕", "notice", "never seen|🔴"),
                              ("Cyrillic", "красный круг", "notice", "never seen|красный"),
                              ("Latin unknown", "a purple circle", "notice", "purple"),
                              ("mixed", "a red 圆", "notice", "圆"), ("accented", "a rouge cércle", "notice", "cércle|rouge")]:
        api(f"text sample({nm})", lambda p=p: tm.sample(p, steps=2), expect, kw)
    api("uncond sample('x')", lambda: um.sample("x", steps=2), "refuse", "unconditional")
    api("uncond sample(guidance=2)", lambda: um.sample(None, steps=2, guidance=2.0), "refuse", "guidance")

    # --- forward process, schedules ----------------------------------------------------------
    x0 = torch.zeros(1, 3, 8, 8)
    for nm, t, kw in [("-1", -1, r"\bt\b"), ("1000", 1000, r"\bt\b"), ("2.5", 2.5, r"\bt\b"), ("nan", math.nan, r"\bt\b"),
                      ("'x'", "x", r"\bt\b"), ("None", None, r"\bt\b"), ("2**70", 2**70, r"\bt\b")]:
        api(f"forward_process(t={nm})", lambda t=t: diffviz.forward_process(x0, t), "refuse", kw)
    api("forward_process(t=np.int64(5))", lambda: float(diffviz.forward_process(x0, np.int64(5)).alpha_bar[0]), "accept",
        check=lambda r: r == float(diffviz.forward_process(x0, 5).alpha_bar[0]))
    for nm, x, kw in [("wrong shape", torch.zeros(8, 8), "shape"), ("NaN", torch.full((1, 3, 8, 8), math.nan), "nan"),
                      ("list", [[0.0]], "tensor"), ("range", torch.full((1, 3, 8, 8), 5.0), r"\[-1, 1\]"),
                      ("empty batch", torch.zeros(0, 3, 8, 8), "image|empty|batch|shape")]:
        api(f"forward_process(x0 {nm})", lambda x=x: diffviz.forward_process(x, 5), "refuse", kw)
    for nm, kwargs, kw in [("name", dict(name="quadratic"), "schedule|allowed"), ("T=0", dict(name="linear", num_train_timesteps=0), "timesteps|T"),
                           ("T=-5", dict(name="linear", num_train_timesteps=-5), "timesteps|T"),
                           ("T=2.5", dict(name="linear", num_train_timesteps=2.5), "timesteps|T"),
                           ("T=10**9", dict(name="linear", num_train_timesteps=10**9), "timesteps|T")]:
        api(f"Schedule.from_name({nm})", lambda k=kwargs: diffviz.Schedule.from_name(**k), "refuse", kw)

    # --- load, folders, trajectories -----------------------------------------------------------
    broken = tmp / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    empty = tmp / "empty-model"
    empty.mkdir()
    afile = tmp / "a-file.txt"
    afile.write_text("x")

    def a_file(name: str) -> Path:  # a fresh plain file per case (a wrong answer may replace one)
        f = tmp / f"{name}.txt"
        f.write_text("x")
        return f
    for nm, arg, kw in [("nosuch", "nosuch", "nosuch|available"), ("int", 123, "name|path"), ("None", None, "name|path"),
                        ("broken json", str(broken), "json"), ("empty folder", str(empty), "model_index|missing"),
                        ("a file", str(a_file("a-file-load")), "a-file|folder|model"), ("5000 chars", LONG, "available|model")]:
        api(f"load({nm})", lambda a=arg: diffviz.load(a), "refuse", kw)
    traj = cm.sample([1, 2], steps=3)
    good = tmp / "traj"
    traj.save(good)
    bad_json = tmp / "traj-badjson"
    traj.save(bad_json)
    (bad_json / "trajectory.json").write_text('{"format": "diffviz-traj')
    bad_st = tmp / "traj-badst"
    traj.save(bad_st)
    (bad_st / "trajectory.safetensors").write_bytes(b"\x00" * 20)
    api("Trajectory.load(missing)", lambda: diffviz.Trajectory.load(tmp / "nope"), "refuse", "trajectory|missing")
    api("Trajectory.load(broken json)", lambda: diffviz.Trajectory.load(bad_json).num_steps, "either", "trajectory.json",
        check=lambda r: r == 3)
    api("Trajectory.load(corrupt tensors)", lambda: diffviz.Trajectory.load(bad_st), "refuse", "safetensors")
    api("Trajectory.load(good)", lambda: diffviz.Trajectory.load(good).num_steps, "accept", check=lambda r: r == 3)
    api("Trajectory.save(onto a file)", lambda: traj.save(a_file("a-file-traj")), "refuse", "a-file|folder|directory")
    api("traj.frames('nosuch')", lambda: traj.frames("nosuch"), "refuse", "frame|allowed")
    api("traj[100]", lambda: traj[100], "refuse", "step|range")
    api("traj['x']", lambda: traj["x"], "refuse", "step|index")
    api("save_pretrained(onto a file)", lambda: cm.save_pretrained(a_file("a-file-save")), "refuse", "a-file|folder|directory")

    # --- metrics ----------------------------------------------------------------------------------
    from diffviz.metrics import ClipScorer, RunningStats, fid_from_features, kernel_inception_distance

    scorer = ClipScorer.from_model(tm)
    no_images = np.zeros((0, 16, 16, 3), np.uint8)
    some = np.zeros((2, 16, 16, 3), np.uint8)
    api("CLIP score(0 images)", lambda: scorer.score(no_images, []), "refuse", "image|text")
    api("CLIP similarity(0 images)", lambda: scorer.similarity(no_images, ["a"]), "refuse", "image")
    api("CLIP score(texts=[])", lambda: scorer.score(some, []), "refuse", "text")
    api("CLIP score(texts=5000 chars)", lambda: scorer.score(some[:1], [LONG]), "refuse", "text|token|prompt")
    api("CLIP from_model(class model)", lambda: ClipScorer.from_model(cm), "refuse", "text model")
    api("FID(0 images)", lambda: fid_from_features(np.zeros((0, 4)), np.zeros((0, 4))), "refuse", "image|sample|feature")
    api("FID(1 image)", lambda: fid_from_features(np.zeros((1, 4)), np.zeros((1, 4))), "refuse", "image|sample|at least")
    api("FID(NaN features)", lambda: fid_from_features(np.full((5, 4), np.nan), np.ones((5, 4))), "refuse", "nan")
    api("FID(dims differ)", lambda: fid_from_features(np.random.rand(6, 4), np.random.rand(6, 3)), "refuse", "dimension")
    api("RunningStats(0).mean", lambda: RunningStats(4).mean, "refuse", "no|sample|feature|empty")
    api("KID(subsets=0)", lambda: kernel_inception_distance(np.random.rand(10, 4), np.random.rand(10, 4), subsets=0), "refuse", "subset")
    api("KID(0 images)", lambda: kernel_inception_distance(np.zeros((0, 4)), np.zeros((0, 4))), "refuse", "image|sample|feature|subset")
    from diffviz.metrics import model_fid
    api("model_fid(n=0)", lambda: model_fid(digits, 0), "refuse", r"\bn\b|image")
    api("model_fid(batch_size=0)", lambda: model_fid(digits, 8, batch_size=0, steps=2), "refuse", "batch")

    # --- data -----------------------------------------------------------------------------------
    from diffviz.widgets.forward import sample_image
    for nm, args, kw in [("cats", ("cats", 0), "source|allowed"), ("index -1", ("shapes", -1), "index"),
                         ("index huge", ("shapes", 10**9), "index"), ("index 2.5", ("shapes", 2.5), "index"),
                         ("digits index -1", ("digits", -1), "index")]:
        api(f"sample_image({nm})", lambda a=args: sample_image(*a), "refuse", kw)
    from diffviz.utils import pick_device
    api("pick_device('nosuch')", lambda: pick_device("nosuch"), "refuse", "device")
    api("pick_device('cuda:99')", lambda: cm.sample([1], steps=2) if False else pick_device("cuda:99"), "refuse", "cuda|device")

    # --- widgets ------------------------------------------------------------------------------------
    from diffviz.widgets import (ClipSimilarity, Explainer, FidExplorer, ForwardProcess, GuidanceSweep, LatentParts,
                                 NoiseInspector, ReverseProcess, SchedulerCompare)

    def wid(name, fn, expect="refuse", kw="", check=None):
        cases.append(Case("widget", name, fn, expect, kw, check))

    def set_then(view_fn, attr, value, action=None):
        def go():
            v = view_fn()
            setattr(v, attr, value)
            if action:
                getattr(v, action)()
            return v
        return go

    def control(view_fn, control_name, value):
        def go():
            v = view_fn()
            getattr(v, control_name).value = value
            return v
        return go

    rev = lambda: ReverseProcess(cm, steps=2, num_images=1)  # noqa: E731
    rev_t = lambda: ReverseProcess(tm, steps=2, num_images=1, prompt="a red circle")  # noqa: E731
    for attr, values, kw in [("steps", [0, -5, 10**6], "steps"), ("num_images", [0, 9, -1], "num_images"),
                             ("seed", [-1, 2**70], "seed"), ("guidance", [-1.0, math.nan, math.inf], "guidance"),
                             ("scheduler", ["plms", ""], "scheduler"), ("class_label", [10, -1], "class")]:
        for v in values:
            wid(f"ReverseProcess.{attr}={v!r}", set_then(rev, attr, v), "refuse", kw)
    wid("ReverseProcess.guidance=1e6", set_then(rev, "guidance", 1e6, "generate"), "either", "guidance|range")
    wid("ReverseProcess.class_label=np.int64(3)", set_then(rev, "class_label", np.int64(3), "generate"), "accept",
        check=lambda v: v.trajectory.meta["conditions"] == [3])
    wid("ReverseProcess seed box -5", control(rev, "w_seed", -5), "refuse", "seed")
    wid("ReverseProcess prompt 5000 chars", set_then(rev_t, "prompt", LONG, "generate"), "refuse", "prompt|token")
    wid("ReverseProcess prompt Chinese", set_then(rev_t, "prompt", "红色的圆", "generate"), "notice", "never seen|红色")
    wid("ReverseProcess prompt emoji", set_then(rev_t, "prompt", "🔴🔺", "generate"), "notice", "never seen|🔴")

    fwd = lambda: ForwardProcess(source="shapes")  # noqa: E731
    for attr, v, kw in [("t", 5000, r"\bt\b"), ("t", -1, r"\bt\b"), ("schedule", "x", "schedule"), ("num_train_timesteps", 5, r"\bT\b"),
                        ("seed", -1, "seed"), ("seed", 2**70, "seed")]:
        wid(f"ForwardProcess.{attr}={v!r}", set_then(fwd, attr, v), "refuse", kw)
    wid("ForwardProcess(t=5000)", lambda: ForwardProcess(t=5000), "refuse", r"\bt\b")
    for nm, args, kw in [("cats", ("cats", 0), "source|allowed"), ("index -1", ("shapes", -1), "index"),
                         ("index 10**9", ("shapes", 10**9), "index")]:
        wid(f"ForwardProcess.pick({nm})", lambda a=args: (lambda v: (v.pick(*a), v)[1])(fwd()), "refuse", kw)
    wid("ForwardProcess.set_image(bad array)", lambda: (lambda v: (v.set_image(np.zeros((3, 3))), v)[1])(fwd()), "refuse", "image")
    wid("ForwardProcess.set_image('x')", lambda: (lambda v: (v.set_image("x"), v)[1])(fwd()), "refuse", "image|tensor")

    noi = lambda: NoiseInspector(cm)  # noqa: E731
    for attr, v, kw in [("guidance", -1.0, "guidance"), ("guidance", math.nan, "guidance"), ("t", 1000, r"\bt\b"),
                        ("index", -1, "example"), ("lr", 0.0, "learning rate"), ("lr", 1.0, "learning rate"),
                        ("noise_seed", -3, "seed")]:
        wid(f"NoiseInspector.{attr}={v!r}", set_then(noi, attr, v), "refuse", kw)
    wid("NoiseInspector guidance slider -1", control(noi, "w_guidance", -1.0), "accept", check=lambda v: v.guidance == v.w_guidance.value >= 0)
    wid("NoiseInspector.set_x0(bad shape)", lambda: (lambda v: (v.set_x0(torch.zeros(3, 8, 8)), v)[1])(noi()), "refuse", "x0")
    wid("NoiseInspector.set_condition(3.5)", lambda: (lambda v: (v.set_condition(3.5), v)[1])(noi()), "refuse", "class")
    wid("NoiseInspector.set_condition(10)", lambda: (lambda v: (v.set_condition(10), v)[1])(noi()), "refuse", "class")
    wid("NoiseInspector.set_condition(np.int64(3))", lambda: (lambda v: (v.set_condition(np.int64(3)), v)[1])(noi()), "accept",
        check=lambda v: int(v.condition) == 3)
    wid("NoiseInspector.use_generated(steps=0)", lambda: (lambda v: (v.use_generated(steps=0), v)[1])(noi()), "refuse", "steps")

    lat = lambda: LatentParts(tm)  # noqa: E731
    wid("LatentParts.index=-5", set_then(lat, "index", -5), "refuse", "-5")
    wid("LatentParts.index=10**9", set_then(lat, "index", 10**9), "refuse", "example|index")
    wid("LatentParts.prompt=5000 chars", set_then(lat, "prompt", LONG), "refuse", "prompt|token")
    wid("LatentParts.prompt=Chinese", set_then(lat, "prompt", "红色的圆"), "notice", "never seen|红色")
    wid("LatentParts(class model)", lambda: LatentParts(cm), "refuse", "latent|text")

    fidv = lambda: (lambda v: (setattr(v, "n", 16), setattr(v, "steps", 2), v)[2])(FidExplorer(digits))  # noqa: E731
    for attr, v, action, kw in [("batch_size", 0, "run", "batch"), ("batch_size", -1, "run", "batch"), ("n", 0, None, r"\bN\b|images"),
                                ("n", 10**9, None, r"\bN\b|images|at most"), ("steps", 0, "run", "steps")]:
        wid(f"FidExplorer.{attr}={v}", set_then(fidv, attr, v, action), "refuse", kw)

    gs = lambda: GuidanceSweep(cm, run=False)  # noqa: E731
    for nm, attr, v, kw in [("scales=[-1]", "scales", [-1.0], "scale|guidance"), ("scales=[nan]", "scales", [math.nan], "scale|guidance|finite"),
                            ("scales=[]", "scales", [], "scale|guidance"), ("fid_n=-1", "fid_n", -1, "FID"),
                            ("steps=0", "steps", 0, "steps")]:
        wid(f"GuidanceSweep.{nm}", set_then(gs, attr, v, "run" if attr == "steps" else None), "refuse", kw)
    wid("GuidanceSweep scales box 'x'", control(gs, "w_scales", "1, x"), "refuse", "comma|number|scale")
    sc = lambda: SchedulerCompare(cm, run=False)  # noqa: E731
    for nm, attr, v, kw in [("schedulers=['heun']", "schedulers", ["heun"], "scheduler"), ("schedulers=[]", "schedulers", [], "scheduler"),
                            ("step_counts=[0]", "step_counts", [0], "step"), ("step_counts=[]", "step_counts", [], "step")]:
        wid(f"SchedulerCompare.{nm}", set_then(sc, attr, v), "refuse", kw)
    cl = lambda: ClipSimilarity(tm, prompts=["a red circle"], run=False)  # noqa: E731
    wid("ClipSimilarity.prompts=[] run", set_then(cl, "prompts", [], "run"), "refuse", "prompt")
    wid("ClipSimilarity.prompts=[5000 chars] run", set_then(cl, "prompts", [LONG], "run"), "refuse", "prompt|token")
    wid("ClipSimilarity.steps=0 run", set_then(cl, "steps", 0, "run"), "refuse", "steps")
    wid("ClipSimilarity(class model)", lambda: ClipSimilarity(cm, run=False), "refuse", "text")
    wid("Explainer(tabs=['nosuch'])", lambda: Explainer(cm, tabs=["nosuch"]), "refuse", "tab")
    wid("Explainer(tabs=[])", lambda: Explainer(cm, tabs=[]), "refuse", "tab")

    # --- CLI ------------------------------------------------------------------------------------------
    def cli(name, argv, expect="refuse", kw="", check=None):
        cases.append(Case("cli", name, argv, expect, kw, check))

    png = str(tmp / "x.png")
    a_dir = tmp / "a-dir"
    a_dir.mkdir()
    s = ["sample", "--model", "tiny-class", "--steps", "2", "-o", png]
    for flag, values, kw in [("--steps", ["0", "-5", "100000"], "steps"), ("--guidance", ["nan", "-1", "inf"], "guidance"),
                             ("--seed", ["-1", str(2**70)], "seed"), ("--scheduler", ["plms"], "scheduler"),
                             ("--zoom", ["0", "-2", "100000"], "zoom"), ("--frames", ["0", "-1"], "frames"),
                             ("--model", ["nosuch"], "nosuch|model"), ("--device", ["nosuch", "cuda:99"], "device")]:
        for v in values:
            cli(f"sample {flag} {v}", s + [flag, v], "refuse", kw)
    cli("sample class 3.5", s + ["3.5"], "refuse", "class")
    cli("sample class nosuch", s + ["nosuch"], "refuse", "class")
    cli("sample class 10", s + ["10"], "refuse", "class")
    cli("sample class -1", s + ["--", "-1"], "refuse", "class")
    cli("sample -o missing dir", s[:-1] + [str(tmp / "no" / "x.png")], "refuse", "no/x.png|folder|directory")
    cli("sample -o a directory", s[:-1] + [str(a_dir)], "refuse", "a-dir|directory")
    cli("sample -o read-only", s[:-1] + ["/proc/diffviz-x.png"], "refuse", "diffviz-x|write|permission|read-only")
    cli("sample -o under a file", s[:-1] + [str(a_file("a-file-sample") / "x.png")], "refuse", "a-file|directory|folder")
    cli("sample -o .txt", s[:-1] + [str(tmp / "x.txt")], "refuse", "png|extension|format")
    cli("sample text Chinese", ["sample", "--model", "tiny-text", "--steps", "2", "-o", png, "红色的圆"], "notice", "never seen")
    cli("sample text 5000 chars", ["sample", "--model", "tiny-text", "--steps", "2", "-o", png, LONG], "refuse", "prompt|token")
    cli("sample guidance 1e6", s + ["--guidance", "1e6", "1"], "either", "guidance|range")
    e = ["export", "--model", "tiny-class", "--steps", "2", "-o", str(tmp / "l.html")]
    cli("export --model digits --prompts seven", ["export", "--model", "digits", "--prompts", "seven", "--steps", "2", "-o", str(tmp / "l.html")],
        "refuse", "seven|class")
    cli("export -o a directory", e[:-1] + [str(a_dir)], "refuse", "a-dir|directory")
    cli("export -o read-only", e[:-1] + ["/proc/diffviz-l.html"], "refuse", "diffviz-l|write|permission|read-only")
    cli("export --steps 0", e + ["--steps", "0"], "refuse", "steps")
    cli("export --lang xx", e + ["--lang", "xx"], "refuse", "lang|xx")
    cli("export --seed -1", e + ["--seed", "-1"], "refuse", "seed")
    cli("export --model nosuch", ["export", "--model", "nosuch", "-o", str(tmp / "l.html")], "refuse", "nosuch|model")
    f = ["fid", "--model", "digits", "-n", "8", "--reference-n", "8", "--steps", "2"]
    cli("fid --batch-size 0", f + ["--batch-size", "0"], "refuse", "batch")
    cli("fid --batch-size -3", f + ["--batch-size", "-3"], "refuse", "batch")
    cli("fid -n 1", f + ["-n", "1"], "refuse", "generated|images|-n")
    cli("fid --reference-n 0", f + ["--reference-n", "0"], "refuse", "real|reference")
    cli("fid --steps 0", f + ["--steps", "0"], "refuse", "steps")
    cli("fid --scheduler x", f + ["--scheduler", "x"], "refuse", "scheduler")
    cli("fid --inception missing", f + ["--inception", str(tmp / "none.pth")], "refuse", "none.pth|inception|weights")
    cli("fid --model tiny-uncond (no classifier)", ["fid", "--model", "tiny-uncond", "-n", "8", "--reference-n", "8"], "refuse", "classifier|inception")
    runs = str(tmp / "runs")
    t_ = ["train", "digits", "--part", "classifier", "--runs", runs, "--minutes", "0.02", "--out", str(tmp / "out")]
    cli("train --steps 0", t_ + ["--steps", "0"], "refuse", "steps")
    cli("train --steps -5", t_ + ["--steps", "-5"], "refuse", "steps")
    cli("train --threads -1", t_ + ["--threads", "-1"], "refuse", "threads")
    cli("train --threads 0", t_ + ["--threads", "0"], "refuse", "threads")
    cli("train --minutes -1", t_ + ["--minutes", "-1"], "refuse", "minutes")
    cli("train --minutes nan", t_ + ["--minutes", "nan"], "refuse", "minutes")
    cli("train --part nosuch", ["train", "digits", "--part", "nosuch", "--runs", runs], "refuse", "part|nosuch")
    cli("train --device nosuch", t_ + ["--device", "nosuch"], "refuse", "device")
    cli("train nosuch", ["train", "nosuch"], "refuse", "nosuch|choice")
    cli("train --steps 3 --minutes 0.0001 (stopped short)", ["train", "digits", "--part", "classifier", "--runs", str(tmp / "runs2"),
                                                             "--steps", "400", "--minutes", "0.0001"], "notice", "stopped|short|not finished|unfinished")

    def default_out():
        from diffviz.commands import train as train_cmd
        if not hasattr(train_cmd, "default_out"):
            return None  # the old default: the package's bundled folder
        return ["train", "digits", "--part", "classifier", "--runs", str(tmp / "runs3"), "--steps", "2"]
    cli("train (default out not in the package)", default_out, "accept")
    cli("dashboard nosuch", ["dashboard", "nosuch"], "refuse", "nosuch|dashboard")
    cli("dashboard --port 0", ["dashboard", "--port", "0"], "refuse", "port")
    cli("dashboard --port x", ["dashboard", "--port", "x"], "refuse", "port")
    cli("notebooks --lang xx", ["notebooks", "--lang", "xx"], "refuse", "lang|xx|choice")
    cli("notebooks onto a file", ["notebooks", str(a_file("a-file-nb"))], "refuse", "a-file|folder|directory")
    cli("unknown command", ["nosuch"], "refuse", "nosuch|command|choice")
    cli("sample --bogus", ["sample", "--bogus"], "refuse", "bogus|unrecognized")
    return cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--only", choices=["api", "widget", "cli"])
    parser.add_argument("--json", default=None, help="write every case's answer here")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="sweep-"))
    cases = build_cases(tmp)
    runners = {"api": run_api, "widget": run_widget, "cli": run_cli}
    counts = {k: 0 for k in ("clear", "unclear", "traceback", "silently wrong")}
    by_surface: dict[str, dict[str, int]] = {}
    rows = []
    for case in cases:
        if args.only and case.surface != args.only:
            continue
        try:
            if case.isolate:
                verdict, detail = run_isolated(runners[case.surface], case)
            else:
                verdict, detail = runners[case.surface](case)
        except BaseException as err:  # noqa: BLE001
            verdict, detail = "traceback", f"sweep: {type(err).__name__}: {err}"[:160]
            if args.verbose:
                traceback.print_exc()
        counts[verdict] += 1
        by_surface.setdefault(case.surface, {k: 0 for k in counts})[verdict] += 1
        rows.append({"surface": case.surface, "case": case.name, "verdict": verdict, "detail": detail})
        if args.verbose or verdict != "clear":
            print(f"{verdict:15s} {case.surface:7s} {case.name[:60]:60s} {detail[:150]}", flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for surface, c in by_surface.items():
        print(f"  {surface:7s} " + ", ".join(f"{v} {k}" for k, v in c.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "cases": rows}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
