"""JupyterLab's notebook shortcuts never fire from a focused diffviz control (issue 23, point 9).

In command mode `a`/`b` insert cells, `m` turns a cell into Markdown, `d d` deletes it and `z` undoes;
a student who clicks a slider or the player and types must not change the notebook. With each control
of a ForwardProcess (its ipywidgets sliders, menus and buttons, and its FramePlayer's) focused in turn,
the scenario presses a, b, m, d d, z and checks the notebook's cells (count and types) are unchanged;
then Ctrl+S still saves, Esc still reaches JupyterLab and Shift+Enter still runs the cell. An Explainer's
tabs are reached with Tab and switched with ArrowRight and Enter (Enter opens the tab, not the cell's editor).
"""
from __future__ import annotations

import json
import time

import nbformat

from .test_chapters import JupyterServer, file_state, open_chapter, run_all

CELLS = ["markdown", "code", "code", "code"]
LETTERS = ["a", "b", "m", "d", "d", "z"]
# Every focusable control of the view that is not a text box (typing into a text box is typing; JupyterLab
# never takes keys from an editable element): slider handles, menus, buttons, the player and its parts.
CONTROLS = """() => {
  const view = document.querySelector('.jp-OutputArea .diffviz-view');
  const all = [view.querySelector('.dv-player'),
               ...view.querySelectorAll('.noUi-handle, select, button, input[type=range]')];
  const seen = all.filter(e => e && e.getBoundingClientRect().width > 0 && !e.disabled);
  seen.forEach((e, i) => e.dataset.keyTest = String(i));
  return seen.map(e => `${e.tagName.toLowerCase()}.${(e.className || '').toString().split(' ')[0]}`
                       + ` ${(e.getAttribute('aria-label') || e.title || e.innerText || '').trim().slice(0, 30)}`);
}"""
CELL_TYPES = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))
  .map(c => c.classList.contains('jp-MarkdownCell') ? 'markdown' : c.classList.contains('jp-CodeCell') ? 'code' : 'raw')"""


def keys_notebook(root) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Keys stay with the widget"),
                nbformat.v4.new_code_cell("from diffviz.widgets import ForwardProcess\nForwardProcess()"),
                nbformat.v4.new_code_cell("1 + 1"),
                nbformat.v4.new_code_cell("from diffviz.widgets import Explainer\nExplainer(tabs=['overview', 'forward'], title=False)")]
    nbformat.write(nb, root / "keys.ipynb")
    return "keys.ipynb"


def saved_cell_types(path) -> list[str]:
    return [c["cell_type"] for c in json.loads(path.read_text())["cells"]]


def test_letter_keys_on_focused_controls_never_reach_notebook_shortcuts(browser, tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    name = keys_notebook(root)
    server = JupyterServer("lab", root)
    lec = None
    try:
        lec = open_chapter(browser, server, name, "lab")
        page = lec.page
        lec.step("Run All Cells", lambda: run_all(lec, timeout=300), timeout=300)
        page.wait_for_selector(".jp-OutputArea .diffviz-view .dv-player canvas.dv-cell", timeout=120_000)
        controls = page.evaluate(CONTROLS)
        assert len(controls) >= 8, f"the ForwardProcess shows its sliders, menus, buttons and player: {controls}"
        assert page.evaluate(CELL_TYPES) == CELLS

        for i, what in enumerate(controls):
            def press(i=i):
                target = page.locator(f"[data-key-test='{i}']")
                target.scroll_into_view_if_needed()
                target.focus()
                for key in LETTERS:
                    page.keyboard.press(key)

            def unchanged(what=what, i=i):
                page.wait_for_timeout(700)  # past JupyterLab's chord timer (`d d`)
                problems = []
                cells = page.evaluate(CELL_TYPES)
                if cells != CELLS:
                    problems.append(f"a, b, m, d d, z pressed on {what} changed the notebook's cells to {cells}, "
                                    f"expected {CELLS}")
                focused = page.evaluate("(i) => document.activeElement?.dataset.keyTest === String(i)", i)
                if not focused:
                    problems.append(f"{what} lost the focus to the notebook after the letter keys")
                return problems

            lec.step(f"a b m d d z on {what}", press, check=unchanged)

        path = server.root / name
        handle = page.locator(".jp-OutputArea .diffviz-view .noUi-handle").first
        state = {}

        def save():
            state["file"] = file_state(path)
            handle.focus()
            page.keyboard.press("Control+s")

        def saved():
            deadline = time.time() + 10
            while time.time() < deadline and file_state(path) == state["file"]:
                page.wait_for_timeout(200)
            if file_state(path) == state["file"]:
                return ["Ctrl+S with a slider focused did not save the notebook (the file on disk is unchanged)"]
            types = saved_cell_types(path)
            return [] if types == CELLS else [f"the saved notebook's cells are {types}, expected {CELLS}"]

        lec.step("Ctrl+S with a slider focused saves the notebook, cells unchanged", save, check=saved)

        def esc():
            handle.focus()
            page.evaluate("() => { window.__dvKeys = []; }")
            page.keyboard.press("Escape")

        def esc_reached():
            keys = page.evaluate("() => window.__dvKeys")
            return [] if "Escape" in keys else [f"Esc pressed on a slider did not reach JupyterLab (it saw {keys})"]

        lec.step("Esc with a slider focused reaches JupyterLab", esc, check=esc_reached)

        cell = page.locator(".jp-Cell").filter(has=handle)

        def shift_enter():
            state["prompt"] = cell.locator(".jp-InputPrompt").first.inner_text()
            handle.focus()
            page.keyboard.press("Shift+Enter")

        def ran():
            deadline = time.time() + 30
            while time.time() < deadline and cell.locator(".jp-InputPrompt").first.inner_text() == state["prompt"]:
                page.wait_for_timeout(200)
            now = cell.locator(".jp-InputPrompt").first.inner_text()
            return [] if now != state["prompt"] else [
                f"Shift+Enter with a slider focused did not run its cell (prompt still {now!r})"]

        lec.step("Shift+Enter with a slider focused runs the cell", shift_enter, check=ran, timeout=300)

        tabs = page.locator(".diffviz-explainer .lm-TabBar-tab")

        def tab_keys():
            page.locator(".jp-OutputArea .diffviz-view .dv-full").first.focus()  # the ForwardProcess's last control
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.evaluate("() => !!document.activeElement?.closest('.diffviz-explainer .lm-TabBar-tab')"):
                    break
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Enter")

        def second_tab():
            page.wait_for_timeout(700)
            problems = []
            if "lm-mod-current" not in (tabs.nth(1).get_attribute("class") or ""):
                problems.append("Tab, ArrowRight, Enter on the Explainer's tab headers did not open its second tab")
            if page.locator(".jp-Notebook .jp-mod-editMode, .jp-Notebook.jp-mod-editMode").count():
                problems.append("Enter on a tab header put the notebook in edit mode")
            if page.evaluate(CELL_TYPES) != CELLS:
                problems.append(f"the notebook's cells changed: {page.evaluate(CELL_TYPES)}")
            return problems

        lec.step("the Explainer's tabs by keyboard: Tab, ArrowRight, Enter", tab_keys, check=second_tab)
        lec.finish()
    finally:
        if lec is not None:
            lec.ctx.close()
        server.shutdown_kernels()
        server.stop()
