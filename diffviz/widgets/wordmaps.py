"""WordMaps (where each word of the prompt acts) and PromptCompare (two prompts, one seed, side by side).

Both scrub their steps in the browser (FramePlayer); the maths is in `diffusion.attention`.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import traitlets

from ..models.defaults import WORD_MAP_SEED, WORD_MAP_STEPS, prompt_pair, word_map_prompt
from ..data.shapes import SHAPES
from ..diffusion.attention import EOT_NAME, SOT_NAME, difference_frames, overlay, token_map, token_share
from ..errors import DiffvizError
from ..models.tokens import check_attention_model
from .base import WIDE, Float, Int, View, button, default_model, explain, heading, heavy, notice, zoom_for
from .charts import line_figure, replace_figure
from .i18n import tr
from .player import FramePlayer

MAX_STEPS = 100


def _prompt_box(value: str, key: str = "common.prompt") -> W.Text:
    return W.Text(value=value, description=tr(key), layout=W.Layout(width="420px", max_width="100%"), style=WIDE)


def display_name(token: str) -> str:
    """A token as the page shows it: the start and end tokens in the page's language, words as they are."""
    return {SOT_NAME: tr("wordmaps.start"), EOT_NAME: tr("wordmaps.end")}.get(token, token)


class _SamplingView(View):
    """Shared controls of the two views: seed, steps, guidance (ranges checked here)."""

    seed = Int(0)
    steps = Int(30)
    guidance = Float(3.0)

    def _sampling_controls(self) -> W.HBox:
        self.w_seed = W.IntText(description=tr("common.seed"), layout=W.Layout(width="180px"), style=WIDE)
        self.w_steps = W.IntSlider(min=1, max=MAX_STEPS, description=tr("common.steps"), style=WIDE)
        self.w_guidance = W.FloatSlider(min=0, max=10, step=0.5, description=tr("common.guidance"), style=WIDE)
        for widget, name in ((self.w_seed, "seed"), (self.w_steps, "steps"), (self.w_guidance, "guidance")):
            self.bind(name, widget)
        return W.HBox([self.w_seed, self.w_steps, self.w_guidance], layout=W.Layout(flex_flow="row wrap"))

    @traitlets.validate("steps", "seed")
    def _check_range(self, proposal):
        name, v = proposal["trait"].name, proposal["value"]
        lo, hi = {"steps": (1, MAX_STEPS), "seed": (0, 2**63 - 1)}[name]
        if not lo <= v <= hi and name == "seed":
            raise traitlets.TraitError(tr("notices.seed", value=v))
        if not lo <= v <= hi:
            raise traitlets.TraitError(f"{name} must be in [{lo}, {'2^63 − 1' if hi == 2**63 - 1 else hi}], got {v}")
        return v

    @traitlets.validate("guidance")
    def _check_guidance(self, proposal):
        g = proposal["value"]
        if not (g == g and 0 <= g <= 10):
            raise traitlets.TraitError(f"guidance must be a number in [0, 10], got {g}")
        return g


class WordMaps(_SamplingView):
    """Type a prompt, generate, pick a token: its cross-attention map over x̂0, at every step.

    A Chinese character is 2–3 byte tokens: it gets one button, and its map is the sum of its tokens'
    maps (the share of attention the character gets), never a button per "�" byte."""

    prompt = traitlets.Unicode("a big red circle at the top left")
    token = Int(0)  # index into the trajectory's tokens: the first token of the chosen word or character
    seed = Int(WORD_MAP_SEED)  # a seed whose picture shows what the prompt says (models.defaults)
    steps = Int(WORD_MAP_STEPS)

    def __init__(self, model=None, *, generate: bool = True, **state):
        super().__init__()
        self.model = default_model(model, prefer="shapes", lang="en")  # word maps need the English encoder's tokens
        check_attention_model(self.model)
        self.trajectory = None
        if "prompt" not in state:  # a prompt of the model's own words, with a position if it has one
            self.prompt = word_map_prompt(self.model)
        for k, v in state.items():
            setattr(self, k, v)
        self.w_prompt = _prompt_box(self.prompt)
        self.bind("prompt", self.w_prompt)
        self.w_go = button("wordmaps.generate", primary=True, icon="play")
        self.w_go.on_click(lambda _: self.submit(self.generate))
        self.w_tokens = W.ToggleButtons(options=[], description=tr("wordmaps.token"), style={"button_width": "auto", **WIDE},
                                        layout=W.Layout(flex_flow="row wrap", max_width="100%"))
        self.w_tokens.add_class("dv-tokens")
        self.w_tokens.observe(self._token_clicked, "value")
        self.player = FramePlayer(zoom=zoom_for(self.model.image_shape[-1], 160))
        self.readout = W.HTML()
        self.chart_box = W.Box(layout=W.Layout(max_width="100%", overflow="hidden"))
        self.chart = None
        self.children = [heading("wordmaps.title"), explain("wordmaps.explain"), notice("wordmaps.notice"), self.banner,
                         W.HBox([self.w_prompt, self.w_go], layout=W.Layout(flex_flow="row wrap")), self._sampling_controls(),
                         self.progress, self.w_tokens, self.readout, self.player, self.chart_box]
        if generate:
            self.submit(self.generate)

    @property
    def token_names(self) -> list[str]:
        return self.trajectory.tokens[0] if self.trajectory is not None else []

    @property
    def token_groups(self) -> list[tuple[str, int, int]]:
        """(name, first, end) per button: a word, a special token, or the tokens one character spells."""
        return self.trajectory.token_groups[0] if self.trajectory is not None else []

    def _group(self, token: int) -> tuple[str, int, int]:
        return next(g for g in self.token_groups if g[1] <= token < g[2])

    @heavy
    def generate(self):
        """Sample the prompt with recorded cross-attention; offer its tokens; show the chosen one's map."""
        if not self.prompt.strip():
            raise DiffvizError(tr("wordmaps.empty_prompt"))
        self.w_go.disabled = True
        try:
            traj = self.model.sample(self.prompt, steps=self.steps, guidance=self.guidance, seed=self.seed,
                                     callback=self.progress_callback(self.steps), cache=True, record_attention=True)
        finally:
            self.w_go.disabled = False
            self.done()
        previous = self._group(self.token)[0] if self.trajectory is not None and self.token < len(self.token_names) else None
        self.trajectory = traj
        groups = self.token_groups  # the prompt's words (or characters) between its start and end tokens
        words = [g[1] for g in groups if g[0] not in (SOT_NAME, EOT_NAME)]
        names = {first: name for name, first, _ in groups}
        choice = next((i for i in words if names[i] == previous), None)
        if choice is None:  # the object's word when the model draws named shapes, else the prompt's last word
            choice = next((i for i in words if names[i] in SHAPES), words[-1] if words else 0)
        self._setting_tokens = True
        try:
            self.w_tokens.options = [(display_name(name), first) for name, first, _ in groups]
            self.w_tokens.value = choice
        finally:
            self._setting_tokens = False
        self.token = choice
        self.show_token()
        self.player.step = traj.num_steps - 1
        return traj

    def _token_clicked(self, change):
        if getattr(self, "_setting_tokens", False) or change["new"] is None:
            return
        self.select_token(change["new"])

    @heavy
    def select_token(self, index: int):
        """Show token `index` (of the trajectory's tokens): its map over x̂0 at every step."""
        names = self.token_names
        if not 0 <= int(index) < len(names):
            raise DiffvizError(f"token must be in [0, {len(names) - 1}], got {index}")
        self.token = self._group(int(index))[1]
        if self.w_tokens.value != self.token and self.token in [v for _, v in self.w_tokens.options]:
            self.w_tokens.value = self.token
        self.show_token()

    def show_token(self) -> None:
        traj, (name, i, end) = self.trajectory, self._group(self.token)
        pictures = traj.image_frames()  # (S, 1, H, W, 3)
        maps = token_map(traj.attention, 0, i, end).numpy()[:, None]  # (S, 1, H, W)
        name = display_name(name)
        self.share = token_share(traj.attention, 0, i, end)
        labels = [f"{label} · {tr('wordmaps.step_share', token=name, share=100 * float(s))}"
                  for label, s in zip(traj.step_labels(), self.share)]
        self.player.set_frames({tr("wordmaps.row_x0"): pictures, tr("wordmaps.row_map", token=name): overlay(pictures, maps)},
                               step_labels=labels, column_labels=[self.prompt])
        self.readout.value = html.escape(tr("wordmaps.readout", token=name, first=100 * float(self.share[0]),
                                            last=100 * float(self.share[-1])))
        self._draw_chart(name)

    def _draw_chart(self, name: str) -> None:
        traj = self.trajectory
        steps = list(range(1, traj.num_steps + 1))
        series = {display_name(n): token_share(traj.attention, 0, a, b) for n, a, b in self.token_groups
                  if n not in (SOT_NAME, EOT_NAME)}
        fig = line_figure(steps, series, tr("wordmaps.chart_title"), tr("common.steps"), tr("wordmaps.chart_y"), width=640,
                          legend_below=False)
        self.chart = replace_figure(self.chart_box, self.chart, fig)


class PromptCompare(_SamplingView):
    """Two prompts (or one with a word removed), the same seed: x̂0 side by side per step, and |Δx̂0|."""

    prompt_a = traitlets.Unicode("a big red circle at the top left")
    prompt_b = traitlets.Unicode("a big red square at the top left")

    def __init__(self, model=None, *, generate: bool = True, **state):
        super().__init__()
        self.model = default_model(model, prefer="shapes")
        if self.model.kind != "text":
            raise DiffvizError(tr("compare_prompts.needs_text"))
        self.pair = None
        pair = prompt_pair(self.model)
        if "prompt_a" not in state and pair:  # the model's own words: the same prompt with another colour
            self.prompt_a, self.prompt_b = pair
        for k, v in state.items():
            setattr(self, k, v)
        self.w_a = _prompt_box(self.prompt_a, "compare_prompts.prompt_a")
        self.w_b = _prompt_box(self.prompt_b, "compare_prompts.prompt_b")
        self.bind("prompt_a", self.w_a)
        self.bind("prompt_b", self.w_b)
        self.w_remove = W.Dropdown(description=tr("compare_prompts.remove"), style=WIDE, layout=W.Layout(width="auto"))
        self._fill_remove()
        self.observe(lambda _: self._fill_remove(), "prompt_a")
        self.w_remove.observe(self._removed, "value")
        self.w_go = button("compare_prompts.run", primary=True, icon="play")
        self.w_go.on_click(lambda _: self.submit(self.run))
        self.player = FramePlayer(zoom=zoom_for(self.model.image_shape[-1], 128))
        self.readout = W.HTML()
        self.chart_box = W.Box(layout=W.Layout(max_width="100%", overflow="hidden"))
        self.chart = None
        self.children = [heading("compare_prompts.title"), explain("compare_prompts.explain"), notice("compare_prompts.notice"),
                         self.banner, self.w_a, W.HBox([self.w_b, self.w_remove], layout=W.Layout(flex_flow="row wrap")),
                         W.HBox([self._sampling_controls(), self.w_go], layout=W.Layout(flex_flow="row wrap")),
                         self.progress, self.readout, self.player, self.chart_box]
        if generate:
            self.submit(self.run)

    def _fill_remove(self):
        words = self.prompt_a.split()
        self._filling = True
        try:
            self.w_remove.options = [(tr("compare_prompts.remove_none"), -1)] + [(w, i) for i, w in enumerate(words)]
            self.w_remove.value = -1
        finally:
            self._filling = False

    def _removed(self, change):
        if getattr(self, "_filling", False) or change["new"] is None or change["new"] < 0:
            return
        words = self.prompt_a.split()
        self.prompt_b = " ".join(w for i, w in enumerate(words) if i != change["new"])

    @heavy
    def run(self):
        """Sample both prompts from the same noise (same seed) and show them with |Δx̂0| per step."""
        if not self.prompt_a.strip() and not self.prompt_b.strip():
            raise DiffvizError(tr("compare_prompts.empty"))
        self.w_go.disabled = True
        progress = self.progress_callback(2 * self.steps)
        try:
            kw = dict(steps=self.steps, guidance=self.guidance, seed=self.seed, cache=True)
            a = self.model.sample(self.prompt_a, callback=lambda i, n: progress(i, 2 * n), **kw)
            b = self.model.sample(self.prompt_b, callback=lambda i, n: progress(n + i, 2 * n), **kw)
        finally:
            self.w_go.disabled = False
            self.done()
        self.pair = (a, b)
        fa, fb = a.image_frames(), b.image_frames()
        delta, self.mean_delta = difference_frames(fa, fb)
        self.mean_delta = self.mean_delta[:, 0]
        labels = [f"{label} · {tr('compare_prompts.step_delta', delta=float(d))}"
                  for label, d in zip(a.step_labels(), self.mean_delta)]
        self.player.set_frames({tr("compare_prompts.row"): np.concatenate([fa, fb, delta], axis=1)},
                               step_labels=labels,
                               column_labels=[tr("compare_prompts.col_a"), tr("compare_prompts.col_b"), tr("compare_prompts.delta")])
        steps = list(range(1, a.num_steps + 1))
        fig = line_figure(steps, {tr("compare_prompts.delta"): self.mean_delta}, tr("compare_prompts.chart_title"),
                          tr("common.steps"), tr("compare_prompts.chart_y"), width=640)
        fig.update_yaxes(rangemode="tozero")  # a difference is measured from 0: its first steps are not "small"
        self.chart = replace_figure(self.chart_box, self.chart, fig)
        self.player.step = a.num_steps - 1
        self.readout.value = html.escape(tr("compare_prompts.readout", first=float(self.mean_delta[0]),
                                            final=float(self.mean_delta[-1])))
        return a, b
