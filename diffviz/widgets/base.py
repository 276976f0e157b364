"""Shared pieces of the widgets: error banner, progress bar, picture rendering, model choice."""
from __future__ import annotations

import collections
import contextlib
import functools
import html
import operator
import io
import os
import sys
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import ipywidgets as W
import numpy as np
import traitlets
from PIL import Image

from ..errors import DiffvizError
from ..models.pipeline import GuidanceRangeWarning
from ..utils import PRESENTER_ENV, WORKERS_ENV, release_memory
from .i18n import tr
from .keys import KeyGuard


_SHARED_MODELS: dict[tuple, object] = {}  # (name, swapped-in text encoder or None) → the loaded copy


def default_model(model=None, prefer: str | None = None, lang: str | None = None):
    """The given model handle, or a bundled one by name (or the bundled default), else a tiny one.

    Given no model, the view reads prompts in the current language (in Chinese: shapes with its bilingual
    text encoder, `models.defaults.default_text_encoder`; `lang` overrides the current language for a view
    that needs one encoder). Bundled and tiny models are loaded once per
    process and shared by every view: a
    dashboard with three views holds one copy, not three, and a Solara server's viewers share one
    copy (loaded under a lock: the first viewer loads, the others wait for it). Views never change a model's weights (the
    noise inspector trains a private copy), so sharing is safe. A folder path is loaded afresh.
    """
    from ..models.defaults import default_text_encoder, model_name
    from ..models.registry import LOAD_LOCK, bundled_names, load
    from ..models.tiny import TINY_MODELS

    if model is not None and not isinstance(model, str):
        return model
    encoder = None
    if model is None:  # the choice lives in models/defaults.py; sharing the loaded copy lives here
        model = model_name(prefer)
        encoder = default_text_encoder(model, lang)
    if model not in bundled_names() and model not in TINY_MODELS:
        return load(model)
    key = (model, encoder)
    shared = _SHARED_MODELS.get(key)
    if shared is None:
        with LOAD_LOCK:  # many viewers of one server (Solara) ask at once: load once, the rest wait and share
            if key not in _SHARED_MODELS:
                _SHARED_MODELS[key] = load(model, text_encoder=encoder)
            shared = _SHARED_MODELS[key]
    return shared


def png_bytes(image: np.ndarray, zoom: int = 1) -> bytes:
    """uint8 (H, W, 3) → PNG bytes, nearest-neighbour zoomed (crisp pixels)."""
    img = Image.fromarray(np.ascontiguousarray(image))
    if zoom > 1:
        img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def tile(images: np.ndarray, cols: int | None = None, gap: int = 2) -> np.ndarray:
    """uint8 (N, H, W, 3) → one (rows·H, cols·W, 3) picture with white gaps."""
    n, h, w, _ = images.shape
    cols = cols or n
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = im
    return out


def image_widget(image: np.ndarray | None = None, zoom: int = 4) -> W.Image:
    """A crisp picture that never overflows: zoom × its size at most, shrunk to fit a narrow page."""
    w = W.Image(format="png", layout=W.Layout(flex="0 1 auto", max_width="100%", height="auto", object_fit="contain"))
    w.add_class("dv-pic")
    if image is not None:
        set_png(w, image, zoom)
    return w


def set_png(widget: W.Image, image: np.ndarray, zoom: int = 4) -> None:
    """Show a uint8 (H, W, 3) picture at exactly zoom × its size (pre-zoomed nearest-neighbour: crisp)."""
    widget.value = png_bytes(image, zoom)
    widget.width, widget.height = str(image.shape[1] * zoom), str(image.shape[0] * zoom)


def zoom_for(size: int, target: int = 128) -> int:
    """The zoom that shows a size-pixel image at least `target` px wide (legible from a lecture hall's back row)."""
    return max(1, -(-target // max(1, int(size))))


STYLE_FILE = Path(__file__).parent / "static" / "views.css"
_presenter: list[bool] = []


def presenter(on: bool | None = None) -> bool:
    """Presenter mode (bigger pictures and text for a projector) for views made from now on.

    `presenter(True)` in a notebook, `DIFFVIZ_PRESENTER=1` in the environment (`diffviz dashboard
    --presenter`), or `?presenter=1` in a dashboard's URL (the diffviz Voila template). Returns the setting.
    """
    if on is not None:
        _presenter[:] = [bool(on)]
    return _presenter[-1] if _presenter else os.environ.get(PRESENTER_ENV, "") not in ("", "0", "false", "no")


@functools.lru_cache(maxsize=1)
def _style_html() -> str:
    return f"<style>{STYLE_FILE.read_text(encoding='utf-8')}</style>"


_FONT_SHEETS: dict = {}


def cjk_font_sheet() -> W.HTML:
    """A hidden style sheet holding the CJK subset font (inlined) and the views' font stacks, so Chinese
    renders in JupyterLab, Notebook 7 and Solara on a machine with no CJK font (the Voila template and the
    static export serve the font themselves). One widget per kernel (per Solara viewer), shared by every
    view that shows it: the font's bytes travel once, not once per view."""
    from ..i18n.fonts import view_font_css

    kernels = sys.modules.get("solara.server.kernel_context")
    key = None
    if kernels is not None:
        try:
            key = id(kernels.get_current_context())
        except RuntimeError:
            pass
    sheet = _FONT_SHEETS.get(key)
    if sheet is None or getattr(sheet, "comm", True) is None:  # none yet, or closed
        sheet = _FONT_SHEETS[key] = W.HTML(f"<style>{view_font_css()}</style>", layout=W.Layout(display="none"))
        sheet.add_class("dv-cjk-font")
    return sheet


def needs_cjk_font(model=None) -> bool:
    """Chinese can appear (the UI is in Chinese, or the model reads Chinese prompts) on a page that does not
    serve the font itself (diffviz's Voila template does; a second copy there left early text drawn as boxes)."""
    from ..i18n import language
    from ..i18n.fonts import FONT_SERVED_ENV
    from ..models.bilingual import BilingualConditioner

    if os.environ.get(FONT_SERVED_ENV, "") not in ("", "0"):
        return False
    return language() == "zh" or isinstance(getattr(model, "conditioner", None), BilingualConditioner)


def style_sheets(model=None) -> W.Box:
    """The hidden style sheets a view (or the Explainer) carries: views.css, the key guard (keys a focused
    control uses never reach JupyterLab's notebook shortcuts) and the CJK font where needed."""
    box = W.Box([W.HTML(_style_html()), KeyGuard()], layout=W.Layout(display="none"))
    add_cjk_font(box, model)
    return box


def add_cjk_font(box: W.Box, model=None) -> None:
    if needs_cjk_font(model) and not any("dv-cjk-font" in c._dom_classes for c in box.children):
        box.children = (*box.children, cjk_font_sheet())


# Heavy work (sampling, sweeps) runs on a worker thread, so a view is on screen with its progress bar
# before its first result, and the kernel keeps answering controls while it samples. A Voila kernel
# (one viewer) has one worker; a Solara server (many viewers in one process) sets WORKERS_ENV to a
# small pool so one viewer's slow request does not queue everyone else's. A view's own actions still
# run one at a time, in the order they were asked for (see View.submit).
_WORKER: list[ThreadPoolExecutor] = []
_WORKER_LOCK = threading.Lock()


def worker_count() -> int:
    """Worker threads for heavy view actions in this process: DIFFVIZ_WORKERS (1 to 64), default 1."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    try:
        return min(64, max(1, int(text))) if text else 1
    except ValueError:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of worker threads (1..64), got {text!r}") from None


def _worker() -> ThreadPoolExecutor:
    if not _WORKER:
        with _WORKER_LOCK:
            if not _WORKER:
                _WORKER.append(ThreadPoolExecutor(max_workers=worker_count(), thread_name_prefix="diffviz-worker"))
    return _WORKER[0]


def _viewer_context():
    """The Solara virtual kernel the calling thread serves (entered around its tasks on a worker, so
    widgets a task makes reach that viewer), or a no-op outside Solara."""
    kernels = sys.modules.get("solara.server.kernel_context")
    if kernels is not None:
        try:
            return kernels.get_current_context()
        except RuntimeError:  # not in a virtual kernel (a plain script that imported solara)
            pass
    return contextlib.nullcontext()


def _in_worker() -> bool:
    return threading.current_thread().name.startswith("diffviz-worker")


class Int(traitlets.Int):
    """An integer trait that takes numpy and torch integer scalars too (numpy scalars are numbers), not bools."""

    def validate(self, obj, value):
        if isinstance(value, (bool, np.bool_)):  # True is no count of steps
            self.error(obj, value)
        if not isinstance(value, int) and hasattr(value, "__index__"):
            try:
                value = operator.index(value)
            except TypeError:
                pass
        return super().validate(obj, value)


class Float(traitlets.Float):
    """A float trait that takes numpy scalars too."""

    def validate(self, obj, value):
        if isinstance(value, (np.floating, np.integer)) and not isinstance(value, np.bool_):
            value = float(value)
        return super().validate(obj, value)


# Descriptions next to controls are never cut ("Use a generat…"): they take the room they need.
WIDE = {"description_width": "initial"}


def button(key: str, primary: bool = False, icon: str = "", **fmt) -> W.Button:
    """A button whose label is never cut: it is as wide as its text."""
    return W.Button(description=tr(key, **fmt), button_style="primary" if primary else "", icon=icon,
                    layout=W.Layout(width="auto", min_width="8em"))


def _short(value, limit: int = 60) -> str:
    text = repr(float(value)) if isinstance(value, np.generic) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class View(W.VBox):
    """Base of every diffviz widget: an error banner and a progress bar above the content."""

    # warning categories a view reports in its own words (not repeated as a notice): the guidance note
    own_notes: tuple[type[Warning], ...] = (GuidanceRangeWarning,)

    def __init__(self, **kwargs):
        self.banner = W.HTML(layout=W.Layout(display="none"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="60%", display="none"))
        self.style_sheet = style_sheets()
        self._pending: Future | None = None
        self._busy, self._busy_lock = 0, threading.Lock()
        self._queue: collections.deque = collections.deque()  # this view's actions not started yet
        self._queue_lock = threading.Lock()
        self._draining = False  # a worker is running this view's queue
        self.last_exception: BaseException | None = None
        super().__init__(**kwargs)
        self.add_class("diffviz-view")
        if presenter():
            self.add_class("dv-presenter")

    def settings(self) -> dict:
        """The view's own settings (its traitlets beyond the layout's), as plain Python values."""
        own = set(self.trait_names()) - set(W.VBox.class_trait_names())
        return {name: getattr(self, name) for name in sorted(own) if not name.startswith("_")}

    def __repr__(self) -> str:
        """A short human text form (what a saved notebook shows where the widget cannot be drawn)."""
        model = getattr(getattr(self, "model", None), "name", None)
        parts = ([f"model={model!r}"] if model else []) + [f"{k}={_short(v)}" for k, v in self.settings().items()]
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)  # whole (ipywidgets cuts it at 110 characters)
        return bundle

    @traitlets.observe("children")
    def _with_style_sheet(self, change):  # the style sheet rides along with whatever a view shows
        add_cjk_font(self.style_sheet, getattr(self, "model", None))  # the model is known by now
        if self.style_sheet not in change["new"]:
            self.children = (self.style_sheet, *change["new"])

    # ---- heavy work off the kernel's main thread -------------------------------------------
    def submit(self, method, *args, **kwargs) -> Future:
        """Run a heavy action (a `@guarded` method) on a worker thread and return its Future.

        The view is already on screen with its progress bar; the kernel keeps answering other controls.
        Code that needs the result calls `view.wait()` (API methods called directly run at once).
        A view's actions run one after another in the order submitted, even with several workers.
        """
        self.progress.layout.display = ""
        with self._busy_lock:
            self._busy += 1
            self.add_class("dv-busy")  # pages and tests can tell "still working" from "done"
        fut: Future = Future()
        with self._queue_lock:
            self._queue.append((fut, _viewer_context(), method, args, kwargs))
            start, self._draining = not self._draining, True
        self._pending = fut
        if start:
            _worker().submit(self._drain)
        return fut

    def _drain(self) -> None:
        """On a worker: run this view's queued actions in order until none is left."""
        while True:
            with self._queue_lock:
                if not self._queue:
                    self._draining = False
                    return
                fut, context, method, args, kwargs = self._queue.popleft()
            if not fut.set_running_or_notify_cancel():
                self._one_done()
                continue
            try:
                with context:
                    fut.set_result(self._run_task(method, args, kwargs))
            except BaseException as err:  # _run_task answers Exceptions; this is KeyboardInterrupt and kin
                fut.set_exception(err)

    def _run_task(self, method, args, kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as err:  # a bug, not bad input: say so briefly, keep the traceback for `last_exception`
            self.last_exception = err
            self.show_error(f"{type(err).__name__}: {str(err)[:300]}")
            self.progress.layout.display = "none"
            return None
        finally:
            self._one_done()

    def _one_done(self) -> None:
        with self._busy_lock:
            self._busy -= 1
            if not self._busy:
                self.remove_class("dv-busy")

    @property
    def busy(self) -> bool:
        """True while the view has background work queued or running."""
        return self._busy > 0

    def wait(self, timeout: float | None = None):
        """Wait for the view's background work (its first result, a queued button action); return the view."""
        fut = self._pending
        if fut is not None and not _in_worker():
            fut.result(timeout)
        return self

    def bind(self, name: str, widget: W.Widget, attr: str = "value") -> W.Widget:
        """Two-way link between trait `name` and a control, where a refused value is answered, not raised.

        A value the browser sends that the trait's validator refuses (seed -5 typed in a box) puts the
        control back to the trait's value and shows why in the banner; no traceback leaves the kernel.
        """
        def to_control(value):
            # a value set from code beyond a slider's end widens the slider instead of being clamped to it
            # (w.guidance = 20 stays 20; the guidance note says it is outside the tuned range)
            if attr == "value" and isinstance(value, (int, float)) and not isinstance(value, bool):
                if getattr(widget, "max", None) is not None and value > widget.max:
                    widget.max = value
                if getattr(widget, "min", None) is not None and value < widget.min:
                    widget.min = value
            setattr(widget, attr, value)

        to_control(getattr(self, name))

        def from_control(change):
            try:
                setattr(self, name, change["new"])
            except traitlets.TraitError as err:
                self._refused = None
                setattr(widget, attr, getattr(self, name))  # back to the value in use (no banner change)
                self.show_error(str(err))
                self._refused = name
                return
            if getattr(self, "_refused", None) == name:  # the value that was refused is now put right
                self._refused = None
                self.clear_error()

        widget.observe(from_control, attr)
        self.observe(lambda change: to_control(change["new"]), name)
        return widget

    def show_error(self, message: str) -> None:
        self.banner.value = (f'<div class="dv-error" style="background:#fdecea;color:#611a15;padding:8px 12px;'
                             f'border-radius:4px;border:1px solid #f5c6cb">⚠ {html.escape(str(message))}</div>')
        self.banner.layout.display = ""

    def show_notice(self, message: str) -> None:
        self.banner.value = (f'<div class="dv-notice" style="background:#fff8e1;color:#5d4300;padding:8px 12px;'
                             f'border-radius:4px;border:1px solid #ffe08a">ℹ {html.escape(str(message))}</div>')
        self.banner.layout.display = ""

    def clear_error(self) -> None:
        self.banner.value = ""
        self.banner.layout.display = "none"

    def progress_callback(self, total: int):
        self.progress.max = max(1, total)
        self.progress.value = 0
        self.progress.layout.display = ""

        def update(i, n):
            self.progress.max = n
            self.progress.value = i

        return update

    def done(self) -> None:
        self.progress.value = self.progress.max
        self.progress.layout.display = "none"
        release_memory()  # a lecture kernel lives for hours: drop the sampling loop's buffers


# Warnings raised inside a view action become the view's notice. warnings.catch_warnings is not
# thread-safe (views act on the main thread and on worker threads at once, and each catch would undo
# the other's), so actions collect into a thread-local sink through one showwarning hook instead.
_capture = threading.local()
_plain_showwarning = warnings.showwarning
warnings.filterwarnings("always", category=UserWarning, module=r"diffviz\.")  # a notice every time, not once


def _show_or_collect(message, category, filename, lineno, file=None, line=None):
    sink = getattr(_capture, "sink", None)
    if sink is not None and issubclass(category, UserWarning):
        sink.append((category, str(message)))
        return
    _plain_showwarning(message, category, filename, lineno, file, line)


@contextlib.contextmanager
def collected_warnings():
    """Collect the UserWarnings this thread raises inside the block (other threads are not affected)."""
    if warnings.showwarning is not _show_or_collect:
        warnings.showwarning = _show_or_collect
    outer, sink = getattr(_capture, "sink", None), []
    _capture.sink = sink
    try:
        yield sink
    finally:
        _capture.sink = outer


def guarded(method):
    """Run a widget action; bad input (a DiffvizError, or a TraitError from a validator) becomes the inline
    error banner, never a traceback. Any other exception is a bug and propagates (on the worker thread,
    `View._run_task` shows it briefly and keeps it in `last_exception`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self.clear_error()
        try:
            with collected_warnings() as caught:
                result = method(self, *args, **kwargs)
        except (DiffvizError, traitlets.TraitError) as err:
            self.show_error(str(err))
            self.progress.layout.display = "none"
            return None
        except BaseException:
            self.progress.layout.display = "none"
            raise
        notes = sorted({message for category, message in caught
                        if not issubclass(category, self.own_notes)})  # the view says these in its own words
        if notes:  # e.g. prompt words the model never saw: shown in the widget, not on stderr
            self.show_notice(" · ".join(notes))
        return result

    return wrapper


def heavy(method):
    """A heavy view action (sampling): `@guarded`, and called from code it first waits for the view's
    background work, so results never arrive out of order."""
    inner = guarded(method)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not _in_worker():
            self.wait()
        return inner(self, *args, **kwargs)

    return wrapper


def heading(key: str, **fmt) -> W.HTML:
    return W.HTML(f"<h3 style='margin:4px 0'>{html.escape(tr(key, **fmt))}</h3>")


def explain(key: str) -> W.HTML:
    return W.HTML(f"<p style='max-width:56em;color:#333;margin:2px 0 6px;line-height:1.45'>{tr(key)}</p>")


def notice(key: str, **fmt) -> W.HTML:
    """The "what to notice" lines of a section (label `key`, HTML allowed), under its explanation."""
    return W.HTML(f"<div class='dv-notice-box' style='max-width:56em;margin:0 0 8px;padding:6px 10px;"
                  f"border-left:4px solid #3f7ad6;background:#f3f7fd'><b>{html.escape(tr('common.notice'))}</b> "
                  f"{tr(key, **fmt)}</div>")
