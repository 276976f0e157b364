"""Generated bad input over the public API, the widgets and the CLI (parameters × generated bad values).

Every answer must be a refusal in diffviz's one style — a DiffvizError (or a validator's TraitError) whose
message is one short line naming what was wrong — or, for the CLI, exit code 2 with one line on stderr.
Never a library's traceback, never a silent wrong result; numpy scalars are accepted as numbers.
"""
import html
import io
import math
import os
import random
import re
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import torch
import traitlets

from diffviz.errors import DiffvizError

RNG = random.Random(13)
SCRIPTS = ["红色的圆", "🔴🔺⭕", "красный круг", "دائرة", "赤い丸", "κύκλος", "a rouge cércle"]


def bad_ints(lo: int, hi: int) -> list:
    """Values an integer parameter in [lo, hi] must refuse: below, above, huge, non-integers, wrong types."""
    return [lo - 1, lo - RNG.randint(2, 10**6), hi + 1, hi + RNG.randint(2, 10**6), 2**70, -(2**70), 2.5, math.nan,
            math.inf, np.float64(lo + 0.5), "3", None, [lo], True, "".join(RNG.choice(SCRIPTS) for _ in range(3))]


def bad_numbers(lo: float, hi: float) -> list:
    return [lo - 1.0, -1e9, math.nan, math.inf, -math.inf, hi * 10 + 1, "w", [lo], complex(1, 1), np.float32("nan")]  # None: the default


def one_line(message: str, *names: str) -> None:
    assert "\n" not in message.strip(), f"one line: {message!r}"
    assert len(message) <= 300, f"short ({len(message)} characters): {message[:120]!r}…"
    assert any(re.search(n, message, re.I) for n in names), f"names {names}: {message!r}"
    assert not re.match(r"^\w+Error:", message), f"no bare exception text: {message!r}"


SAMPLE_INTS = {"steps": (1, 1000), "seed": (0, 2**63 - 1)}


@pytest.mark.parametrize("param", list(SAMPLE_INTS))
def test_sample_integer_parameters_refuse_generated_bad_values(class_model, param):
    lo, hi = SAMPLE_INTS[param]
    for value in bad_ints(lo, hi):
        kwargs = {"steps": 2, param: value}
        with pytest.raises(DiffvizError) as info:
            class_model.sample([1], **kwargs)
        one_line(str(info.value), param)


def test_sample_guidance_and_num_images_refuse_generated_bad_values(class_model, uncond_model):
    for value in bad_numbers(0.0, 100.0):
        with pytest.raises(DiffvizError) as info:
            class_model.sample([1], steps=2, guidance=value)
        one_line(str(info.value), "guidance")
    for value in [v for v in bad_ints(1, 256) if v is not None]:  # None: one image, the default
        with pytest.raises(DiffvizError) as info:
            uncond_model.sample(None, num_images=value, steps=2)
        one_line(str(info.value), "num_images")


def test_numpy_and_torch_scalars_are_numbers(class_model, uncond_model):
    traj = class_model.sample(np.int64(3), steps=np.int32(2), seed=np.int64(5), guidance=np.float32(2.0))
    assert traj.meta["conditions"] == [3] and traj.num_steps == 2 and traj.meta["seed"] == 5
    assert class_model.sample([np.int64(4), torch.tensor(5)], steps=2).meta["conditions"] == [4, 5]
    assert uncond_model.sample(None, num_images=np.int64(2), steps=2).batch_size == 2


@pytest.mark.parametrize("label", [3.5, -1, 10, "nosuch", [], [None], True, math.nan, 2**70, [[1]], b"1"])
def test_class_labels_are_refused_in_one_line(class_model, label):
    with pytest.raises(DiffvizError) as info:
        class_model.sample(label, steps=2)
    one_line(str(info.value), "class")


def test_prompts_in_any_script_say_which_words_are_unknown(text_model):
    for prompt in SCRIPTS + [RNG.choice(SCRIPTS[:3]) + " a red circle"]:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                text_model.sample(prompt, steps=1)
            except DiffvizError as err:  # the tiny encoder takes 14 tokens: a long one is refused, in one line
                one_line(str(err), "tokens")
                continue
        notes = [str(w.message) for w in caught if "never seen in training" in str(w.message)]
        assert notes, f"no notice for {prompt!r}"
        one_line(notes[0], "never seen")
    long = "".join(RNG.choice("abc ") for _ in range(5000))
    with pytest.raises(DiffvizError) as info:
        text_model.sample(long, steps=1)
    one_line(str(info.value), "prompt") and None
    assert "(5000 characters)" in str(info.value), "a long prompt is quoted elided"


# Not text, or text shown in another order than it is read: a lone surrogate (a UTF-16 half; a byte that was not
# UTF-8, as the command line hands it on), right-to-left override, embeddings and isolates.
HIDDEN = {"a red \ud800 circle": "lone surrogate U\\+D800", "a red circle\udfff": "lone surrogate U\\+DFFF",
          b"a red \xed\xa0\x80 circle".decode("utf-8", "surrogateescape"): "byte 0xED that is not UTF-8",
          "a \u202ered circle": "U\\+202E RIGHT-TO-LEFT OVERRIDE", "a \u202bred\u202c circle": "U\\+202B RIGHT-TO-LEFT EMBEDDING",
          "a red \u2067circle\u2069": "U\\+2067 RIGHT-TO-LEFT ISOLATE", "\u2066a red circle": "U\\+2066 LEFT-TO-RIGHT ISOLATE"}


def test_prompts_with_a_lone_surrogate_or_a_bidi_control_are_refused(text_model):
    for prompt, name in HIDDEN.items():
        with pytest.raises(DiffvizError) as info:
            text_model.sample(["a blue square", prompt], steps=1)
        one_line(str(info.value), name, "remove it")
        assert re.search(name, str(info.value)) and "character" in str(info.value), str(info.value)
        str(info.value).encode("utf-8")  # the message itself prints anywhere: the character is quoted escaped
    with pytest.warns(UserWarning, match="never seen in training"):
        clean = text_model.sample(["a red circle", "红色 🔴", "a red circle\u200b"], steps=1, num_images=None)
    assert clean.final.shape[0] == 3, "other characters outside ASCII stay accepted (unknown words are a notice)"


def test_prompt_box_shows_a_hidden_character_refusal_and_keeps_the_picture(text_model):
    from diffviz.widgets import ReverseProcess

    w = ReverseProcess(text_model, steps=2, num_images=1, generate=False)
    w.w_cond.value = "a blue square"
    w.generate()
    before = w.trajectory
    for prompt, name in HIDDEN.items():
        w.w_cond.value = prompt
        assert w.prompt == prompt and w.generate() is None
        assert "dv-error" in w.banner.value and re.search(name, html.unescape(w.banner.value)), (prompt, w.banner.value)
        assert w.trajectory is before, "a refused prompt keeps the previous result"


def test_cli_sample_refuses_a_hidden_character_in_one_line(tmp_path):
    import subprocess
    import sys

    for arg, name in ((b"a red \xed\xa0\x80 circle", "byte 0xED that is not UTF-8"),
                      ("a \u202ered circle".encode(), "RIGHT-TO-LEFT OVERRIDE")):  # as a shell passes them: bytes
        out = subprocess.run([sys.executable, "-m", "diffviz.cli", "sample", "--model", "tiny-text", arg, "--steps", "1",
                              "-o", str(tmp_path / "x.png")], capture_output=True, timeout=300)
        lines = [ln for ln in out.stderr.decode("utf-8", "replace").splitlines() if ln.strip() and "%|" not in ln]
        assert out.returncode == 2 and len(lines) == 1, (out.returncode, lines)
        one_line(lines[0], name)
    rc, lines = run_cli(["sample", "--model", "tiny-text", "a red \u2067circle", "-o", str(tmp_path / "x.png")])
    assert rc == 2 and len(lines) == 1 and "RIGHT-TO-LEFT ISOLATE" in lines[0], lines
    assert not any(tmp_path.iterdir()), "nothing written"


def test_widget_traits_refuse_generated_bad_values(class_model):
    from diffviz.widgets import FidExplorer, ForwardProcess, NoiseInspector, ReverseProcess

    views = {"ReverseProcess": ReverseProcess(class_model, steps=2, num_images=1, generate=False),
             "NoiseInspector": NoiseInspector(class_model), "ForwardProcess": ForwardProcess(source="shapes")}
    table = [("ReverseProcess", "steps", 1, 200), ("ReverseProcess", "num_images", 1, 8), ("ReverseProcess", "seed", 0, 2**63 - 1),
             ("ReverseProcess", "class_label", 0, 9), ("NoiseInspector", "t", 0, 999), ("NoiseInspector", "index", 0, 1796),
             ("ForwardProcess", "t", 0, 999), ("ForwardProcess", "seed", 0, 2**63 - 1)]
    for view_name, trait, lo, hi in table:
        view = views[view_name]
        before = getattr(view, trait)
        for value in bad_ints(lo, hi):
            with pytest.raises(traitlets.TraitError) as info:
                setattr(view, trait, value)
            assert len(str(info.value)) <= 300 and getattr(view, trait) == before, (view_name, trait, value)
        setattr(view, trait, np.int64(lo))  # numpy integers are integers
        assert getattr(view, trait) == lo and type(getattr(view, trait)) is int
    fid = FidExplorer(class_model)
    for value in (0, -1, 10**6):
        with pytest.raises(traitlets.TraitError, match="batch_size"):
            fid.batch_size = value


def test_guarded_actions_show_bad_input_and_let_bugs_through(class_model):
    from diffviz.widgets import NoiseInspector

    w = NoiseInspector(class_model)
    for cond in (3.5, 10, -2, "nosuch", None):
        w.set_condition(cond)
        assert "dv-error" in w.banner.value and "class" in w.banner.value, cond
    w.set_condition(np.int64(3))
    assert w.condition == 3 and "dv-error" not in w.banner.value

    from diffviz.widgets.base import guarded

    class Buggy(type(w)):
        @guarded
        def broken(self):
            return {}["missing"]

    b = Buggy.__new__(Buggy)
    b.__dict__.update(w.__dict__)
    with pytest.raises(KeyError):  # a real bug is not dressed up as bad input
        Buggy.broken(w)


def run_cli(argv):
    from diffviz.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    return rc, [ln for ln in err.getvalue().splitlines() if ln.strip() and "%|" not in ln]


CLI_FLAGS = [("sample", "--steps", 1, 1000), ("sample", "--seed", 0, 2**63 - 1), ("sample", "--zoom", 1, 32),
             ("sample", "--frames", 1, 1000), ("fid", "--batch-size", 1, 4096), ("fid", "-n", 2, 10**6),
             ("train", "--threads", 1, 1024), ("train", "--steps", 1, 10**7), ("dashboard", "--port", 1, 65535),
             ("export", "--steps", 1, None)]


@pytest.mark.parametrize("command, flag, lo, hi", CLI_FLAGS)
def test_cli_flags_refuse_generated_bad_values_in_one_line(command, flag, lo, hi, tmp_path):
    head = {"sample": ["sample", "--model", "tiny-class", "-o", str(tmp_path / "x.png")], "fid": ["fid", "--model", "tiny-class"],
            "train": ["train", "digits", "--part", "classifier", "--runs", str(tmp_path)], "dashboard": ["dashboard", "01_forward"],
            "export": ["export", "--model", "tiny-class", "-o", str(tmp_path / "l.html")]}[command]
    values = [lo - 1, lo - 10**6, "x", "2.5", "nan", ""] + ([hi + 1, 2**70] if hi is not None else [])
    for value in values:
        rc, lines = run_cli(head + [flag, str(value)])
        assert rc == 2 and len(lines) == 1, (command, flag, value, lines)
        one_line(lines[0], re.escape(flag.lstrip("-")))
    assert not any(tmp_path.glob("*.png")) and not any(tmp_path.glob("*.html"))


@pytest.mark.parametrize("argv, names", [
    (["sample", "--model", "tiny-class", "3.5"], "class"), (["sample", "--model", "tiny-class", "nosuch"], "class"),
    (["sample", "--model", "nosuch"], "nosuch"), (["sample", "--model", "tiny-class", "--scheduler", "plms"], "scheduler"),
    (["sample", "--model", "tiny-class", "--guidance", "1e6"], "guidance"),
    (["sample", "--model", "tiny-class", "--device", "nosuch"], "device"),
    (["export", "--model", "digits", "--prompts", "seven"], "seven"),
    (["fid", "--model", "digits", "--scheduler", "x"], "scheduler"),
    (["train", "digits", "--part", "nosuch"], "nosuch"), (["train", "digits", "--steps", "5"], "--part"),
    (["notebooks", "--lang", "xx"], "lang"), (["nosuch"], "nosuch"),
])
def test_cli_refusals_are_one_line_exit_2(argv, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, lines = run_cli(argv)
    assert rc == 2 and len(lines) == 1, lines
    one_line(lines[0], names)


def test_cli_output_paths_are_checked_before_any_sampling(tmp_path):
    (tmp_path / "a-file").write_text("x")
    cases = [(["sample", "--model", "digits", "-o", str(tmp_path)], "folder"),
             (["sample", "--model", "digits", "-o", str(tmp_path / "no" / "x.png")], "does not exist"),
             (["sample", "--model", "digits", "-o", str(tmp_path / "a-file" / "x.png")], "not a folder"),
             (["sample", "--model", "digits", "-o", str(tmp_path / "x.txt")], "extension"),
             (["sample", "--model", "digits", "-o", "/proc/x.png"], "permission"),
             (["export", "--model", "digits", "-o", str(tmp_path)], "folder"),
             (["export", "--model", "digits", "-o", "/proc/l.html"], "permission")]
    import time
    run_cli(cases[0][0])  # the first call imports diffviz's commands (seconds on a loaded machine); not timed
    for argv, names in cases:
        start = time.time()
        rc, lines = run_cli(argv)
        assert rc == 2 and len(lines) == 1, lines
        one_line(lines[0], names)
        assert time.time() - start < 5, "refused before the model sampled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "no stray temp file"


def test_cli_unexpected_errors_are_short_and_debug_shows_the_traceback(monkeypatch, tmp_path):
    import diffviz.commands.notebooks as nb

    monkeypatch.setattr(nb, "run", lambda args: 1 / 0)
    rc, lines = run_cli(["notebooks", str(tmp_path)])
    assert rc == 1 and len(lines) == 1 and "internal error: ZeroDivisionError" in lines[0] and "--debug" in lines[0]
    rc, lines = run_cli(["notebooks", str(tmp_path), "--debug"])
    assert rc == 1 and any("Traceback" in ln for ln in lines)


def test_train_never_writes_into_the_package_and_says_when_it_stops_short(tmp_path):
    from diffviz.commands.train import default_out
    from diffviz.models.registry import BUNDLED_DIR

    assert BUNDLED_DIR not in default_out("runs", "digits").resolve().parents
    rc, lines = run_cli(["train", "digits", "--part", "classifier", "--runs", str(tmp_path), "--steps", "500",
                         "--minutes", "0.0001"])
    assert rc == 3 and any("stopped short" in ln for ln in lines)


def test_cli_refuses_odd_output_paths_before_any_work(tmp_path):
    """Empty, too long, a device, a FIFO, a link to a device, a file where a folder goes, a read-only place:
    sample, export, train and evaluate each refuse in one line, in seconds, before loading a model."""
    import time

    (tmp_path / "a-file").write_text("x")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "null.html").symlink_to("/dev/null")
    long_name = str(tmp_path / ("a" * 300 + ".png"))
    cases = [(["sample", "--model", "digits", "-o", ""], "empty"), (["sample", "--model", "digits", "-o", long_name], "255"),
             (["sample", "--model", "digits", "-o", "/dev/null"], "device"),
             (["sample", "--model", "digits", "-o", str(tmp_path / "fifo.png")], "FIFO"),
             (["export", "--model", "digits", "-o", str(tmp_path / "null.html")], "device"),
             (["export", "--model", "digits", "-o", ""], "empty"),
             (["export", "--model", "digits", "-o", str(tmp_path / "a-file" / "l.html")], "not a folder"),
             (["export", "--model", "digits", "-o", "/" + "d/" * 2100 + "l.html"], "too long"),
             (["train", "digits", "--runs", str(tmp_path / "r"), "--out", str(tmp_path / "a-file")], "not a folder"),
             (["train", "digits", "--runs", str(tmp_path / "r"), "--out", str(tmp_path / "a-file" / "m")], "not a folder"),
             (["train", "digits", "--runs", str(tmp_path / "r"), "--out", "/proc/m"], "permission"),
             (["train", "digits", "--part", "unet", "--runs", str(tmp_path / "a-file")], "not a folder"),
             (["train", "digits", "--runs", str(tmp_path / "r"), "--out", ""], "empty"),
             (["evaluate", "digits", "--quick", "--json", "/proc/q.json"], "permission"),
             (["evaluate", "digits", "--quick", "--json", str(tmp_path)], "folder")]
    run_cli(cases[0][0])  # the first call imports diffviz's commands (seconds on a loaded machine); not timed
    for argv, names in cases:
        start = time.time()
        rc, lines = run_cli(argv)
        assert rc == 2 and len(lines) == 1, (argv[:2], lines)
        one_line(lines[0], names)
        assert time.time() - start < 5, f"{argv[0]} refused before any work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "fifo.png", "null.html"], "nothing written"
    assert (tmp_path / "a-file").read_text() == "x"


def test_output_paths_refused_in_the_api(tmp_path, class_model):
    """The same one check behind every writer: atomic_write, model folders, trajectories, chapter copies."""
    from diffviz.content import copy_chapters
    from diffviz.errors import OutputPathError
    from diffviz.utils import atomic_write

    (tmp_path / "a-file").write_text("x")
    for bad, names in [("", "empty"), (str(tmp_path / "x\0.txt"), "NUL"), ("/dev/null", "device"),
                       (str(tmp_path / ("b" * 256)), "255")]:
        with pytest.raises(OutputPathError) as err:
            atomic_write(bad, "data")
        one_line(str(err.value), names)
    for save in (class_model.save_pretrained, class_model.sample([1], steps=2, seed=0).save, copy_chapters):
        for bad, names in [(tmp_path / "a-file", "not a folder"), (tmp_path / "a-file" / "sub", "not a folder"),
                           ("/dev/null", "device")]:
            with pytest.raises(OutputPathError) as err:
                save(bad)
            one_line(str(err.value), names)
    with pytest.raises(OutputPathError, match="names no folder"):
        class_model.save_pretrained("")  # Path("") is "." — never rename the working folder away
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and (tmp_path / "a-file").read_text() == "x"


def test_a_symbolic_link_is_written_through(tmp_path, class_model):
    """`-o link` replaces the file the link points to and keeps the link (as a shell's `>` does), for a
    picture, a page and a model folder; a long but legal name still leaves room for the temp file."""
    from diffviz.utils import atomic_write

    target = tmp_path / "real" / "strip.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "strip.png"
    link.symlink_to(target)
    rc, lines = run_cli(["sample", "--model", "tiny-class", "--steps", "2", "3", "-o", str(link)])
    assert rc == 0, lines
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the picture went to the link's target"
    dangling = tmp_path / "page.html"
    dangling.symlink_to(tmp_path / "real" / "made.html")
    assert atomic_write(dangling, "<p>hi</p>") == tmp_path / "real" / "made.html"
    assert dangling.is_symlink() and dangling.read_text() == "<p>hi</p>"
    folder_link = tmp_path / "model"
    folder_link.symlink_to(tmp_path / "real" / "model", target_is_directory=True)
    class_model.save_pretrained(folder_link)
    assert folder_link.is_symlink() and (tmp_path / "real" / "model" / "model_index.json").is_file()
    long = tmp_path / ("c" * 250 + ".txt")
    assert atomic_write(long, "fits").read_text() == "fits"
    leftovers = sorted(p.name for p in (tmp_path / "real").iterdir())
    assert leftovers == ["made.html", "model", "strip.png"], leftovers
