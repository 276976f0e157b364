"""Lecture scenarios in a real browser: a `Lecture` runs `step`s — an action, then checks — on one page.

Every step: performs its action, waits until the kernel answered every message the page sent
("the kernel finished"), then checks what a lecturer would see and saves a screenshot to
artifacts/screenshots/<scenario>/<nn>-<step>.png:

- no console error, no page error (anywidget's slow-init timer only when every widget still rendered),
- no JavaScript-error box, no `.dv-error` banner unless the step expects one, no stderr output block,
- no traceback in the page text nor in any message received from the kernel,
- nothing wider than the viewport, no cut label or button,
- regions that should change did change (pixels), regions that should not, did not,
- the step's own `check` (numbers within their meaning, labels, …).

Failures are collected (a lecture goes on after a broken widget, so one run lists every breakage)
and `finish()` fails the test with all of them, each naming the step, what was expected, what was
seen and the screenshot.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .conftest import SHOTS

TRACEBACK = re.compile(r'Traceback \(most recent call last\)|"ename"|File "/')
ERROR_BOX = ".jupyter-widgets-error-widget"
SMALL_PICTURE = 128  # px: smallest picture side readable from the back of a lecture hall

PAGE_CHECKS = """(expectCut) => {
  const vis = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
                     getComputedStyle(e).visibility !== 'hidden'; };
  const desc = e => {
    const cls = (typeof e.className === 'string' ? e.className : '').split(/\\s+/)
      .filter(c => c && !c.startsWith('lm-') && !c.startsWith('p-') && c !== 'jupyter-widgets').slice(0, 3).join('.');
    const text = (e.innerText || e.value || e.getAttribute('title') || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return `${e.tagName.toLowerCase()}${cls ? '.' + cls : ''}${text ? ' "' + text + '"' : ''}`;
  };
  const out = {};
  out.errorBoxes = Array.from(document.querySelectorAll('""" + ERROR_BOX + """')).map(e => e.innerText.slice(0, 400));
  out.errorDisplaying = (document.body.innerText.match(/Error displaying widget[^\\n]*/g) || []).slice(0, 5);
  out.dvErrors = Array.from(document.querySelectorAll('.dv-error')).filter(vis).map(e => e.innerText.trim().slice(0, 300));
  out.stderr = Array.from(document.querySelectorAll("[data-mime-type='application/vnd.jupyter.stderr']"))
    .filter(vis).map(e => e.innerText.slice(0, 300));
  const text = document.body.innerText;
  const tb = text.search(/Traceback \\(most recent call last\\)|File "\\//);
  out.traceback = tb >= 0 ? text.slice(Math.max(0, tb - 100), tb + 300) : '';
  const W = window.innerWidth;
  out.scrollWidth = document.documentElement.scrollWidth;
  out.innerWidth = W;
  out.overflow = [];
  if (out.scrollWidth > W) {
    // the outermost elements sticking out past the right edge (their children stick out with them)
    const all = Array.from(document.querySelectorAll('body *')).filter(e => vis(e) && e.getBoundingClientRect().right > W + 1);
    const set = new Set(all);
    out.overflow = all.filter(e => !set.has(e.parentElement))
      .map(e => `${desc(e)} (right edge ${Math.round(e.getBoundingClientRect().right)} px)`).slice(0, 8);
  }
  out.cut = [];
  for (const e of document.querySelectorAll('.widget-button, .jupyter-button, .widget-label, .widget-label-basic, .widget-tab .lm-TabBar-tabLabel')) {
    if (!vis(e)) continue;
    const t = (e.innerText || '').trim();
    if (e.scrollWidth > e.clientWidth + 1 || t.endsWith('…') || t.endsWith('...'))
      out.cut.push(`${desc(e)} (text ${e.scrollWidth} px in ${e.clientWidth} px)`);
  }
  out.pictures = [];
  for (const e of document.querySelectorAll('img.widget-image, canvas.dv-cell')) {
    if (!vis(e) || (e.tagName === 'IMG' && !e.naturalWidth)) continue;
    const r = e.getBoundingClientRect();
    out.pictures.push({what: e.tagName === 'IMG' ? 'image' : 'player cell', w: Math.round(r.width), h: Math.round(r.height)});
  }
  return out;
}"""


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def changed_fraction(a: bytes, b: bytes) -> float:
    """Share of pixels that differ noticeably between two screenshots (1.0 when their sizes differ)."""
    pa, pb = pixels(a), pixels(b)
    if pa.shape != pb.shape:
        return 1.0
    return float((np.abs(pa - pb).max(axis=-1) > 6).mean())


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


class Lecture:
    """One scenario on one page. `region(name, locator)` names parts of the page whose pixels steps compare."""

    def __init__(self, page, scenario: str, small: bool = False, change_threshold: float = 0.002):
        self.page, self.log, self.scenario = page, page.log, scenario
        self.dir = SHOTS / scenario
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.small = small  # 1024×768: pictures must stay readable
        self.threshold = change_threshold
        self.regions: dict[str, object] = {}
        self.failures: list[str] = []
        self.passed: list[str] = []
        self.seen: set[str] = set()  # a breakage is reported at the first step that shows it
        self.n = 0
        self.errors_at = (0, 0)
        self.shot: Path | None = None
        self.step_name = ""
        self.expected_banners: set[str] = set()
        self.timings: list[tuple[str, float]] = []
        self.started = time.time()

    # ---- naming things -----------------------------------------------------------------------------
    def region(self, name: str, locator) -> None:
        self.regions[name] = locator

    def fail(self, message: str, once_key: str | None = None) -> None:
        key = once_key or message
        if key in self.seen:
            return
        self.seen.add(key)
        self.failures.append(f"[{self.scenario}] step {self.n:02d} '{self.step_name}': {message} "
                             f"(screenshot {self.shot})")

    # ---- waiting -----------------------------------------------------------------------------------
    def wait_kernel(self, since: int, timeout: float = 240, quiet_ms: int = 400) -> bool:
        """"The kernel finished": every message sent since index `since` got its kernel's idle status, no
        view shows its progress bar (heavy work runs on a worker thread after the kernel went idle), and
        nothing was sent or received for `quiet_ms`. False (and a failure) on timeout."""
        deadline = time.time() + timeout
        last_count, last_change = -1, time.time()
        while True:
            sent = [m for m in self.log.sent_msgs[since:] if m["channel"] == "shell" and m["msg_id"]]
            if len(self.log.sent_msgs) != last_count:
                last_count, last_change = len(self.log.sent_msgs), time.time()
            done = {m["parent_id"] for m in self.log.received if m["msg_type"] == "status" and m["state"] == "idle"}
            pending = [m for m in sent if m["msg_id"] not in done]
            quiet = (time.time() - max(last_change, self.log.last_received)) * 1000 >= quiet_ms
            if not pending and quiet and not self.busy_views():
                return True
            if time.time() > deadline:
                self.fail(f"the kernel did not finish within {timeout:.0f} s: {len(pending)} message(s) unanswered "
                          f"({', '.join(sorted({m['msg_type'] for m in pending}))}), "
                          f"{self.busy_views()} progress bar(s) still shown")
                return False
            self.page.wait_for_timeout(100)

    def busy_views(self) -> int:
        """Views showing their progress bar (working)."""
        return self.page.evaluate("""() => Array.from(document.querySelectorAll('.diffviz-view .widget-hprogress'))
            .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length
            + document.querySelectorAll('.dv-busy').length""")  # dv-busy: work queued or running on a worker

    def settle(self) -> None:
        """Two animation frames: the browser drew what it received."""
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def grab(self, name: str) -> bytes | None:
        loc = self.regions[name]
        try:
            if loc.count() == 0:
                return None
            return loc.first.screenshot(timeout=10_000, animations="disabled")
        except Exception:
            return None

    # ---- a step ------------------------------------------------------------------------------------
    def step(self, name: str, action: Callable[[], object] | None = None, *, changes: Iterable[str] = (),
             same: Iterable[str] = (), expect_error: bool = False, check: Callable[[], Iterable[str]] | None = None,
             no_kernel: bool = False, timeout: float = 240, change_timeout: float = 6, scope=None) -> None:
        """Run `action`, wait for the kernel, check. `changes`: regions whose pixels must change;
        `same`: regions that must not; `expect_error`: a `.dv-error` banner must show (and no traceback);
        `no_kernel`: the action must send nothing to the kernel (client-side); `check`: returns problems;
        `scope`: the view acted on (an earlier refused value's banner still showing there is a failure)."""
        self.n += 1
        self.step_name = name
        t0 = time.time()
        self.shot = self.dir / f"{self.n:02d}-{slug(name)}.png"
        changes, same = list(changes), list(same)
        before = {r: self.grab(r) for r in changes + same}
        for r, png in before.items():
            if png is None:
                self.fail(f"region '{r}' is not on the page before the step (expected a picture or chart there)")
        sent0, recv0 = len(self.log.sent_msgs), len(self.log.received)
        console0, errors0, slow0 = len(self.log.console_errors), len(self.log.page_errors), len(self.log.slow_init)
        failed_before = len(self.failures)
        if action is not None:
            try:
                action()
            except Exception as err:  # a control that is missing or cannot be used is a failure of this step
                self.fail(f"the action could not be done: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
        if no_kernel is not False:
            self.settle()
            self.page.wait_for_timeout(300)
            sent = [m["msg_type"] or "?" for m in self.log.sent_msgs[sent0:]]
            allowed = 0 if no_kernel is True else int(no_kernel)
            if len(sent) > allowed:
                self.fail(f"expected {'no message' if not allowed else f'at most {allowed} messages'} to the kernel "
                          f"(the player is client-side), saw {len(sent)} sent: {', '.join(sorted(set(sent)))}")
            if sent:
                self.wait_kernel(sent0, timeout=timeout)
        else:
            self.wait_kernel(sent0, timeout=timeout)
        self.settle()
        # pictures that should change: poll (a chart built after page load takes a moment to draw)
        for r in changes:
            if before.get(r) is None:
                continue
            deadline, frac = time.time() + change_timeout, 0.0
            while True:  # a replaced chart may be absent a moment: wait for it too
                after = self.grab(r)
                frac = 0.0 if after is None else changed_fraction(before[r], after)
                if frac > self.threshold or time.time() > deadline:
                    break
                self.page.wait_for_timeout(250)
            if after is None:
                self.fail(f"region '{r}' disappeared after the step (expected it redrawn)")
            elif frac <= self.threshold:
                self.fail(f"region '{r}' did not change: expected its picture redrawn, {frac:.2%} of its pixels changed")
        for r in same:
            if before.get(r) is None:
                continue
            after = self.grab(r)
            frac = 1.0 if after is None else changed_fraction(before[r], after)
            if frac > 0.01:
                self.fail(f"region '{r}' changed ({frac:.2%} of its pixels) though nothing should change it")
        self.page.screenshot(path=str(self.shot), full_page=True)
        self._page_checks(expect_error, recv0, console0, errors0, slow0, scope)
        if check is not None:
            try:
                for problem in check() or ():
                    self.fail(problem)
            except Exception as err:
                self.fail(f"check raised {type(err).__name__}: {str(err)[:300]}")
        took = time.time() - t0
        self.timings.append((name, took))
        if len(self.failures) == failed_before:
            self.passed.append(f"{self.n:02d} {name} ({took:.1f} s)")

    def _page_checks(self, expect_error, recv0, console0, errors0, slow0, scope=None) -> None:
        log = self.log
        for text in log.console_errors[console0:]:
            self.fail(f"console error: {text[:300]}")
        for text in log.page_errors[errors0:]:
            self.fail(f"page error: {text[:300]}")
        for msg in log.received[recv0:]:
            m = TRACEBACK.search(msg["text"])
            if msg["msg_type"] == "error" or m:
                at = m.start() if m else 0
                self.fail(f"the kernel sent a {msg['msg_type'] or 'message'} with a traceback/error: "
                          f"{msg['text'][max(0, at - 200): at + 400]!r}")
            elif msg["msg_type"] == "stream" and '"stderr"' in msg["text"]:
                out = re.search(r'"text":\s*"((?:[^"\\]|\\.)*)"', msg["text"])
                out = out.group(1) if out else msg["text"][-300:]
                if out.startswith("No such comm target registered: jupyter.widget.control"):
                    continue  # JupyterLab's widget manager probing a kernel before ipywidgets is imported
                hint = " (the browser still talks to a widget the kernel closed)" if out.startswith("No such comm:") else ""
                self.fail(f"the kernel wrote to stderr{hint}: {out[:300]!r}",
                          once_key="stderr " + re.sub(r"[0-9a-f]{8,}", "<id>", out))
        seen = self.page.evaluate(PAGE_CHECKS, False)
        self.last_seen = seen
        if log.slow_init[slow0:] and not seen["errorBoxes"]:
            pass  # anywidget's 2 s init timer fired, but every widget rendered: tolerated
        for i, text in enumerate(seen["errorBoxes"]):
            self.fail(f"a JavaScript-error box is shown instead of a widget: {self._error_box_text(i) or text!r}",
                      once_key=f"errorbox {i}")
        for text in seen["errorDisplaying"]:
            self.fail(f"'{text}' is shown", once_key=f"errordisplaying {text}")
        if expect_error:
            if not seen["dvErrors"]:
                self.fail("expected the error banner (.dv-error) explaining the refused value, saw none")
            self.expected_banners.update(seen["dvErrors"])
        else:
            here = set(scope.locator(".dv-error").all_inner_texts()) if scope is not None else set()
            here = {t.strip()[:300] for t in here}
            for text in seen["dvErrors"]:
                if text in self.expected_banners:
                    if text in here:
                        self.fail(f"the error banner of an earlier refused value still shows after this valid "
                                  f"action in the same view: {text!r}")
                else:
                    self.fail(f"unexpected error banner: {text!r}")
        for text in seen["stderr"]:
            self.fail(f"a stderr output block is shown: {text!r}")
        if seen["traceback"]:
            self.fail(f"a traceback is shown in the page: {seen['traceback']!r}")
        if seen["scrollWidth"] > seen["innerWidth"]:
            self.fail(f"the page is wider than the viewport: scrollWidth {seen['scrollWidth']} px > "
                      f"{seen['innerWidth']} px; sticking out: {'; '.join(seen['overflow'])}",
                      once_key="overflow " + ";".join(seen["overflow"]))
        for text in seen["cut"]:
            self.fail(f"a label or button is cut: {text}", once_key="cut " + text)
        if self.small:
            small = sorted({(p["what"], p["w"], p["h"]) for p in seen["pictures"] if min(p["w"], p["h"]) < SMALL_PICTURE})
            for what, w, h in small:
                self.fail(f"a {what} is smaller than {SMALL_PICTURE} px at this viewport: {w}×{h} px",
                          once_key=f"small {what} {w} {h}")

    def _error_box_text(self, i: int) -> str:
        """The error box's own message (shown when it is clicked)."""
        try:
            box = self.page.locator(ERROR_BOX).nth(i)
            box.click(timeout=2000)
            return box.inner_text(timeout=2000).replace("\n", " ")[:400]
        except Exception:
            return ""

    def finish(self) -> None:
        summary = (f"{self.scenario}: {len(self.passed)} step(s) passed, {len(self.failures)} failure(s), "
                   f"{time.time() - self.started:.0f} s; slowest steps: "
                   + ", ".join(f"{n} {t:.1f} s" for n, t in sorted(self.timings, key=lambda x: -x[1])[:4]))
        print(summary)
        for p in self.passed:
            print("  passed", p)
        if self.failures:
            raise AssertionError(summary + "\n" + "\n".join(self.failures))


# ---- controls -----------------------------------------------------------------------------------------
def control(scope, label: str):
    """The ipywidgets control whose description is exactly `label` (slider, dropdown, text box…)."""
    return scope.locator(".widget-inline-hbox").filter(
        has=scope.page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))).first


def button(scope, text: str):
    return scope.locator(".jupyter-button, .widget-button").filter(has_text=re.compile(re.escape(text))).first


def slider_keys(ctrl, *keys: str) -> None:
    handle = ctrl.locator(".noUi-handle").first
    handle.focus()
    for k in keys:
        handle.press(k)


def slider_drag(ctrl, to: float) -> None:
    """Drag the slider's handle with the mouse to `to` (0 = left end, 1 = right end)."""
    page = ctrl.page
    handle = ctrl.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    track = ctrl.locator(".noUi-base").first.bounding_box()
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    x = track["x"] + to * track["width"]
    page.mouse.move(x, hb["y"] + hb["height"] / 2, steps=8)
    page.mouse.up()


def readout(ctrl) -> str:
    return ctrl.locator(".widget-readout").first.inner_text().strip()


def type_into(ctrl, value: str) -> None:
    box = ctrl.locator("input, textarea").first
    box.fill(value)
    box.press("Enter") if box.evaluate("e => e.tagName") == "INPUT" else box.blur()


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def tag(locator, name: str):
    """Mark the element with data-scn=`name` and return a locator for it that survives re-renders of
    its children (e.g. a chart box whose chart is replaced)."""
    locator.first.evaluate("(e, n) => e.dataset.scn = n", name)
    return locator.page.locator(f"[data-scn='{name}']")


def chart_box(scope, name: str):
    """The last widget box in `scope` that holds a plotly chart, tagged `name` (see `tag`)."""
    return tag(scope.locator(".widget-box").filter(has=scope.page.locator(".js-plotly-plot")).last, name)


def player_step(player) -> int:
    return int(player.get_attribute("data-step") or -1)


def scrub_player(lec: Lecture, player, region: str, title: str = "player") -> None:
    """Scrub the FramePlayer with the mouse (drag its range slider) and keys (End, ArrowLeft, Home,
    ArrowRight, space to play and pause): its pictures and step label move, and nothing is sent to
    the kernel (the player is client-side)."""
    page = lec.page
    state = {}

    def n_steps() -> int:
        return int(player.locator(".dv-slider").get_attribute("max") or 0) + 1

    def label() -> str:
        return player.locator(".dv-step-label").inner_text().strip()

    def press(*keys):
        def act():
            state["step"], state["label"] = player_step(player), label()
            player.focus()
            for k in keys:
                page.keyboard.press(k)
        return act

    def expect(target: Callable[[int, int], int], what: str):
        def check():
            s, n = player_step(player), n_steps()
            want = target(state["step"], n)
            problems = []
            if s != want:
                problems.append(f"{title}: after {what} expected step {want} (of {n}), the player shows data-step {s}")
            if want != state["step"] and label() == state["label"]:
                problems.append(f"{title}: the step label did not move after {what}: still {label()!r}")
            return problems
        return check

    lec.step(f"{title}: End key", press("End"), changes=[region] if player_step(player) != n_steps() - 1 else [],
             no_kernel=True, check=expect(lambda s, n: n - 1, "End"))
    lec.step(f"{title}: Home key", press("Home"), changes=[region], no_kernel=True,
             check=expect(lambda s, n: 0, "Home"))
    lec.step(f"{title}: ArrowRight x3", press("ArrowRight", "ArrowRight", "ArrowRight"), changes=[region], no_kernel=True,
             check=expect(lambda s, n: min(3, n - 1), "ArrowRight x3"))
    lec.step(f"{title}: ArrowLeft", press("ArrowLeft"), no_kernel=True,
             check=expect(lambda s, n: max(0, s - 1), "ArrowLeft"))

    def drag():
        state["step"], state["label"] = player_step(player), label()
        player.locator(".dv-slider").scroll_into_view_if_needed()
        box = player.locator(".dv-slider").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 0.1 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.75 * box["width"], y, steps=10)
        page.mouse.up()

    def dragged():
        s, n = player_step(player), n_steps()
        problems = []
        if not (n * 0.45 <= s <= n * 0.95):
            problems.append(f"{title}: dragging the step slider to 3/4 of its width expected a step near {0.75 * n:.0f} "
                            f"of {n}, the player shows {s}")
        if label() == state["label"]:
            problems.append(f"{title}: the step label did not move while dragging: still {label()!r}")
        return problems

    lec.step(f"{title}: drag the step slider with the mouse", drag, changes=[region], no_kernel=True, check=dragged)

    def play_pause():
        press("Home")()
        state["label"] = label()
        page.keyboard.press(" ")
        page.wait_for_function("(p) => Number(p.dataset.step) >= 3", arg=player.element_handle(), timeout=10_000)
        page.keyboard.press(" ")
        state["paused_at"] = player_step(player)

    def paused():
        problems = []
        page.wait_for_timeout(400)
        if player_step(player) != state["paused_at"]:
            problems.append(f"{title}: space did not pause: step moved from {state['paused_at']} to {player_step(player)}")
        if label() == state["label"]:
            problems.append(f"{title}: the step label did not move while playing")
        return problems

    # play and pause may each tell the kernel the player's `playing` state; the frames themselves never
    lec.step(f"{title}: space plays, space pauses", play_pause, changes=[region], no_kernel=2, check=paused)


def slider_type(ctrl, value) -> None:
    """Type a value into the slider's editable readout (what a lecturer does for an exact value)."""
    r = ctrl.locator(".widget-readout").first
    r.click()
    r.press("Control+A")
    r.type(str(value))
    r.press("Enter")


def html_text(scope, pattern: str) -> str:
    """Text of the first HTML widget in `scope` whose text matches `pattern`, any case ("" when none)."""
    loc = scope.locator(".widget-html-content").filter(has_text=re.compile(pattern, re.IGNORECASE))
    return loc.first.inner_text() if loc.count() else ""


PICTURE_BOXES = """(v, prefix) => {
  const boxes = Array.from(v.querySelectorAll('.widget-gridbox, .widget-hbox')).filter(b => b.querySelector('img.widget-image'));
  const inner = boxes.filter(b => !boxes.some(o => o !== b && b.contains(o)));
  const out = [];
  for (const b of inner) {
    const p = b.parentElement && !b.parentElement.classList.contains('diffviz-view') ? b.parentElement : b;
    if (!out.includes(p)) out.push(p);
  }
  out.forEach((p, i) => p.dataset.scn = `${prefix}-${i}`);
  return out.length;
}"""


def picture_boxes(view, prefix: str) -> list:
    """The boxes of pictures in a view, in page order (their stable container: a rerun replaces the grid
    inside), tagged so a locator survives the re-render."""
    n = view.evaluate(PICTURE_BOXES, prefix)
    return [view.page.locator(f"[data-scn='{prefix}-{i}']") for i in range(n)]


def first_pictures(lec: "Lecture", view, prefix: str):
    """The first box of pictures in `view`; when there is none, a failure (and a locator that finds nothing)."""
    boxes = picture_boxes(view, prefix)
    if not boxes:
        lec.fail(f"no pictures in the view ({prefix}) after the previous step: expected its images")
        return view.page.locator(f"[data-scn='{prefix}-missing']")
    return boxes[0]
