"""A notebook saved in JupyterLab with "Save Widget State Automatically" on reopens with its widgets
drawn from the saved state (no kernel running), not as "model not found" placeholders."""
from __future__ import annotations

import json
import textwrap

import nbformat

from .conftest import PageLog
from .test_chapters import JupyterServer, kernel_idle, run_all
from .lecture import Lecture


def test_saved_widget_state_reopens_as_widgets(browser, tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent("""
        import diffviz
        from diffviz.widgets import FramePlayer
        from diffviz.frames import trajectory_rows
        traj = diffviz.load("tiny-class").sample([1, 2], steps=6, seed=0)
        FramePlayer(trajectory_rows(traj), step_labels=traj.step_labels(), zoom=8)""").strip())]
    nbformat.write(nb, root / "saved.ipynb")
    settings = tmp_path / "lab-settings" / "@jupyter-widgets" / "jupyterlab-manager"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    server = JupyterServer("lab", root)
    try:
        for visit in ("run and save", "reopen"):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.log = PageLog(page)
            page.goto(server.url + f"lab/workspaces/{visit[:3]}/tree/saved.ipynb?reset", timeout=180_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
            if visit == "run and save":
                lec = Lecture(page, "saved-state")
                kernel_idle(page, 120)
                run_all(lec, timeout=240)
                page.wait_for_selector("canvas.dv-cell", timeout=120_000)
                page.locator(".jp-Notebook").first.click()
                page.keyboard.press("Escape")
                page.keyboard.press("Control+s")
                page.wait_for_timeout(3000)
                saved = json.loads((root / "saved.ipynb").read_text())
                state = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
                assert state.get("state"), "the widget state is saved in the notebook's metadata"
                server.shutdown_kernels()  # nothing live: the reopened notebook can only draw from saved state
            else:
                page.wait_for_selector("canvas.dv-cell", timeout=60_000)
                page.wait_for_timeout(1500)
                text = page.locator(".jp-Notebook").inner_text()
                assert "model not found" not in text and "Error displaying widget" not in text, text[:500]
                drawn = page.evaluate("""() => Array.from(document.querySelectorAll('canvas.dv-cell')).map(c => {
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let lo = 255, hi = 0; for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
                    return hi - lo; })""")
                assert len(drawn) == 6 and min(drawn) > 0, f"the saved frames are drawn from the notebook: {drawn}"
            ctx.close()
    finally:
        server.stop()
