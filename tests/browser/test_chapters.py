"""The chapter notebooks in JupyterLab 4 (and one in Notebook 7), driven like a lecturer does.

Each chapter: open it, Run → Run All Cells, wait until every cell ran and the kernel is idle; no error
output, no JavaScript-error box, no traceback from the kernel; change a control of a widget and see
its picture change. With the FramePlayer focused: arrow keys move the player, Ctrl+S saves the
notebook (the file on disk changes), Esc and Shift+Enter still reach JupyterLab.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PageLog, free_port, stop_process
from .lecture import Lecture, button, control, picture_boxes, player_step, slider_drag, type_into

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class JupyterServer:
    """`jupyter lab` or `jupyter notebook` on 127.0.0.1 with no token, in a copy of notebooks/."""

    def __init__(self, app: str, root: Path):
        self.port = free_port()
        self.root = root
        self.url = f"http://127.0.0.1:{self.port}/"
        settings = root.parent / f"{app}-settings"
        for plugin, values in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                               "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                               "checkForUpdates": False}}.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(root.parent / f"{app}-runtime"), OMP_NUM_THREADS="1")
        self.log = root.parent / f"{app}.log"
        cmd = ["jupyter-lab" if app == "lab" else "jupyter-notebook", "--allow-root", "--no-browser",
               "--IdentityProvider.token=", "--PasswordIdentityProvider.hashed_password=",
               f"--ServerApp.port={self.port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.disable_check_xsrf=True", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={root.parent / f'{app}-workspaces'}"]
        exe = Path(os.sys.executable).parent
        cmd[0] = str(exe / cmd[0]) if (exe / cmd[0]).exists() else cmd[0]
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        import urllib.request

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "api/status", timeout=2)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"jupyter {app} exited: {self.log.read_text()[-2000:]}")
                time.sleep(0.5)
        raise RuntimeError(f"jupyter {app} did not start within 120 s")

    def shutdown_kernels(self) -> None:
        """One chapter's kernel at a time: the machine has 2 cores."""
        import urllib.request

        try:
            for k in json.load(urllib.request.urlopen(self.url + "api/kernels", timeout=10)):
                req = urllib.request.Request(self.url + f"api/kernels/{k['id']}", method="DELETE")
                urllib.request.urlopen(req, timeout=30)
        except Exception as err:
            print("could not shut the kernels down:", err)

    def stop(self):
        stop_process(self.proc)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    servers: dict[str, JupyterServer] = {}

    def get(app: str) -> JupyterServer:
        if app not in servers:
            for s in servers.values():
                s.stop()
            servers.clear()
            root = tmp_path_factory.mktemp(f"chapters-{app}") / "notebooks"
            shutil.copytree(NOTEBOOKS, root)
            servers[app] = JupyterServer(app, root)
        return servers[app]

    yield get
    for s in servers.values():
        s.stop()


KEY_SPY = """() => { window.__dvKeys = []; document.addEventListener('keydown', e => window.__dvKeys.push(e.key)); }"""


def open_chapter(browser, server: JupyterServer, notebook: str, app: str) -> Lecture:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.log = PageLog(page)
    stem = Path(notebook).stem
    url = server.url + (f"lab/workspaces/{stem}/tree/{notebook}?reset" if app == "lab" else f"notebooks/{notebook}")
    page.goto(url, timeout=180_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
    # JupyterLab may ask which kernel to start: take the notebook's own (python3)
    deadline = time.time() + 120
    while not any(m["msg_type"] == "kernel_info_reply" for m in page.log.received) and time.time() < deadline:
        select = page.locator(".jp-Dialog .jp-mod-accept")
        if select.count():
            select.first.click()
        page.wait_for_timeout(300)
    kernel_idle(page, 120)
    page.evaluate(KEY_SPY)
    lec = Lecture(page, f"chapter-{app}-{Path(notebook).stem}")
    lec.ctx = ctx
    return lec


def kernel_idle(page, timeout: float) -> None:
    page.wait_for_function(
        "() => { const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        " return e && e.getAttribute('data-status') === 'idle'; }", timeout=timeout * 1000)


def run_all(lec: Lecture, timeout: float = 420) -> None:
    page = lec.page
    # the kernel is connected (its info reply arrived) before Run All: earlier, Run All does nothing
    deadline = time.time() + 120
    while not any(m["msg_type"] == "kernel_info_reply" for m in page.log.received):
        if time.time() > deadline:
            raise TimeoutError("the notebook's kernel did not connect within 120 s")
        page.wait_for_timeout(200)
    for attempt in range(2):
        sent = len(page.log.sent_msgs)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        deadline = time.time() + 10
        while time.time() < deadline and not any(m["msg_type"] == "execute_request" for m in page.log.sent_msgs[sent:]):
            page.wait_for_timeout(200)
        if any(m["msg_type"] == "execute_request" for m in page.log.sent_msgs[sent:]):
            break
    else:
        raise TimeoutError("Run → Run All Cells sent no cell to the kernel (twice)")
    # every code cell has its execution count (none is "[*]" or "[ ]") and the kernel is idle
    page.wait_for_function(
        """() => { const p = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
                   return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""", timeout=timeout * 1000)
    kernel_idle(page, timeout)


def outputs_ok(page) -> list[str]:
    seen = page.evaluate("""() => ({
        errors: Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
                  .map(e => e.innerText.slice(0, 300)),
        prompts: Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent.trim()),
        widgets: document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length })""")
    problems = [f"an error/stderr output is shown: {t!r}" for t in seen["errors"]]
    if not seen["widgets"]:
        problems.append("no widget is shown in the outputs")
    return problems


def file_state(path: Path) -> tuple[float, int]:
    st = path.stat()
    return st.st_mtime, st.st_size


def player_keys(lec: Lecture, server: JupyterServer, notebook: str, app: str) -> None:
    """With the FramePlayer focused: arrows move it, Ctrl+S saves, Esc and Shift+Enter reach JupyterLab."""
    page = lec.page
    player = page.locator(".dv-player").first
    path = server.root / notebook
    state = {}

    def arrows():
        player.scroll_into_view_if_needed()
        player.focus()
        state["step"] = player_step(player)
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")

    def moved():
        n = int(player.locator(".dv-slider").get_attribute("max") or 0) + 1
        return [] if player_step(player) == n - 2 else [
            f"with the player focused, End then ArrowLeft should show step {n - 2}, it shows {player_step(player)}"]

    lec.step("player: End, ArrowLeft move the player", arrows, no_kernel=True, check=moved)

    def save():
        state["file"] = file_state(path)
        player.focus()
        page.evaluate("() => { window.__dvKeys = []; }")
        page.keyboard.press("Control+s")

    def saved():
        deadline = time.time() + 10
        while time.time() < deadline and file_state(path) == state["file"]:
            page.wait_for_timeout(200)
        problems = []
        if file_state(path) == state["file"]:
            problems.append("Ctrl+S with the player focused did not save the notebook (the file on disk is unchanged)")
        dirty = page.locator(".jp-mod-dirty").count()
        if dirty:
            problems.append(f"the notebook still shows unsaved changes after Ctrl+S ({dirty} dirty marker(s))")
        return problems

    lec.step("Ctrl+S with the player focused saves the notebook", save, check=saved)

    def esc():
        player.focus()
        page.evaluate("() => { window.__dvKeys = []; }")
        page.keyboard.press("Escape")

    def esc_reached():
        keys = page.evaluate("() => window.__dvKeys")
        return [] if "Escape" in keys else ["Esc pressed in the player did not reach JupyterLab (the player stopped it)"]

    lec.step("Esc with the player focused reaches JupyterLab", esc, no_kernel=True, check=esc_reached)

    def shift_enter():
        player.focus()
        cell = page.locator(".jp-Cell").filter(has=player)
        state["prompt"] = cell.locator(".jp-InputPrompt").first.inner_text()
        state["cell"] = cell
        page.keyboard.press("Shift+Enter")

    def ran():
        cell = state["cell"]
        deadline = time.time() + 15
        while time.time() < deadline and cell.locator(".jp-InputPrompt").first.inner_text() == state["prompt"]:
            page.wait_for_timeout(200)
        now = cell.locator(".jp-InputPrompt").first.inner_text()
        return [] if now != state["prompt"] else [
            f"Shift+Enter with the player focused did not run its cell (prompt still {now!r})"]

    lec.step("Shift+Enter with the player focused runs the cell", shift_enter, check=ran)


def change_control(lec: Lecture, notebook: str) -> None:
    """One control per chapter, and the picture it drives."""
    page = lec.page
    views = page.locator(".diffviz-view")
    if notebook.startswith("01"):
        view = views.first
        lec.region("x_t", view.locator("img.widget-image").nth(1))
        lec.step("forward: drag t to 30%", lambda: slider_drag(control(view, "t"), 0.3), changes=["x_t"])
    elif notebook.startswith("02"):
        view = views.nth(1)
        lec.region("pictures", picture_boxes(view, "ch-pics")[0])
        lec.step("noise inspector: drag t", lambda: slider_drag(control(view, "t"), 0.1), changes=["pictures"])
    elif notebook.startswith("03"):  # the TrainingLab first; the trained model's ReverseProcess after it
        view = views.filter(has=page.get_by_role("button", name="Generate")).first
        lec.region("final", view.locator("img.widget-image").first)
        lec.step("reverse: class 5, Generate", lambda: (control(view, "Class").locator("select").select_option(label="5"),
                                                         button(view, "Generate").click()), changes=["final"])
    elif notebook.startswith("04"):
        view = views.nth(2)  # PromptCompare, GuidanceSweep, SchedulerCompare
        lec.region("grid", picture_boxes(view, "ch-grid")[0])
        lec.step("schedulers: steps '5', Run", lambda: (type_into(control(view, "Steps"), "5"), button(view, "Run").click()),
                 changes=["grid"])
    elif notebook.startswith("05"):
        view = views.first
        lec.region("pictures", picture_boxes(view, "ch-pics")[0])
        lec.step("latent: example 2", lambda: type_into(control(view, "Example"), "2"), changes=["pictures"])
    elif notebook.startswith("06"):
        view = views.first
        lec.region("images", view.locator("img.widget-image").first)
        lec.step("clip: two prompts, run", lambda: (type_into(control(view, "Prompts"), "a red circle\na blue square"),
                                                    button(view, "Generate and compare").click()), changes=["images"])


CHAPTERS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[Path(c).stem for c in CHAPTERS])
def test_chapter_in_jupyterlab(browser, jupyter, notebook):
    chapter(browser, jupyter("lab"), notebook, "lab")


def test_chapter_in_notebook7(browser, jupyter):
    pytest.importorskip("notebook", minversion="7")
    chapter(browser, jupyter("notebook"), CHAPTERS[0], "notebook")


def chapter(browser, server: JupyterServer, notebook: str, app: str) -> None:
    lec = open_chapter(browser, server, notebook, app)
    try:
        lec.step("Run All Cells", lambda: run_all(lec), check=lambda: outputs_ok(lec.page), timeout=420)
        try:
            change_control(lec, notebook)
        except Exception as err:  # a widget missing from the outputs
            lec.fail(f"could not find the widget to change: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
        if lec.page.locator(".dv-player").count():
            player_keys(lec, server, notebook, app)
        lec.finish()
    finally:
        lec.ctx.close()
        server.shutdown_kernels()
