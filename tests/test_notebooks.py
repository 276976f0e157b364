"""Every course notebook runs top to bottom on the CPU (nbclient, a real kernel), outputs not stored."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.ipynb"))
NOTICE = {"en": "What to notice", "zh": "注意看"}
# The Chinese chapters run the English chapters' code (tests/test_i18n_chapters.py checks that); two of them
# also run here, top to bottom, to keep CI time down.
ZH_EXECUTED = [p for p in ZH_NOTEBOOKS if p.stem[:2] in ("01", "02")]
SLOW_CHAPTERS = ("03_training", "06_evaluation")  # over ~10 s of CPU each (trains a model; measures FID)


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_CHAPTERS else p
                                  for p in NOTEBOOKS] + ZH_EXECUTED,
                         ids=[p.stem for p in NOTEBOOKS] + ["zh/" + p.stem for p in ZH_EXECUTED])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert shown, "the chapter displays at least one widget"
    assert_each_print_printed(nb, path.stem)
    assert_notice_after_each_widget(nb, path.stem, NOTICE["zh" if path.parent.name == "zh" else "en"])


def printed_labels(source: str) -> list[str]:
    """The fixed text each `print(...)` of a cell starts with ('' for one that prints a value only)."""
    import re

    return [m.group(1).strip() for m in re.finditer(r"""print\(f?['"]([^'"{]*)""", source)]


def assert_each_print_printed(nb, name):
    """Each cell that prints prints every one of its lines, with a value (a cell reading a view's result before
    the view's background work is done prints nothing, or an empty list's nothing)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "print(" not in cell.source:
            continue
        out = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
        assert out.strip(), f"{name}: cell {i} prints nothing"
        for label in printed_labels(cell.source):
            assert label in out, f"{name}: cell {i} did not print {label!r}: {out!r}"
        assert "nan" not in out.lower().split(), f"{name}: cell {i} printed NaN: {out!r}"


def shows_widget(cell) -> bool:
    return cell.cell_type == "code" and any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                            for o in cell.get("outputs", []))


def assert_notice_after_each_widget(nb, name, marker="What to notice"):
    """A chapter tells the student what to notice about every widget it shows, before the next one."""
    widget_cells = [i for i, c in enumerate(nb.cells) if shows_widget(c)]
    for i, j in zip(widget_cells, widget_cells[1:] + [len(nb.cells)]):
        between = [c.source for c in nb.cells[i + 1:j] if c.cell_type == "markdown"]
        assert any(marker in s for s in between), f"{name}: no {marker!r} after the widget in cell {i}"


def test_widget_notices_in_both_languages():
    import json

    labels = {lang: json.loads((ROOT / "diffviz" / "i18n" / f"{lang}.json").read_text(encoding="utf-8")) for lang in ("en", "zh")}
    for section in ("forward", "reverse", "latent"):
        for lang, table in labels.items():
            text = table[section].get("notice", "")
            assert 20 <= len(text) <= 400, f"{lang}.json {section}.notice: 1-2 sentences expected, got {text!r}"


@pytest.mark.parametrize("path", NOTEBOOKS + ZH_NOTEBOOKS + DASHBOARDS,
                         ids=[p.parent.name + "/" + p.stem for p in NOTEBOOKS + ZH_NOTEBOOKS + DASHBOARDS])
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
