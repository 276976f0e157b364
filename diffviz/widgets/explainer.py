"""Explainer: the whole lecture in one app, tabs in lecture order, each built when first opened."""
from __future__ import annotations

import ipywidgets as W

from .base import default_model, presenter, style_sheets
from .clip import ClipSimilarity
from .compare import GuidanceSweep, SchedulerCompare
from .fid import FidExplorer
from ..data.domain import recorded_dataset
from .forward import SOURCES, ForwardProcess
from .latent import LatentParts
from .noise import NoiseInspector
from .overview import PipelineOverview
from .reverse import ReverseProcess
from .wordmaps import PromptCompare, WordMaps
from .i18n import tr
from ..errors import DiffvizError

TABS = ["overview", "forward", "reverse", "noise", "guidance", "schedulers", "latent", "wordmaps", "compare_prompts", "clip", "fid"]
TEXT_ONLY = ("latent", "wordmaps", "compare_prompts", "clip")  # left out of the default tabs for class models


def forward_source(model) -> str:
    """The forward process's picture: from the model's own data set where it records one, else the shapes."""
    name = recorded_dataset(model)
    return name if name in SOURCES else "shapes"


class Explainer(W.VBox):
    """Tabs: the pipeline overview (its boxes open the other tabs), forward process, reverse process, noise
    predictor, guidance, schedulers, latent diffusion, word maps, two prompts, CLIP, FID."""

    def __init__(self, model=None, digits_model=None, tabs=None, title: bool = True):
        super().__init__()
        self.model = default_model(model)
        self._digits = digits_model
        default = [n for n in TABS if self.model.kind == "text" or n not in TEXT_ONLY]
        self.tab_names = list(default if tabs is None else tabs)
        unknown = [n for n in self.tab_names if n not in TABS]
        if unknown or not self.tab_names:
            raise DiffvizError(f"unknown tab(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TABS)}" if unknown
                               else f"tabs must name at least one tab; allowed: {', '.join(TABS)}")
        self.views: dict[str, W.Widget] = {}
        self.tabs = W.Tab(children=[W.VBox([W.HTML(tr("explainer.loading"))]) for _ in self.tab_names])
        for i, name in enumerate(self.tab_names):
            self.tabs.set_title(i, tr(f"explainer.{name}"))
        self.tabs.observe(self._opened, "selected_index")
        self.add_class("diffviz-explainer")
        if presenter():
            self.add_class("dv-presenter")
        head = [W.HTML(f"<h2 style='margin:4px 0'>{tr('explainer.title')}</h2>")] if title else []
        self.children = [style_sheets(self.model), *head, self.tabs]
        self.show_tab(self.tab_names[0])

    def _opened(self, change):
        if change["new"] is not None:
            self.show_tab(self.tab_names[change["new"]])

    def build(self, name: str) -> W.Widget:
        m = self.model
        return {
            "overview": lambda: PipelineOverview(m.kind, self.show_tab, self.tab_names),
            "forward": lambda: ForwardProcess(source=forward_source(m)),
            "reverse": lambda: ReverseProcess(m),
            "noise": lambda: NoiseInspector(m),
            "guidance": lambda: GuidanceSweep(m),
            "schedulers": lambda: SchedulerCompare(m),
            "latent": lambda: LatentParts(m),
            "wordmaps": lambda: WordMaps(m),
            "compare_prompts": lambda: PromptCompare(m),
            "clip": lambda: ClipSimilarity(m),
            "fid": lambda: FidExplorer(m),
        }[name]()

    def show_tab(self, name: str) -> W.Widget:
        """Select a tab (building its view the first time) and return the view."""
        if name not in self.tab_names:
            raise DiffvizError(f"unknown tab {name!r}; allowed: {', '.join(self.tab_names)}")
        i = self.tab_names.index(name)
        if name not in self.views:
            try:
                self.views[name] = self.build(name)
            except (ValueError, TypeError) as err:
                self.views[name] = W.HTML(f"<div class='dv-error'>⚠ {err}</div>")
            children = list(self.tabs.children)
            children[i] = self.views[name]
            self.tabs.children = children
            for j, n in enumerate(self.tab_names):
                self.tabs.set_title(j, tr(f"explainer.{n}"))
        if self.tabs.selected_index != i:
            self.tabs.selected_index = i
        return self.views[name]
