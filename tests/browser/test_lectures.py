"""Lecture scenarios, one per dashboard, each at 1400×1000 and 1024×768: every control changed, every
button pressed, the FramePlayer scrubbed — and after each step the checks of `lecture.Lecture`.

These tests say what "a lecture works" means; a failure names the step, what was expected, what was
seen and the screenshot (artifacts/screenshots/<dashboard>-<viewport>/<nn>-<step>.png).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from .conftest import PageLog, VoilaServer
from .lecture import (Lecture, button, chart_box, control, first_pictures, html_text, numbers, picture_boxes, player_step, readout, scrub_player,
                      slider_drag, slider_keys, slider_type, tag, type_into)

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
VIEWPORTS = {"1400x1000": (1400, 1000), "1024x768": (1024, 768)}
READY = ".diffviz-view, .widget-tab"


@pytest.fixture(scope="module")
def dashboard():
    """One Voila server per dashboard, shared by both viewports; the previous one stops when the next starts."""
    running: dict[str, VoilaServer] = {}

    def get(name: str) -> VoilaServer:
        if name not in running:
            for s in running.values():
                s.stop()
            running.clear()
            running[name] = VoilaServer(DASHBOARDS / f"{name}.ipynb", preheat=True)
        return running[name]

    yield get
    for s in running.values():
        s.stop()


def open_lecture(browser, dashboard, name: str, viewport: str, query: str = ""):
    w, h = VIEWPORTS[viewport]
    ctx = browser.new_context(viewport={"width": w, "height": h})
    page = ctx.new_page()
    page.log = PageLog(page)
    server = dashboard(name)
    page.goto(server.url + query, timeout=300_000)
    page.wait_for_selector(READY, timeout=300_000, state="visible")
    lec = Lecture(page, f"{name}-{viewport}", small=viewport == "1024x768")
    lec.ctx = ctx
    return lec


@pytest.fixture
def lecture(browser, dashboard, request):
    made = []

    def start(name: str, viewport: str) -> Lecture:
        lec = open_lecture(browser, dashboard, name, viewport)
        made.append(lec)
        return lec

    yield start
    for lec in made:
        if not lec.page.log.foreign == []:
            print("requests off the machine:", lec.page.log.foreign)
        lec.ctx.close()


def loaded(lec: Lecture, extra=None):
    """First step: the page as loaded — every widget rendered, offline, no notebook source in the page
    (what test_dashboards.py checked before these scenarios)."""
    page = lec.page

    def check():
        problems = list(extra() if extra else [])
        if page.log.foreign:
            problems.append(f"requests off the machine: {page.log.foreign[:5]}")
        if "from diffviz.widgets import" in page.content():
            problems.append("the served page holds the notebook's source (strip_sources)")
        seen = page.evaluate("""() => ({
            canvases: Array.from(document.querySelectorAll('canvas.dv-cell')).filter(c => c.width > 0).length,
            plots: document.querySelectorAll('.js-plotly-plot .main-svg').length,
            images: Array.from(document.querySelectorAll('.widget-image')).filter(i => i.naturalWidth > 0).length})""")
        if not sum(seen.values()) and not page.locator(".widget-tab").count():
            problems.append(f"the dashboard shows no pictures or charts: {seen}")
        bundles = [u for u in page.log.urls if "plotly-widgetbundle" in u]
        if len(bundles) > 1:
            problems.append(f"plotly's bundle is fetched once per page, got {len(bundles)}: {bundles[:3]}")
        # binary buffers (a trajectory's frames, sent once) may be large; JSON this large is a chart's bundle
        if page.log.received_json_sizes and max(page.log.received_json_sizes) >= 1_000_000:
            problems.append(f"a kernel message with {max(page.log.received_json_sizes)} bytes of JSON: "
                            "a chart carries the plotly bundle")
        return problems
    lec.step("page loaded", check=check)


def png_file(tmp: Path) -> Path:
    from PIL import Image

    y, x = np.mgrid[0:48, 0:48]
    img = np.stack([x * 5, y * 5, (x + y) * 2], -1).astype(np.uint8)
    path = tmp / "upload.png"
    Image.fromarray(img).save(path)
    return path


def revert_check(ctrl, want: str):
    def check():
        got = ctrl.locator("input").first.input_value()
        return [] if got == want else [f"the refused value was not put back: the box shows {got!r}, expected {want!r}"]
    return check


# ---- 01 forward ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_forward_lecture(lecture, viewport, tmp_path):
    lec = lecture("01_forward", viewport)
    page = lec.page
    loaded(lec)
    view = page.locator(".diffviz-view").first
    imgs = view.locator("img.widget-image")
    lec.region("x0", imgs.nth(0))
    lec.region("x_t", imgs.nth(1))
    charts = tag(view.locator(".widget-hbox").filter(has=page.locator(".js-plotly-plot")), "charts")
    lec.region("schedule chart", charts.locator("> :nth-child(1)"))
    lec.region("histogram", charts.locator("> :nth-child(2)"))
    lec.region("strip", view.locator(".dv-player .dv-grid"))
    t_ctrl, T_ctrl = control(view, "t"), control(view, "T")
    seed, index = control(view, "Seed"), control(view, "#")

    def caption_matches_t():
        text = view.locator(".widget-html-content").filter(has_text=re.compile(r"^\s*t = \d+")).first.inner_text()
        nums = numbers(text)
        problems = []
        if not nums or str(int(nums[0])) != readout(t_ctrl):
            problems.append(f"the caption's t ({text.splitlines()[0] if text else '?'}) is not the slider's t ({readout(t_ctrl)})")
        ab = re.search(r"ᾱ\s*t?\s*=\s*([0-9.]+)", text)
        if not ab or not 0 <= float(ab.group(1)) <= 1:
            problems.append(f"ᾱ_t must be in [0, 1], the caption says {text!r}")
        return problems

    lec.step("drag t to 80% with the mouse", lambda: slider_drag(t_ctrl, 0.8),
             changes=["x_t", "histogram", "schedule chart"], same=["x0", "strip"], check=caption_matches_t)
    lec.step("t by keyboard: Home", lambda: slider_keys(t_ctrl, "Home"), changes=["x_t", "histogram"], same=["x0"],
             check=caption_matches_t)
    lec.step("t by keyboard: End then ArrowLeft x3", lambda: slider_keys(t_ctrl, "End", *["ArrowLeft"] * 3),
             changes=["x_t", "histogram"], check=caption_matches_t)
    lec.step("T: drag to 30% (a new schedule chart)", lambda: slider_drag(T_ctrl, 0.3),
             changes=["schedule chart"], same=["x0"])
    lec.step("T by keyboard: ArrowRight x3", lambda: slider_keys(T_ctrl, "ArrowRight", "ArrowRight", "ArrowRight"),
             changes=["schedule chart"])
    lec.step("drag t to 40%", lambda: slider_drag(t_ctrl, 0.4), changes=["x_t", "histogram"], check=caption_matches_t)
    lec.step("schedule: cosine", lambda: control(view, "Schedule").locator("select").select_option("cosine"),
             changes=["schedule chart", "x_t"], same=["x0"], check=caption_matches_t)
    lec.step("schedule: scaled_linear", lambda: control(view, "Schedule").locator("select").select_option("scaled_linear"),
             changes=["schedule chart", "x_t"])
    lec.step("seed 7", lambda: type_into(seed, "7"), changes=["x_t", "strip"], same=["x0"])
    lec.step("seed -5 is refused", lambda: type_into(seed, "-5"), same=["x_t", "x0"], expect_error=True,
             check=revert_check(seed, "7"))
    lec.step("seed 8: a new valid value clears the banner", lambda: type_into(seed, "8"), scope=view)
    lec.step("image source: digits", lambda: control(view, "Image").locator("select").select_option("digits"),
             changes=["x0", "x_t", "strip"], scope=view)
    lec.step("image #5", lambda: type_into(index, "5"), changes=["x0", "x_t"])
    path = png_file(tmp_path)
    def upload():
        with page.expect_file_chooser(timeout=10_000) as chooser:
            view.locator(".widget-upload").first.click()
        chooser.value.set_files(str(path))

    lec.step("upload an image", upload, changes=["x0", "x_t"])
    scrub_player(lec, view.locator(".dv-player").first, "strip")
    lec.finish()


# ---- 02 reverse / 03 training: ReverseProcess and NoiseInspector -----------------------------------------
def noise_inspector_steps(lec: Lecture, view, cond: str) -> None:
    """Every control of a NoiseInspector (`cond`: "Prompt" text box or "Class" dropdown)."""
    boxes = picture_boxes(view, f"ni-{lec.n}")
    lec.region("ni pictures", boxes[0])
    lec.region("ni guided", boxes[1] if len(boxes) > 1 else boxes[0])
    seed = control(view, "Noise seed")

    def mse_ok():
        text = html_text(view, r"MSE")
        nums = numbers(text.split("=", 1)[-1]) if text else []
        if not nums or not nums[0] >= 0:
            return [f"noise inspector: expected 'MSE ‖ε − ε̂‖² = <number ≥ 0>', saw {text!r}"]
        return []

    lec.step("noise inspector: example 3", lambda: type_into(control(view, "Example"), "3"),
             changes=["ni pictures"], check=mse_ok)
    if cond == "Prompt":
        lec.step("noise inspector: prompt", lambda: type_into(control(view, "Prompt"), "a small green triangle"),
                 changes=["ni pictures", "ni guided"])
    else:
        lec.step("noise inspector: class 7", lambda: control(view, "Class").locator("select").select_option(label="7"),
                 changes=["ni pictures", "ni guided"])
    lec.step("noise inspector: drag t to 20%", lambda: slider_drag(control(view, "t"), 0.2),
             changes=["ni pictures"], check=mse_ok)
    lec.step("noise inspector: t by keyboard End", lambda: slider_keys(control(view, "t"), "End"),
             changes=["ni pictures"], check=mse_ok)
    lec.step("noise inspector: noise seed 4", lambda: type_into(seed, "4"), changes=["ni pictures"])
    lec.step("noise inspector: noise seed -5 is refused", lambda: type_into(seed, "-5"), same=["ni pictures"],
             expect_error=True, check=revert_check(seed, "4"))
    lec.step("noise inspector: noise seed 6 clears the banner", lambda: type_into(seed, "6"), scope=view)
    lec.step("noise inspector: w by keyboard", lambda: slider_keys(control(view, "Guidance w"), "End"), changes=["ni guided"],
             scope=view)

    def trained():
        text = html_text(view, r"step \d+: loss")
        nums = numbers(text)
        return [] if "→" in text and len(nums) >= 3 else [f"after 'Train one step' expected 'Step 1: loss … a → b', saw {text!r}"]

    lec.step("noise inspector: Train one step", lambda: button(view, "Train one step").click(), check=trained)
    lec.step("noise inspector: Reset copy", lambda: button(view, "Reset copy").click(),
             check=lambda: [] if not html_text(view, r"step \d+: loss .*→") else ["'Reset copy' left the training log shown"])
    lec.step("noise inspector: Use a generated image", lambda: button(view, "Use a generated image").click(),
             changes=["ni pictures"], check=mse_ok, scope=view)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_reverse_lecture(lecture, viewport):
    lec = lecture("02_reverse", viewport)
    page = lec.page
    view, inspector = page.locator(".diffviz-view").nth(0), page.locator(".diffviz-view").nth(1)
    loaded(lec)
    player = view.locator(".dv-player").first
    lec.region("player", player.locator(".dv-grid"))
    lec.region("final", view.locator("img.widget-image").first)
    seed = control(view, "Seed")

    def summary(n: int):
        def check():
            text = html_text(view, r"image\(s\)")
            cols = view.locator("canvas.dv-cell[data-row='0']").count()  # one per image, however they wrap
            problems = []
            if not text.startswith(f"{n} image"):
                problems.append(f"expected the summary to say {n} image(s), saw {text!r}")
            if cols != n:
                problems.append(f"expected {n} columns in the player, saw {cols}")
            if player_step(player) != int(player.locator(".dv-slider").get_attribute("max") or -1):
                problems.append("after Generate the player should show the last step")
            return problems
        return check

    lec.step("prompt 'a blue square', Generate", lambda: (type_into(control(view, "Prompt"), "a blue square"),
                                                          button(view, "Generate").click()),
             changes=["player", "final"], check=summary(4))
    lec.step("steps 20 typed into the slider's readout", lambda: slider_type(control(view, "Steps"), 20))
    lec.step("scheduler: ddpm", lambda: control(view, "Scheduler").locator("select").select_option("ddpm"))
    lec.step("guidance by keyboard (ArrowRight x2)", lambda: slider_keys(control(view, "Guidance"), "ArrowRight", "ArrowRight"))
    lec.step("seed 3", lambda: type_into(seed, "3"))
    lec.step("Generate with the new settings", lambda: button(view, "Generate").click(), changes=["player", "final"],
             check=lambda: summary(4)() + ([] if "20 ddpm steps" in html_text(view, r"image\(s\)")
                                           else [f"summary should say '20 ddpm steps': {html_text(view, r'image')!r}"]))
    lec.step("seed -5 is refused", lambda: type_into(seed, "-5"), same=["final"], expect_error=True,
             check=revert_check(seed, "3"))
    lec.step("seed 2: a new valid value clears the banner", lambda: type_into(seed, "2"), scope=view)
    lec.step("images: drag to 8, Generate", lambda: (slider_drag(control(view, "Images"), 1.0),
                                                     button(view, "Generate").click()),
             changes=["player", "final"], check=summary(8), scope=view)
    scrub_player(lec, player, "player")
    noise_inspector_steps(lec, inspector, "Prompt")
    lec.finish()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_training_lecture(lecture, viewport):
    lec = lecture("03_training", viewport)
    loaded(lec)
    noise_inspector_steps(lec, lec.page.locator(".diffviz-view").first, "Class")
    lec.finish()


# ---- 04 guidance: GuidanceSweep and SchedulerCompare ------------------------------------------------------
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_guidance_lecture(lecture, viewport):
    lec = lecture("04_guidance", viewport)
    page = lec.page
    sweep, sched = page.locator(".diffviz-view").nth(0), page.locator(".diffviz-view").nth(1)
    loaded(lec)
    lec.region("sweep images", first_pictures(lec, sweep, "sweep"))
    sweep_chart = chart_box(sweep, "sweep-chart")
    lec.region("sweep chart", sweep_chart)
    lec.region("scheduler grid", first_pictures(lec, sched, "sched"))

    def clip_scores(n: int):
        def check():
            text = html_text(sweep, r"CLIP score per scale")
            pairs = re.findall(r"w=([0-9.]+):\s*(-?[0-9.]+)", text)
            problems = []
            if len(pairs) != n:
                problems.append(f"expected {n} CLIP scores (one per scale), saw {text!r}")
            if any(not -100 <= float(s) <= 100 for _, s in pairs):
                problems.append(f"CLIP scores must be in [-100, 100], saw {text!r}")
            labels = len(re.findall(r"w = [0-9.]+", lec.regions["sweep images"].inner_text()))
            if labels != n:
                problems.append(f"expected {n} pictures labelled 'w = …', saw {labels}")
            return problems
        return check

    lec.step("sweep: prompt", lambda: type_into(control(sweep, "Prompt"), "a big red square"))
    lec.step("sweep: scales '0, 2, 6'", lambda: type_into(control(sweep, "Scales w"), "0, 2, 6"))
    lec.step("sweep: scales 'abc' is refused", lambda: type_into(control(sweep, "Scales w"), "abc"), expect_error=True)
    lec.step("sweep: scales '0, 2, 6' again", lambda: type_into(control(sweep, "Scales w"), "0, 2, 6"), scope=sweep)
    lec.step("sweep: seed 5", lambda: type_into(control(sweep, "Seed"), "5"))
    fid = control(sweep, "FID images / scale")
    if fid.count() and fid.locator("input").is_enabled():
        lec.step("sweep: FID images / scale 4 is refused", lambda: type_into(fid, "4"), expect_error=True)
        lec.step("sweep: FID images / scale 16", lambda: type_into(fid, "16"), scope=sweep)
    lec.step("sweep: Run", lambda: button(sweep, "Run").click(), changes=["sweep images", "sweep chart"],
             check=clip_scores(3), scope=sweep)
    lec.step("sweep: seed -5 is refused", lambda: type_into(control(sweep, "Seed"), "-5"), expect_error=True,
             check=revert_check(control(sweep, "Seed"), "5"))
    lec.step("sweep: seed 6 clears the banner", lambda: type_into(control(sweep, "Seed"), "6"), scope=sweep)
    lec.step("schedulers: steps '5, 10'", lambda: type_into(control(sched, "Steps"), "5, 10"))
    lec.step("schedulers: steps '0' is refused", lambda: type_into(control(sched, "Steps"), "0"), expect_error=True)
    lec.step("schedulers: steps '5, 10' again", lambda: type_into(control(sched, "Steps"), "5, 10"), scope=sched)
    lec.step("schedulers: prompt", lambda: type_into(control(sched, "Prompt"), "a blue circle"))
    lec.step("schedulers: seed 2", lambda: type_into(control(sched, "Seed"), "2"))

    def grid():
        text = lec.regions["scheduler grid"].inner_text()
        counts = sorted({int(n) for n in re.findall(r"· (\d+)", text)})
        return [] if counts == [5, 10] else [f"expected pictures for 5 and 10 steps, saw captions {text[:300]!r}"]

    lec.step("schedulers: Run", lambda: button(sched, "Run").click(), changes=["scheduler grid"], check=grid,
             scope=sched)
    lec.finish()


# ---- 05 latent ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_latent_lecture(lecture, viewport):
    lec = lecture("05_latent", viewport)
    page = lec.page
    view = page.locator(".diffviz-view").first
    loaded(lec)
    lec.region("token states", chart_box(view, "states"))
    lec.region("pictures", first_pictures(lec, view, "latent"))

    def psnr():
        text = html_text(view, r"reconstruction PSNR")
        m = re.search(r"PSNR (-?[0-9.]+) dB", text)
        return [] if m and float(m.group(1)) > 10 else [f"expected a reconstruction PSNR above 10 dB, saw {text!r}"]

    def tokens(n_words: int):
        def check():
            text = html_text(view, r"tokens \(of")
            m = re.match(r"\s*(\d+) tokens", text)
            return [] if m and int(m.group(1)) >= n_words else [f"expected at least {n_words} tokens listed, saw {text!r}"]
        return check

    lec.step("reconstruction quality", check=psnr)
    lec.step("prompt 'a big green triangle at the top'", lambda: type_into(control(view, "Prompt"), "a big green triangle at the top"),
             changes=["token states"], same=["pictures"], check=tokens(7))
    lec.step("prompt 'a red circle'", lambda: type_into(control(view, "Prompt"), "a red circle"),
             changes=["token states"], check=tokens(3))
    lec.step("example 4", lambda: type_into(control(view, "Example"), "4"), changes=["pictures"], same=["token states"],
             check=psnr)
    lec.finish()


# ---- 06 evaluation: ClipSimilarity and FidExplorer ---------------------------------------------------------
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_evaluation_lecture(lecture, viewport):
    lec = lecture("06_evaluation", viewport)
    page = lec.page
    clip, fid = page.locator(".diffviz-view").nth(0), page.locator(".diffviz-view").nth(1)
    loaded(lec)
    lec.region("clip images", clip.locator("img.widget-image").first)
    clip_charts = tag(clip.locator(".widget-hbox").filter(has=page.locator(".js-plotly-plot")), "clip-charts")
    lec.region("clip matrix", clip_charts.locator("> :nth-child(1)"))
    lec.region("clip projection", clip_charts.locator("> :nth-child(2)"))
    lec.region("clip per step", chart_box(clip, "clip-step"))

    def matrix_labels():
        text = clip_charts.inner_text() if clip_charts.count() else ""
        return [] if "a green triangle" in text else ["the similarity matrix should list the new prompt 'a green triangle'"]

    lec.step("clip: prompts edited", lambda: type_into(control(clip, "Prompts"), "a red circle\na green triangle\na blue square"))
    lec.step("clip: Generate and compare", lambda: button(clip, "Generate and compare").click(),
             changes=["clip images", "clip matrix", "clip projection", "clip per step"], check=matrix_labels)
    lec.step("clip: empty prompts are refused", lambda: (type_into(control(clip, "Prompts"), "  "),
                                                         button(clip, "Generate and compare").click()),
             expect_error=True, same=["clip images"])
    lec.step("fid: N typed 160", lambda: slider_type(control(fid, "N"), 160), scope=fid)
    lec.step("fid: batch by keyboard End", lambda: slider_keys(control(fid, "Batch"), "End"))
    lec.step("fid: steps drag to 5%", lambda: slider_drag(control(fid, "Steps"), 0.05))

    def fid_numbers():
        text = html_text(fid, r"FID =")
        got = {k: re.search(p, text) for k, p in {
            "fid": r"FID = ([0-9.]+)", "n": r"N = (\d+)", "floor": r"floor[^≈=]*[≈=] ([0-9.]+)",
            "kid": r"KID×1000 = (-?[0-9.]+) ± ([0-9.]+)"}.items()}
        missing = [k for k, m in got.items() if not m]
        if missing:
            return [f"expected FID, N, the real-vs-real floor and KID ± spread in the result, missing {missing}: {text!r}"]
        fid_v, n, floor = float(got["fid"][1]), int(got["n"][1]), float(got["floor"][1])
        kid_std = float(got["kid"][2])
        problems = []
        if n != 160:
            problems.append(f"FID should be measured on N = 160 images, the result says N = {n}")
        if fid_v < 0:
            problems.append(f"FID must be ≥ 0, saw {fid_v}")
        if not kid_std > 0:
            problems.append(f"the KID spread over subsets must be > 0, saw ± {kid_std}")
        if not floor < fid_v:
            problems.append(f"the real-vs-real floor ({floor}) must be below the generated images' FID ({fid_v}) at equal N")
        return problems

    def fid_charts_drawn():
        problems = fid_numbers()
        plots = fid.locator(".js-plotly-plot .main-svg")
        if plots.count() < 2 or not all(plots.nth(i).is_visible() for i in range(2)):
            problems.append("after the run, the FID-vs-N chart and the feature-space chart are drawn")
        return problems

    # the two charts appear with the first result (no empty axes before it)
    def measure():
        button(fid, "Generate and measure").click()
        # the result line appears when the run ends (it runs on the kernel's worker thread)
        fid.get_by_text(re.compile(r"FID = [0-9]")).first.wait_for(timeout=300_000)

    lec.step("fid: Generate and measure", measure, check=fid_charts_drawn, scope=fid)
    lec.step("clip: prompts again, Generate and compare", lambda: (
        type_into(control(clip, "Prompts"), "a red circle\na blue square"), button(clip, "Generate and compare").click()),
        changes=["clip images"], scope=clip)
    lec.finish()


# ---- explainer: every tab ------------------------------------------------------------------------------------
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_explainer_lecture(lecture, viewport):
    lec = lecture("explainer", viewport)
    page = lec.page
    tabs = page.locator(".widget-tab .lm-TabBar-tab")
    loaded(lec)
    titles = tabs.all_inner_texts()

    def opened(i: int, title: str):
        def check():
            panel = page.locator(".widget-tab > .widget-tab-contents > :not(.lm-mod-hidden)").first
            problems = []
            if "lm-mod-current" not in (tabs.nth(i).get_attribute("class") or ""):
                problems.append(f"tab {title!r} is not selected after clicking it")
            has_view = panel.evaluate("e => e.matches('.diffviz-view') || !!e.querySelector('.diffviz-view')")
            if not has_view:
                problems.append(f"tab {title!r} shows no view: {panel.inner_text()[:200]!r}")
            return problems
        return check

    for i, title in enumerate(titles[1:], start=1):
        lec.step(f"open tab {i + 1}: {title}", lambda i=i: tabs.nth(i).click(), check=opened(i, title))
    lec.step("back to tab 1, drag t", lambda: (tabs.nth(1).click(),
                                              slider_drag(control(page.locator(".diffviz-view").first, "t"), 0.7)))
    lec.finish()


# ---- word maps (05_latent) and two prompts (04_guidance) ------------------------------------------------------
def step_label(player) -> str:
    return player.locator(".dv-step-label").inner_text().strip()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_word_maps_lecture(lecture, viewport):
    lec = lecture("05_latent", viewport)
    page = lec.page
    view = page.locator(".diffviz-view").nth(1)
    loaded(lec)
    player = view.locator(".dv-player").first
    lec.region("word map", player.locator(".dv-grid"))
    lec.region("share chart", chart_box(view, "shares"))
    tokens = view.locator(".widget-toggle-buttons .widget-toggle-button")

    def offered(words: list[str]):
        def check():
            got = [t.strip() for t in tokens.all_inner_texts()]
            want = ["<start>", *words, "<end>"]
            return [] if got == want else [f"expected the token buttons {want}, saw {got}"]
        return check

    prompt = "a small green triangle in the centre"
    lec.step("prompt typed, Generate", lambda: (type_into(control(view, "Prompt"), prompt), button(view, "Generate").click()),
             changes=["word map", "share chart"], check=offered(prompt.split()), scope=view)
    for i, word in enumerate(["<start>", *prompt.split(), "<end>"]):
        def picked(word=word):
            problems = []
            if "mod-active" not in (tokens.nth(i).get_attribute("class") or ""):
                problems.append(f"the button {word!r} is not shown as picked")
            if f"'{word}'" not in step_label(player):
                problems.append(f"the step label should name the picked token {word!r}: {step_label(player)!r}")
            if f"'{word}'" not in html_text(view, r"of the attention at step 1"):
                problems.append(f"the readout should name {word!r}: {html_text(view, 'attention')!r}")
            return problems
        current = tokens.nth(i).get_attribute("class") or ""
        lec.step(f"token {word!r}", lambda i=i: tokens.nth(i).click(),
                 changes=[] if "mod-active" in current else ["word map"], check=picked, scope=view)
    scrub_player(lec, player, "word map")
    lec.step("empty prompt is refused", lambda: (type_into(control(view, "Prompt"), " "), button(view, "Generate").click()),
             expect_error=True, same=["word map"])
    lec.finish()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_prompt_compare_lecture(lecture, viewport):
    lec = lecture("04_guidance", viewport)
    page = lec.page
    view = page.locator(".diffviz-view").nth(2)
    loaded(lec)
    player = view.locator(".dv-player").first
    lec.region("pair", player.locator(".dv-grid"))
    lec.region("delta chart", chart_box(view, "delta"))

    def delta_shown(positive: bool = True):
        def check():
            label = step_label(player)
            m = re.search(r"\|Δx̂0\| = ([0-9.]+)", label)
            if not m:
                return [f"the step label should give |Δx̂0|: {label!r}"]
            d = float(m.group(1))
            ok = d > 0 if positive else d == 0
            return [] if ok else [f"expected |Δx̂0| {'> 0' if positive else '= 0'} at this step, saw {d}"]
        return check

    lec.step("prompts A and B typed, Compare", lambda: (type_into(control(view, "Prompt A"), "a big red square at the top left"),
                                                         type_into(control(view, "Prompt B"), "a big red square at the bottom right"),
                                                         button(view, "Compare").click()),
             changes=["pair", "delta chart"], check=delta_shown(), scope=view)
    lec.step("B = A: no difference", lambda: (type_into(control(view, "Prompt B"), "a big red square at the top left"),
                                             button(view, "Compare").click()),
             changes=["pair", "delta chart"], check=delta_shown(False), scope=view)

    def removed():
        got = control(view, "Prompt B").locator("input").first.input_value()
        return [] if got == "a big square at the top left" else [f"removing 'red' should give B = 'a big square at the top left', saw {got!r}"]

    lec.step("remove the word 'red' from A", lambda: control(view, "Remove a word from A").locator("select").select_option(label="red"),
             check=removed)
    lec.step("Compare without 'red'", lambda: button(view, "Compare").click(), changes=["pair", "delta chart"],
             check=delta_shown(), scope=view)
    scrub_player(lec, player, "pair")
    lec.step("both prompts empty is refused", lambda: (type_into(control(view, "Prompt A"), ""), type_into(control(view, "Prompt B"), ""),
                                                       button(view, "Compare").click()),
             expect_error=True, same=["pair"])
    lec.finish()


OVERVIEW_BOXES = {"Prompt": "Two prompts", "Tokens": "Word maps", "Text encoder": "Latent diffusion",
                  "Generator ↻ t": "Reverse process", "Decoder": "Latent diffusion", "Image": "CLIP score",
                  "training data: noising": "Forward process", "predicts the noise ε̂": "Noise predictor",
                  "guidance": "Guidance", "scheduler steps": "Schedulers"}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_explainer_overview(lecture, viewport):
    lec = lecture("explainer", viewport)
    page = lec.page
    tabs = page.locator(".widget-tab .lm-TabBar-tab")
    loaded(lec)
    overview = page.locator(".dv-overview").first

    def opens(title: str):
        def check():
            current = page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current").first.inner_text()
            panel = page.locator(".widget-tab > .widget-tab-contents > :not(.lm-mod-hidden)").first
            problems = [] if title in current else [f"expected the tab {title!r} to open, the current tab is {current!r}"]
            if not panel.evaluate("e => e.matches('.diffviz-view') || !!e.querySelector('.diffviz-view')"):
                problems.append(f"tab {title!r} shows no view: {panel.inner_text()[:200]!r}")
            return problems
        return check

    def box_fits():
        w = overview.evaluate("e => e.getBoundingClientRect().right")
        return [] if w <= page.viewport_size["width"] else [f"the overview is {w} px wide, wider than the page"]

    def first_tab():
        current = page.locator(".widget-tab .lm-TabBar-tab.lm-mod-current").first.inner_text()
        boxes = overview.locator(".widget-button").count()
        return box_fits() + ([] if "Overview" in current else [f"the explainer should open on the overview, it shows {current!r}"]) + (
            [] if boxes == len(OVERVIEW_BOXES) else [f"expected {len(OVERVIEW_BOXES)} boxes in the overview, saw {boxes}"])

    lec.step("the overview is the first tab", check=first_tab)
    for box, title in OVERVIEW_BOXES.items():
        lec.step(f"overview box {box!r} opens {title!r}",
                 lambda box=box: (tabs.nth(0).click(),
                                  overview.locator(".widget-button").filter(has_text=re.compile(rf"^\s*{re.escape(box)}\s*$")).first.click()),
                 check=opens(title))


def training_lab_steps(lec: Lecture, lab) -> None:
    """The TrainingLab below the noise inspector: start, pause, resume, reset; the training-time player;
    the 2-D view's players and its t slider."""
    page = lec.page
    lab.scroll_into_view_if_needed()
    loss = tag(lab.locator(".js-plotly-plot").first, "lab-loss")
    lec.region("loss chart", loss)
    status = lab.locator(".dv-lab-status").first

    def points() -> int:  # points on the loss curve, as plotly drew them
        return int(loss.evaluate("e => (e.data && e.data[0] && e.data[0].x) ? e.data[0].x.length : -1"))

    def last_step() -> int:  # the step of the curve's last point (the curve is thinned to 400 points as it grows)
        return int(loss.evaluate("e => (e.data && e.data[0] && e.data[0].x && e.data[0].x.length) ? "
                                 "e.data[0].x[e.data[0].x.length - 1] : -1"))

    def state() -> str:
        return status.inner_text().strip()

    def wait_state(word: str, timeout: float = 240):
        # the status line is re-rendered on every update: look it up afresh each time
        page.wait_for_function("w => Array.from(document.querySelectorAll('.dv-lab-status')).some(e => e.innerText.includes(w))",
                               arg=word, timeout=timeout * 1000)

    seen = {}
    lec.step("digits: 5 steps", lambda: type_into(control(lab, "Steps"), "5"))
    lec.step("digits: press Start, wait for the end", lambda: (button(lab, "Start").click(), wait_state("finished")),
             changes=["loss chart"],
             check=lambda: [] if points() == 5 and "step 5 of 5" in state() else
             [f"after 5 steps the loss curve should have 5 points and the status say 'step 5 of 5': {points()} points, {state()!r}"])
    lec.step("data: 2-D two moons", lambda: control(lab, "Data").locator("select").select_option(label="2-D: two moons"),
             check=lambda: [] if points() == 0 and "not started" in state() else
             [f"new data restarts from scratch: {points()} loss points, status {state()!r}"])
    pd = lab.locator(".diffviz-view").first  # the 2-D view inside the lab
    lec.step("steps 100000, Start, let it train 4 s, Pause",
             lambda: (type_into(control(lab, "Steps"), "100000"), button(lab, "Start").click(), page.wait_for_timeout(4000),
                      button(lab, "Pause").click(), wait_state("paused", 60)),
             check=lambda: (seen.update(paused=points(), paused_step=last_step()),
                            [] if seen["paused"] > 5 else [f"after 4 s of training only {points()} loss points"])[1])
    lec.step("paused: the loss curve does not grow", lambda: page.wait_for_timeout(2500),
             check=lambda: [] if points() == seen["paused"] and "paused" in state() else
             [f"paused at {seen['paused']} points, now {points()} ({state()!r})"])
    def train_to(step: int):  # the samples film keeps a frame every 100 steps: train until it has 6
        page.wait_for_function("n => Array.from(document.querySelectorAll('.dv-lab-status')).some(e => "
                               "Number((e.innerText.match(/step (\\d+) of/) || [0, 0])[1]) >= n)", arg=step, timeout=180_000)

    lec.step("Resume, train to step 520 (or 50 past the pause), Pause again",
             lambda: (button(lab, "Resume").click(), train_to(max(520, seen["paused_step"] + 50)),
                                                                button(lab, "Pause").click(), wait_state("paused", 60)),
             changes=["loss chart"],
             check=lambda: [] if last_step() >= 520 and last_step() > seen["paused_step"] else
             [f"resume did not train on: the curve ends at step {last_step()}, was {seen['paused_step']} when paused"])
    samples = lab.locator(".dv-player").first
    lec.region("samples", samples.locator(".dv-grid"))

    def frames() -> int:
        return int(samples.locator(".dv-slider").get_attribute("max") or 0) + 1

    lec.step("the samples player holds frames over training time", check=lambda: [] if frames() >= 6 else
             [f"expected ≥ 6 sample frames (one per 100 steps) after {state()!r}, got {frames()}"])
    if frames() >= 6:
        scrub_player(lec, samples, "samples", title="samples over training time")
    fwd = pd.locator(".dv-player").nth(0)
    lec.region("forward film", fwd)
    lec.step("Diffuse and come back", lambda: button(pd, "Diffuse and come back").click(), changes=["forward film"],
             check=lambda: [] if int(fwd.locator(".dv-slider").get_attribute("max") or 0) >= 20 else ["the forward film has < 21 frames"])
    lec.region("forward grid", fwd.locator(".dv-grid"))
    scrub_player(lec, fwd, "forward grid", title="forward process film")
    field = tag(pd.locator(".js-plotly-plot").last, "field")
    lec.region("field", field)
    lec.step("t slider to 90 % with the mouse: the field changes", lambda: slider_drag(control(pd, "t"), 0.9), changes=["field"])
    lec.step("Reset clears the loss and the samples", lambda: button(lab, "Reset").click(), changes=["loss chart"],
             check=lambda: [] if points() == 0 and frames() <= 1 and "not started" in state() else
             [f"after reset: {points()} loss points, {frames()} sample frames, {state()!r}"])


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_training_lab_lecture(lecture, viewport):
    lec = lecture("03_training", viewport)
    loaded(lec)
    lab = lec.page.locator(".diffviz-view").filter(has_text="Training lab").last
    training_lab_steps(lec, lab)
    lec.finish()
