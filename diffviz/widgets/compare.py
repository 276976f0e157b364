"""GuidanceSweep and SchedulerCompare: one seed, many settings, images side by side."""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import traitlets

from ..diffusion.schedulers import SCHEDULER_NAMES
from .base import View, default_model, explain, guarded, heading, image_widget
from .charts import line_figure
from .i18n import t
from .reverse import condition_control


def parse_list(text: str, cast) -> list | None:
    """"1, 2; 3" → [1, 2, 3] (cast each item), or None when an item is not a number."""
    try:
        return [cast(s) for s in text.replace(";", ",").split(",") if s.strip()]
    except ValueError:
        return None


def _labelled(items: list[tuple[str, np.ndarray]], zoom: int) -> W.HBox:
    return W.HBox([W.VBox([W.HTML(f"<b>{label}</b>"), image_widget(img, zoom)]) for label, img in items])


class _Sweep(View):
    seed = traitlets.Int(0)
    steps = traitlets.Int(30)

    def __init__(self, model, title: str, zoom: int):
        super().__init__()
        self.model = default_model(model)
        self.zoom = zoom
        self.w_cond = condition_control(self.model)
        self.w_seed = W.IntText(description=t("common.seed"), layout=W.Layout(width="160px"))
        self.w_go = W.Button(description=t("compare.run"), button_style="primary")
        self.w_go.on_click(lambda _: self.run())
        W.link((self, "seed"), (self.w_seed, "value"))
        self.results = W.VBox()
        self.extra = W.HTML()
        self.title = title

    def condition(self):
        if self.w_cond is None:
            return None
        return [self.w_cond.value]

    def _sample(self, **kw):
        cond = self.condition()
        traj = self.model.sample(cond, num_images=None if cond else 1, seed=self.seed, decode_steps=False, **kw)
        return traj.final_images()[0]


class GuidanceSweep(_Sweep):
    """One prompt and seed across guidance scales w (cond + w·(cond − uncond))."""

    scales = traitlets.List(traitlets.Float(), default_value=[0.0, 1.0, 2.0, 3.0, 5.0, 8.0])
    fid_n = traitlets.Int(0)  # images per scale for FID (0: off; FID needs the model's domain classifier)

    def __init__(self, model=None, run: bool = True, zoom: int = 4, fid_n: int = 0):
        super().__init__(model, "guidance", zoom)
        self.w_scales = W.Text(value=", ".join(f"{s:g}" for s in self.scales), description=t("compare.scales"),
                               continuous_update=False)
        self.w_scales.observe(self._parse_scales, "value")
        self.w_fid = W.IntText(description=t("compare.fid_n"), layout=W.Layout(width="220px"),
                               disabled=self.model.classifier is None)
        self.fid_n = fid_n
        W.link((self, "fid_n"), (self.w_fid, "value"))
        self.images: list[np.ndarray] = []
        self.clip_scores: list[float] = []
        self.fids: list[float] = []
        self.chart = W.Box()
        self.children = [heading("compare.guidance_title"), explain("compare.guidance_explain"), self.banner,
                         W.HBox([c for c in (self.w_cond, self.w_scales, self.w_seed, self.w_fid, self.w_go) if c is not None]),
                         self.progress, self.results, self.extra, self.chart]
        if run:
            self.run()

    @guarded
    def _parse_scales(self, change):
        scales = parse_list(change["new"], float)
        if scales is None:
            raise ValueError(t("compare.bad_scales"))
        self.scales = scales  # _check_scales refuses the rest

    @traitlets.observe("scales")
    def _show_scales(self, change):
        if parse_list(self.w_scales.value, float) != change["new"]:  # set from code: show it
            self.w_scales.value = ", ".join(f"{s:g}" for s in change["new"])

    @traitlets.validate("scales")
    def _check_scales(self, proposal):
        scales = proposal["value"]
        if not scales or any(not (0 <= s < float("inf")) for s in scales):
            raise traitlets.TraitError(f"{t('compare.bad_scales')}; got {scales}")
        return scales

    @guarded
    def run(self):
        if self.model.kind == "uncond":
            raise ValueError(t("compare.needs_condition"))
        cb = self.progress_callback(len(self.scales))
        self.images = []
        for i, w in enumerate(self.scales):
            self.images.append(self._sample(guidance=w, steps=self.steps))
            cb(i + 1, len(self.scales))
        self.done()
        self.results.children = [_labelled([(f"w = {w:g}", im) for w, im in zip(self.scales, self.images)], self.zoom)]
        self.clip_scores = []
        if self.model.kind == "text":
            from ..metrics.clip_score import ClipScorer

            scorer = ClipScorer.from_model(self.model)
            self.clip_scores = scorer.per_image(np.stack(self.images), [self.w_cond.value] * len(self.images)).tolist()
            self.extra.value = t("compare.clip_scores") + ": " + ", ".join(
                f"w={w:g}: {s:.1f}" for w, s in zip(self.scales, self.clip_scores))
        self.fids = self._fid_per_scale() if self.fid_n > 0 else []
        curves = {"CLIP score": self.clip_scores} if self.clip_scores else {}
        if self.fids:
            curves["FID"] = self.fids
        old = self.chart.children
        self.chart.children = [line_figure(self.scales, curves, t("compare.per_scale"), "w", "")] if curves else []
        for fig in old:
            fig.close()

    def _fid_per_scale(self) -> list[float]:
        """FID of fid_n images per scale against fid_n real images (metrics.model_fid: one evaluation for all)."""
        import warnings

        from ..metrics import SingularCovarianceWarning, model_fid

        if self.model.classifier is None:
            raise ValueError(t("fid.no_extractor"))
        if self.fid_n < 4:
            raise ValueError(t("fid.too_few"))
        total = len(self.scales)
        cb = self.progress_callback(total)
        out = []
        with warnings.catch_warnings():  # said once below, in the page's language
            warnings.simplefilter("ignore", SingularCovarianceWarning)
            for i, w in enumerate(self.scales):
                report = model_fid(self.model, self.fid_n, steps=self.steps, guidance=w, seed=self.seed, batch_size=64,
                                   curve=False, floor_sets=1,
                                   progress=lambda done, batches, i=i: cb(i * batches + done, total * batches))
                out.append(report.fid)
        self.done()
        if report.singular:
            self.show_notice(t("fid.singular", n=report.n, dim=report.dim))
        return out


class SchedulerCompare(_Sweep):
    """One seed across schedulers and step counts."""

    schedulers = traitlets.List(traitlets.Unicode(), default_value=list(SCHEDULER_NAMES))
    step_counts = traitlets.List(traitlets.Int(), default_value=[5, 10, 25, 50])

    def __init__(self, model=None, run: bool = True, zoom: int = 4):
        super().__init__(model, "schedulers", zoom)
        self.w_steps = W.Text(value=", ".join(map(str, self.step_counts)), description=t("common.steps"),
                              continuous_update=False)
        self.w_steps.observe(self._parse_steps, "value")
        self.grid: dict[tuple[str, int], np.ndarray] = {}
        self.children = [heading("compare.scheduler_title"), explain("compare.scheduler_explain"), self.banner,
                         W.HBox([c for c in (self.w_cond, self.w_steps, self.w_seed, self.w_go) if c is not None]),
                         self.progress, self.results]
        if run:
            self.run()

    @guarded
    def _parse_steps(self, change):
        counts = parse_list(change["new"], int)
        if counts is None:
            raise ValueError(t("compare.bad_steps"))
        self.step_counts = counts  # _check_steps refuses the rest

    @traitlets.observe("step_counts")
    def _show_steps(self, change):
        if parse_list(self.w_steps.value, int) != change["new"]:  # set from code: show it
            self.w_steps.value = ", ".join(map(str, change["new"]))

    @traitlets.validate("step_counts")
    def _check_steps(self, proposal):
        counts = proposal["value"]
        if not counts or min(counts) < 1 or max(counts) > self.model.schedule.num_train_timesteps:
            raise traitlets.TraitError(f"{t('compare.bad_steps')}; got {counts}")
        return counts

    @traitlets.validate("schedulers")
    def _check_schedulers(self, proposal):
        bad = [s for s in proposal["value"] if s not in SCHEDULER_NAMES]
        if bad or not proposal["value"]:
            raise traitlets.TraitError(f"schedulers must be a non-empty list from {', '.join(SCHEDULER_NAMES)}; got {proposal['value']}")
        return proposal["value"]

    @guarded
    def run(self):
        total = len(self.schedulers) * len(self.step_counts)
        cb = self.progress_callback(total)
        self.grid = {}
        rows = []
        for name in self.schedulers:
            items = []
            for n in self.step_counts:
                self.grid[(name, n)] = self._sample(scheduler=name, steps=n)
                items.append((f"{name} · {n}", self.grid[(name, n)]))
                cb(len(self.grid), total)
            rows.append(_labelled(items, self.zoom))
        self.done()
        self.results.children = rows
