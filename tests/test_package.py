"""What `pip install diffviz` gives: content found inside the package, the notebooks command, one
source for Voila's settings, and (slow) a built wheel installed apart from this checkout."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from diffviz.cli import main
from diffviz.content import chapters, copy_chapters, dashboard_names, dashboards_dir

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_serves_its_top_level_dashboards_and_chapters():
    assert dashboards_dir() == ROOT / "dashboards" and chapters()[0].parent == ROOT / "notebooks"
    assert {"explainer", "01_forward", "06_evaluation"} <= set(dashboard_names())
    assert [p.stem[:2] for p in chapters()] == ["01", "02", "03", "04", "05", "06"]


def test_voila_json_and_voila_settings_are_the_same(monkeypatch):
    from diffviz.voila import EXTENSIONS, VOILA_SETTINGS

    config = json.loads((dashboards_dir() / "voila.json").read_text())
    flat = {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
    assert flat.pop("VoilaConfiguration.extension_allowlist") == EXTENSIONS
    assert flat == VOILA_SETTINGS


def test_notebooks_command_copies_the_chapters_and_never_overwrites(tmp_path, capsys):
    dest = tmp_path / "mine"
    assert main(["notebooks", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == [p.name for p in chapters()]
    (dest / chapters()[0].name).write_text("my edits")
    assert main(["notebooks", str(dest)]) == 2
    assert "already in" in capsys.readouterr().err and (dest / chapters()[0].name).read_text() == "my edits"
    assert main(["notebooks", str(dest), "--force"]) == 0
    assert (dest / chapters()[0].name).read_text() != "my edits"
    (tmp_path / "file").write_text("x")
    from diffviz.errors import OutputPathError

    with pytest.raises(OutputPathError, match="is a file"):
        copy_chapters(tmp_path / "file")
    assert main(["notebooks", "--list"]) == 0 and "01_forward_process" in capsys.readouterr().out


WHEEL_CHECK = r'''
import json, os, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import diffviz
here = Path(diffviz.__file__).resolve()
assert "site-packages" in str(here) and not str(here).startswith(sys.argv[1]), here
out = {"diffviz": str(here)}
for name in ("shapes", "digits"):
    traj = diffviz.load(name).sample(None if name == "digits" and False else ("a red circle" if name == "shapes" else 3),
                                     steps=3, seed=0)
    out[name] = list(traj.final_images().shape)
from diffviz.widgets import (ClipSimilarity, Explainer, FidExplorer, ForwardProcess, GuidanceSweep, LatentParts,
                             NoiseInspector, ReverseProcess, SchedulerCompare)
views = [ForwardProcess(), ReverseProcess(generate=False), NoiseInspector(), GuidanceSweep(run=False),
         SchedulerCompare(run=False), LatentParts(), ClipSimilarity(run=False), FidExplorer(), Explainer()]
out["widgets"] = [type(v).__name__ for v in views]
print(json.dumps(out))
'''


@pytest.mark.slow
def test_built_wheel_gives_what_a_pip_user_needs(tmp_path):
    """Build the wheel, install it into a fresh environment (no editable install, no checkout on the
    path; its dependencies come from this environment's site-packages), and use it as a pip user would."""
    import sysconfig

    dist, src = tmp_path / "dist", tmp_path / "src"
    files = subprocess.check_output(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT)
    for rel in filter(None, files.decode().split("\0")):  # a clean copy: no stale build/ in the wheel
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], check=True)
    wheel = next(dist.glob("diffviz-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names), "the wheel carries the LICENSE"
    shipped = {f"diffviz/{p.relative_to(ROOT).as_posix()}" for d in ("notebooks", "dashboards")
               for p in (ROOT / d).rglob("*") if p.is_file()}
    assert shipped <= set(names), f"top-level content missing from the wheel: {sorted(shipped - set(names))}"
    packages = {n.rpartition("/")[0].replace("/", ".") for n in names if n.endswith("__init__.py")}
    source = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in (ROOT / "diffviz").rglob("__init__.py")}
    assert source <= packages, f"pyproject.toml's packages list lacks {sorted(source - packages)}"
    for part in ("diffviz/dashboards/explainer.ipynb", "diffviz/dashboards/voila.json",
                 "diffviz/notebooks/01_forward_process.ipynb", "diffviz/notebooks/zh/01_forward_process.ipynb",
                 "diffviz/bundled/shapes/model_index.json",
                 "diffviz/widgets/static/player.js", "diffviz/widgets/static/views.css"):
        assert part in names, f"{part} is in the wheel"
    print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB, {len(names)} files")

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "_diffviz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # dependencies only: .pth
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], check=True)
    work = tmp_path / "user"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DIFFVIZ_DASHBOARDS")}
    env.update(OMP_NUM_THREADS="1", DIFFVIZ_CACHE=str(tmp_path / "cache"), PATH=f"{env_dir / 'bin'}:{env['PATH']}",
               # the dependencies' data files (Voila's templates, the widget labextensions) sit under the
               # prefix they were installed in, as they would under a pip user's own environment prefix
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"))
    run = lambda *cmd, **kw: subprocess.run(cmd, cwd=work, env=env, text=True, capture_output=True, timeout=600, **kw)  # noqa: E731

    checked = run(str(py), "-c", WHEEL_CHECK, str(ROOT))
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads(checked.stdout.strip().splitlines()[-1])
    assert report["shapes"] == [1, 32, 32, 3] and report["digits"][1:] == [16, 16, 3] and len(report["widgets"]) == 9

    diffviz_cmd = str(env_dir / "bin" / "diffviz")
    listed = run(diffviz_cmd, "dashboard", "--list")
    assert listed.returncode == 0 and "explainer" in listed.stdout.split(), listed.stderr
    copied = run(diffviz_cmd, "notebooks", "chapters")
    assert copied.returncode == 0, copied.stderr
    chapter = work / "chapters" / "01_forward_process.ipynb"
    executed = run(str(py), "-c", "import sys, nbformat; from nbclient import NotebookClient; "
                   "nb = nbformat.read(sys.argv[1], as_version=4); NotebookClient(nb, timeout=300).execute(); "
                   "print(sum(o.output_type == 'error' for c in nb.cells for o in c.get('outputs', [])))", str(chapter))
    assert executed.returncode == 0 and executed.stdout.strip().endswith("0"), executed.stderr[-3000:]
    exported = run(diffviz_cmd, "export", "-o", "lecture.html", "--model", "digits")
    assert exported.returncode == 0 and (work / "lecture.html").stat().st_size > 100_000, exported.stderr[-2000:]

    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([diffviz_cmd, "dashboard", "01_forward", "--port", str(port), "--no-preheat"],
                              cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, page = time.time() + 180, ""
        while time.time() < deadline and not page:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=240).read().decode()
            except OSError:
                assert server.poll() is None, "the dashboard server exited"
                time.sleep(1)
        assert "voila" in page.lower() and "from diffviz.widgets import" not in page
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_evaluate_command_measures_a_bundled_model_from_the_package(tmp_path, capsys):
    """The quality figures the model cards cite are reachable from the package, not only benchmarks/."""
    from diffviz.metrics.quality import QualitySettings, model_quality

    out = tmp_path / "q.json"
    assert main(["evaluate", "digits", "--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())["digits"]
    assert 0.5 <= report["class_accuracy"] <= 1 and report["fid"] >= 0 and report["kid_std"] > 0
    assert "class_accuracy" in capsys.readouterr().out
    tiny = QualitySettings(per_class=2, fid_n=32, steps=5, digits_guidance=())
    assert model_quality("digits", tiny)["images"] == 20
    with pytest.raises(ValueError, match="no model named 'faces'"):
        model_quality("faces")
