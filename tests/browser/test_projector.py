"""A lecture on a projector (issue 23, points 10 and 16): Voila's `?presenter=1` lays the zoomed page out for
the zoomed width (nothing cut off, no sideways scroll); the Explainer's tabs are reached and switched by
keyboard; the FramePlayer has step −1/+1, loop and full-screen buttons, and its pictures grow with the room.
"""
from __future__ import annotations

import pytest

from .conftest import open_exported
from .lecture import control
from .test_lectures import VIEWPORTS, dashboard, open_lecture  # noqa: F401  (dashboard: the Voila server fixture)

TABS = ".widget-tab .lm-TabBar-tab"
RIGHT_EDGES = """() => { const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.right > W + 1) out.push(`${e.tagName.toLowerCase()}.${String(e.className).split(' ')[0]} ${Math.round(r.right)}`);
  }
  return {W, scroll: document.documentElement.scrollWidth, out: out.slice(0, 8),
          body: getComputedStyle(document.body).zoom, box: getComputedStyle(document.querySelector('.diffviz-explainer')).zoom}; }"""


def fits(page, where: str) -> list[str]:
    seen = page.evaluate(RIGHT_EDGES)
    problems = []
    if seen["scroll"] > seen["W"]:
        problems.append(f"{where}: the page scrolls sideways ({seen['scroll']} > {seen['W']} px)")
    if seen["out"]:
        problems.append(f"{where}: right edges past the viewport ({seen['W']} px): {seen['out']}")
    if float(seen["box"]) != pytest.approx(1.3) or float(seen["body"]) != 1:
        problems.append(f"{where}: expected the Explainer zoomed 1.3× and the body not, saw {seen['box']} and {seen['body']}")
    return problems


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_presenter_url_lays_the_zoomed_page_out_for_its_width(browser, dashboard, viewport):  # noqa: F811
    lec = open_lecture(browser, dashboard, "explainer", viewport, query="?presenter=1")
    page = lec.page
    try:
        lec.step("?presenter=1: the overview fits", check=lambda: fits(page, "overview"))
        tabs = page.locator(TABS)
        lec.step("open the forward process", lambda: tabs.nth(1).click(), check=lambda: fits(page, "forward process"))

        def seed_box_on_screen():
            box = control(page.locator(".diffviz-view").first, "Seed").locator("input").bounding_box()
            w = page.viewport_size["width"]
            return [] if box and box["x"] + box["width"] <= w else [f"the Seed box is cut off at {w} px: {box}"]

        lec.step("the Seed box is on screen", check=seed_box_on_screen)
        lec.finish()
    finally:
        lec.ctx.close()


def test_explainer_tabs_by_keyboard(browser, dashboard):  # noqa: F811
    lec = open_lecture(browser, dashboard, "explainer", "1024x768")
    page = lec.page
    tabs = page.locator(TABS)
    try:
        def tab_to_headers():
            page.locator("body").focus()
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.evaluate("() => !!document.activeElement?.closest('.lm-TabBar-tab')"):
                    return

        def on_header():
            return [] if page.evaluate("() => !!document.activeElement?.closest('.lm-TabBar-tab')") else [
                "Tab never focused a tab header (40 presses)"]

        lec.step("Tab reaches the tab headers", tab_to_headers, check=on_header)
        lec.step("ArrowRight, Enter opens the next tab", lambda: (page.keyboard.press("ArrowRight"), page.keyboard.press("Enter")),
                 check=lambda: [] if "lm-mod-current" in (tabs.nth(1).get_attribute("class") or "") else
                 [f"the second tab is not selected; current: {page.locator(TABS + '.lm-mod-current').inner_text()!r}"])

        def shows_forward():
            panel = page.locator(".widget-tab > .widget-tab-contents > :not(.lm-mod-hidden)").first
            return [] if panel.locator(".diffviz-view").count() or "diffviz-view" in (panel.get_attribute("class") or "") else [
                "the tab opened by keyboard shows no view"]

        lec.step("the opened tab shows its view", check=shows_forward)
        lec.finish()
    finally:
        lec.ctx.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import diffviz
    from diffviz.export import export_html, lecture_sections

    path = tmp_path_factory.mktemp("projector") / "lecture.html"
    return export_html(path, lecture_sections(diffviz.load("tiny-text"), steps=8, sections=["forward", "reverse"]))


def player_state(player) -> dict:
    return player.evaluate("p => ({step: Number(p.dataset.step), cell: Number(p.dataset.cell), "
                           "full: document.fullscreenElement === p, steps: Number(p.querySelector('.dv-slider').max) + 1,"
                           "loop: p.querySelector('.dv-loop').getAttribute('aria-pressed')})")


def test_player_step_loop_and_full_screen_buttons(browser, exported):
    ctx, page, errors, external = open_exported(browser, exported, {"width": 1400, "height": 1000})
    try:
        player = page.locator("#reverse .dv-player").first
        player.scroll_into_view_if_needed()
        start = player_state(player)
        player.locator(".dv-forward").click()
        player.locator(".dv-forward").click()
        assert player_state(player)["step"] == (start["step"] + 2) % start["steps"], "step +1 pressed twice"
        player.locator(".dv-back").click()
        assert player_state(player)["step"] == (start["step"] + 1) % start["steps"], "then step −1"
        # loop: playing past the last step starts again from the first, and goes on playing
        player.focus()
        page.keyboard.press("End")
        player.locator(".dv-loop").click()
        assert player_state(player)["loop"] == "true"
        player.locator(".dv-play").click()
        page.wait_for_function("p => Number(p.dataset.step) >= 2 && p.classList.contains('dv-playing')",
                               arg=player.element_handle(), timeout=10_000)
        player.locator(".dv-play").click()
        player.locator(".dv-loop").click()
        assert player_state(player)["loop"] == "false"
        # without loop, playing stops at the last step
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")
        player.locator(".dv-play").click()
        page.wait_for_function("p => !p.classList.contains('dv-playing')", arg=player.element_handle(), timeout=10_000)
        assert player_state(player)["step"] == start["steps"] - 1
        # full screen: the player alone, its pictures as large as the screen holds them all; the button leaves
        small = player_state(player)["cell"]
        player.locator(".dv-full").click()
        page.wait_for_function("p => document.fullscreenElement === p", arg=player.element_handle(), timeout=5_000)
        page.wait_for_timeout(300)
        big = player_state(player)["cell"]
        bottom = player.locator(".dv-grid").evaluate("g => g.getBoundingClientRect().bottom")
        assert big > small, f"full screen shows the pictures larger: {small} → {big} px"
        assert bottom <= page.viewport_size["height"], f"every picture is on the full screen: grid ends at {bottom} px"
        player.locator(".dv-full").click()
        page.wait_for_function("() => !document.fullscreenElement", timeout=5_000)
        assert not errors and not external, (errors, external)
    finally:
        ctx.close()


@pytest.mark.parametrize("width", [1024, 1400])
def test_player_pictures_grow_with_the_room(browser, exported, width):
    ctx, page, errors, external = open_exported(browser, exported, {"width": width, "height": 900})
    try:
        sizes = page.evaluate("""() => Array.from(document.querySelectorAll('.dv-player')).map(p => {
            const c = p.querySelector('canvas.dv-cell').getBoundingClientRect(), g = p.getBoundingClientRect();
            return {cell: Math.round(c.width), player: Math.round(g.width), cols: getComputedStyle(p.querySelector('.dv-grid'))
                    .gridTemplateColumns.split(' ').length - 1}; })""")
        for s in sizes:
            assert 128 <= s["cell"] <= 256, f"a picture is {s['cell']} px at {width} px (128 to 256 allowed): {sizes}"
            room = (s["player"] - 120) / s["cols"] - 6
            assert s["cell"] >= min(256, room) - 2, f"pictures take the room their row leaves ({room:.0f} px): {sizes}"
        assert not errors and not external, (errors, external)
    finally:
        ctx.close()


def test_picture_grid_tiles_grow_with_the_page(browser, dashboard):  # noqa: F811
    """The noise predictor's picture grid on a 1400 px page: tiles wider than their 128 px zoomed size
    (13 % of the page's width, at most twice it), nothing wider than the page."""
    lec = open_lecture(browser, dashboard, "explainer", "1400x1000")
    page = lec.page
    try:
        tabs = page.locator(TABS)
        titles = tabs.all_inner_texts()
        noise = next(i for i, t in enumerate(titles) if "Noise predictor" in t)
        lec.step("open the noise predictor", lambda: tabs.nth(noise).click())

        def tiles_grew():
            sizes = page.evaluate("""() => Array.from(document.querySelectorAll('.dv-tiles img.widget-image'))
                .filter(e => e.getBoundingClientRect().width > 0)
                .map(e => [Math.round(e.getBoundingClientRect().width), e.naturalWidth, innerWidth])""")
            if not sizes:
                return ["no picture grid (.dv-tiles) is shown in the noise predictor"]
            problems = []
            for shown, natural, width in sizes:
                want = min(2 * natural, max(natural, 0.13 * width))
                if not (natural < shown and abs(shown - want) <= 8):
                    problems.append(f"a {natural} px tile is drawn {shown} px wide on a {width} px page, expected ≈ {want:.0f}")
            return problems[:3]

        lec.step("the tiles grow with the page", check=tiles_grew)
        lec.finish()
    finally:
        lec.ctx.close()
