"""Bring your own Stable Diffusion (issue #17) in a real browser: a tiny random StableDiffusionPipeline saved
as a standard diffusers folder, loaded by `diffviz.load(folder)` in a Voila dashboard, with ReverseProcess and
LatentParts driven like a lecturer would. Screenshots of both views: artifacts/screenshots/byo_sd/."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import SHOTS, PageLog
from .lecture import Lecture, button, chart_box, control, html_text, type_into
from .test_lectures import READY, loaded

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


def sd_notebook(tmp: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tiny_pipelines import save, tiny_sd_pipeline

    folder = save(tiny_sd_pipeline(tmp), tmp / "tiny-sd")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import diffviz\nfrom diffviz.widgets import LatentParts, ReverseProcess\n"
                                          f"model = diffviz.load({str(folder)!r})"),
                nbformat.v4.new_code_cell("ReverseProcess(model, steps=10, num_images=2)"),
                nbformat.v4.new_code_cell("LatentParts(model)")]
    path = tmp / "byo_sd.ipynb"
    nbformat.write(nb, path)
    return path


def test_stable_diffusion_folder_in_voila(browser, voila, tmp_path):
    pytest.importorskip("transformers")
    server = voila(sd_notebook(tmp_path))
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.log = PageLog(page)
    try:
        page.goto(server.url, timeout=300_000)
        page.wait_for_selector(READY, timeout=300_000, state="visible")
        page.wait_for_function("document.querySelectorAll('.diffviz-view').length >= 2", timeout=300_000)
        lec = Lecture(page, "byo_sd")
        reverse, latent = page.locator(".diffviz-view").nth(0), page.locator(".diffviz-view").nth(1)
        loaded(lec)
        lec.region("player", reverse.locator(".dv-player .dv-grid").first)
        lec.region("final", reverse.locator("img.widget-image").first)
        lec.region("token states", chart_box(latent, "states"))

        def summary(scheduler: str):
            def check():
                text = html_text(reverse, r"image\(s\)")
                return [] if f"{scheduler} steps" in text else [f"expected the summary to name {scheduler!r} steps, saw {text!r}"]
            return check

        def scheduler_choices():
            options = reverse.locator("select").first.locator("option").all_inner_texts()
            return [] if options[:1] == ["model"] and "euler" in options else [f"scheduler choices {options}"]

        lec.step("the model's own scheduler first", check=lambda: scheduler_choices() + summary("model")())
        lec.step("prompt 'a blue square', Generate", lambda: (type_into(control(reverse, "Prompt"), "a blue square"),
                                                              button(reverse, "Generate").click()),
                 changes=["player", "final"], check=summary("model"))
        # a random UNet predicts almost no noise, so two deterministic schedulers end on nearly the same picture:
        # a new seed is what visibly changes it
        lec.step("scheduler: euler (diffviz's teaching variant), seed 1, Generate",
                 lambda: (control(reverse, "Scheduler").locator("select").select_option("euler"),
                          type_into(control(reverse, "Seed"), "1"), button(reverse, "Generate").click()),
                 changes=["player", "final"], check=summary("euler"))
        view_shot(page, reverse, "byo_sd_reverse.png")

        def tokens(*pieces):
            def check():
                text = html_text(latent, r"tokens \(of")
                ok = re.match(r"\s*(\d+) tokens \(of 77\)", text) and all(p in text for p in pieces)
                return [] if ok else [f"expected the CLIP tokenizer's pieces {pieces} of 77, saw {text!r}"]
            return check

        lec.step("LatentParts lists the tokenizer's tokens (of the model's own example prompt)",
                 check=tokens("startoftext", "astronaut | riding | a | horse", "endoftext"))
        lec.step("prompt 'a red circle'", lambda: type_into(control(latent, "Prompt"), "a red circle"),
                 changes=["token states"], check=tokens("a | red | circle"))
        lec.step("the decoder's pictures and their PSNR", check=lambda: [] if re.search(
            r"PSNR -?[0-9.]+ dB", html_text(latent, r"reconstruction PSNR")) else ["no reconstruction PSNR shown"])
        view_shot(page, latent, "byo_sd_latent.png")
        lec.finish()
    finally:
        ctx.close()


def view_shot(page, view, name: str) -> Path:
    """One whole view as a picture (a viewport tall enough for all of it: parts outside it may not paint)."""
    (SHOTS / "byo_sd").mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(view.bounding_box()["height"]) + 40)})
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    path = SHOTS / "byo_sd" / name
    view.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def publish_screenshots() -> None:
    """Copy the two views' screenshots to docs/images (README); run by hand after the test."""
    for name in ("byo_sd_reverse.png", "byo_sd_latent.png"):
        shutil.copy(SHOTS / "byo_sd" / name, DOCS / name)
