"""The lecture pack's content: every chapter that can be precomputed, laid out for `export_html`.

Each chapter is one function `(Plan) -> Section` that calls the same core functions the live views
call (diffusion/, metrics/, models/) and only arranges their results: players (frames scrubbed in
the browser), picture grids and plotly charts. No maths lives here.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import torch

from ..diffusion.forward import forward_strip, predict_x0
from ..diffusion.objective import noise_prediction
from ..diffusion.schedule import Schedule
from ..diffusion.schedulers import SCHEDULER_NAMES
from ..diffusion.trajectory import to_uint8_image, to_uint8_noise
from ..errors import DiffvizError
from ..frames import trajectory_rows
from ..models.defaults import EXAMPLE_CLASSES, example_conditions, example_prompts, prompt_pair, word_map_prompt
from ..i18n import tr
from .pack import Section, picture_grid

# Chapters in lecture order; `--sections` picks a subset by these names.
CHAPTERS = ("forward", "reverse", "noise", "guidance", "prompts", "schedulers", "clip", "fid", "latent", "wordmaps")


@dataclass
class Plan:
    """What one export computes: the model, its conditions, and the sizes (smaller with `quick`)."""

    model: object
    conditions: list | None
    steps: int = 50
    seed: int = 0
    quick: bool = False
    cache: dict = field(default_factory=dict)

    @property
    def short_steps(self) -> int:  # sweeps and CLIP: many samples, fewer steps each
        return min(self.steps, 15 if self.quick else 30)


def conditions_for(model, prompts: list | None) -> list | None:
    """The prompts (text model) or classes (class model) every chapter shows; None for an unconditional model."""
    if model.kind == "text":
        return list(prompts or example_prompts(model, 4))
    if model.kind == "class":
        return model.conditioner.check_labels([int(p) if str(p).isdigit() else p for p in prompts]) if prompts \
            else example_conditions(model, EXAMPLE_CLASSES)
    return None


def _condition_names(plan: Plan, conds) -> list[str]:
    if plan.model.kind == "class":
        return [plan.model.conditioner.class_names[int(c)] for c in conds]
    return [str(c) for c in conds]


def _sample(plan: Plan, conds=None, **kw):
    """One trajectory (cached per settings: the reverse and CLIP chapters can share one)."""
    conds = plan.conditions if conds is None else conds
    key = (tuple(conds or ()), tuple(sorted(kw.items())))
    if key not in plan.cache:
        plan.cache[key] = plan.model.sample(conds, num_images=None if conds else 4, seed=plan.seed, **kw)
    return plan.cache[key]


def _examples(plan: Plan, k: int = 4):
    """k examples of the model's own training domain (images in [-1, 1]) and their own conditions."""
    from ..data.domain import data_image  # the views' example picker: same pictures as the live chapter

    pairs = [data_image(plan.model, i) for i in range(k)]
    return torch.stack([p[0] for p in pairs]), [p[1] for p in pairs]


def _static(fig) -> go.Figure:
    """A chart builder's figure as a plain figure that fills its box (no fixed width)."""
    fig = go.Figure(fig)
    fig.layout.width = None
    return fig


# ---- chapters -------------------------------------------------------------------------------
def schedule_chart() -> go.Figure:
    fig = go.Figure(layout=dict(title=tr("forward.schedule_title"), xaxis_title="t", yaxis_title="ᾱ_t",
                                template="plotly_white", height=320, margin=dict(l=50, r=20, t=40, b=40)))
    for name in ("linear", "scaled_linear", "cosine"):
        fig.add_scatter(y=Schedule.from_name(name).alphas_cumprod.numpy(), name=tr(f"options.{name}"))
    return fig


def forward_section(plan: Plan) -> Section:
    traj = _sample(plan, steps=plan.steps)
    x0 = traj.final_decoded if traj.latent else traj.final
    if x0.shape[1] == 1:
        x0 = x0.expand(-1, 3, -1, -1)
    ts = np.linspace(0, 999, 11 if plan.quick else 21).round().astype(int).tolist()
    strip = forward_strip(x0[:4].clamp(-1, 1), ts, "cosine", generator=torch.Generator().manual_seed(plan.seed))
    return Section(tr("forward.title"), tr("forward.explain"), notice=tr("forward.notice"), key="forward", players=[{
        "rows": {"x_t": to_uint8_image(strip.x_t)},
        "step_labels": [f"t = {s} · ᾱ = {float(a):.3f}" for s, a in zip(ts, strip.alpha_bar)]}],
        figures=[schedule_chart()])


def reverse_section(plan: Plan) -> Section:
    traj = _sample(plan, steps=plan.steps)
    names = _condition_names(plan, traj.meta["conditions"]) if plan.conditions else []
    return Section(tr("reverse.title"), tr("reverse.explain"), notice=tr("reverse.notice"), key="reverse", players=[{
        "rows": trajectory_rows(traj), "step_labels": traj.step_labels(), "step": traj.num_steps - 1,
        "column_labels": names}])


@torch.no_grad()
def noise_section(plan: Plan) -> Section:
    """Training pairs of four examples at several t (same ε at every t), and the model's ε̂ and x̂0 on them."""
    model = plan.model
    x0, own = _examples(plan)
    z0 = model.encode_images(x0.to(model.device))
    cond = None if model.conditioner is None else model.conditioner.encode(own)
    T = model.schedule.num_train_timesteps
    ts = [T // 20, T // 4, T // 2, 3 * T // 4, T - 1] if plan.quick else \
        [T // 50, T // 10, T // 5, 3 * T // 10, 2 * T // 5, T // 2, 3 * T // 5, 7 * T // 10, 4 * T // 5, 9 * T // 10, T - 1]
    frames: dict[str, list] = {}
    labels, losses = [], []
    for t in ts:
        out = noise_prediction(model.unet, model.schedule, z0, t, cond,
                               generator=torch.Generator(device=z0.device).manual_seed(plan.seed))
        x0_hat = predict_x0(out.x_t, out.eps_pred, out.alpha_bar, clip=model.sample_range)
        if model.latent:
            row = {tr("noise.x0"): to_uint8_image(x0), tr("noise.x0_decoded"): to_uint8_image(model.decode_latents(x0_hat)),
                   tr("noise.latent_xt"): to_uint8_noise(out.x_t), tr("noise.eps"): to_uint8_noise(out.noise),
                   tr("noise.eps_pred"): to_uint8_noise(out.eps_pred)}
        else:
            row = {tr("noise.x0"): to_uint8_image(x0), tr("noise.xt"): to_uint8_image(out.x_t),
                   tr("noise.eps"): to_uint8_noise(out.noise), tr("noise.eps_pred"): to_uint8_noise(out.eps_pred),
                   tr("noise.x0_pred"): to_uint8_image(x0_hat)}
        row[tr("noise.error")] = to_uint8_image(out.error.clamp(0, 1) * 2 - 1)  # black 0 … white ≥ 1, as the view
        for name, img in row.items():
            frames.setdefault(name, []).append(img)
        losses.append(float(out.loss))
        labels.append(f"t = {t} · ᾱ = {float(out.alpha_bar[0]):.3f} · MSE = {float(out.loss):.4f}")
    from ..widgets.charts import line_figure

    chart = line_figure(ts, {"MSE": losses}, tr("export.mse_title"), "t", "‖ε − ε̂‖²")
    note = tr("noise.latent_note", h=z0.shape[-2], w=z0.shape[-1]) if model.latent else ""
    return Section(tr("noise.title"), tr("noise.explain"), notice=tr("noise.notice"), key="noise", players=[{
        "rows": {k: np.stack(v) for k, v in frames.items()}, "step_labels": labels,
        "step": len(ts) // 2, "column_labels": _condition_names(plan, own) if model.conditioner else []}],
        parts=[f"<p class='small'>{html.escape(note)}</p>"] if note else [], figures=[_static(chart)])


def guidance_section(plan: Plan) -> Section:
    model = plan.model
    if model.kind == "uncond":
        raise DiffvizError(tr("compare.needs_condition"))
    scales = [0.0, 1.0, 3.0, 8.0] if plan.quick else [0.0, 1.0, 2.0, 3.0, 5.0, 8.0]
    lo, hi = model.guidance_range
    conds = plan.conditions
    images = [_sample(plan, guidance=w, steps=plan.short_steps, decode_steps=False).final_images() for w in scales]
    names = _condition_names(plan, conds)
    grids = [f"<h3>{html.escape(name)}</h3>" + picture_grid(
        [(f"w = {w:g}" + ("" if lo <= w <= hi else " ⚠"), images[j][i]) for j, w in enumerate(scales)])
        for i, name in enumerate(names)]
    parts = [f"<p>{html.escape(tr('compare.tuned_range', lo=lo, hi=hi))}</p>"] + grids
    figures = []
    if model.kind == "text":
        from ..metrics.clip_score import ClipScorer
        from ..widgets.charts import line_figure

        scorer = ClipScorer.from_model(model)
        scores = {name: [float(scorer.per_image(im[i:i + 1], [conds[i]])[0]) for im in images] for i, name in enumerate(names)}
        figures.append(_static(line_figure(scales, scores, tr("compare.clip_scores"), "w", tr("common.clip_score"))))
    return Section(tr("compare.guidance_title"), tr("compare.guidance_explain"), notice=tr("compare.guidance_notice"),
                   key="guidance", parts=parts, figures=figures)


def schedulers_section(plan: Plan) -> Section:
    counts = [5, 10, 25] if plan.quick else [5, 10, 25, 50]
    conds = plan.conditions[:2] if plan.conditions else None
    grid = {(name, n): _sample(plan, conds, scheduler=name, steps=n, decode_steps=False).final_images()
            for name in SCHEDULER_NAMES for n in counts}
    names = _condition_names(plan, conds) if conds else [""]
    parts = []
    for i, cname in enumerate(names):
        if cname:
            parts.append(f"<h3>{html.escape(cname)}</h3>")
        for name in SCHEDULER_NAMES:
            parts.append(picture_grid([(f"{name} · {tr('compare.steps_caption', n=n)}", grid[(name, n)][i]) for n in counts]))
    return Section(tr("compare.scheduler_title"), tr("compare.scheduler_explain"), notice=tr("compare.scheduler_notice"),
                   key="schedulers", parts=parts)


def clip_section(plan: Plan) -> Section:
    from ..metrics import pca_2d
    from ..metrics.clip_score import ClipScorer
    from ..widgets.charts import heatmap_figure, line_figure, scatter_figure

    if plan.model.kind != "text":
        raise DiffvizError(tr("export.needs_text"))
    scorer = ClipScorer.from_model(plan.model)
    prompts = plan.conditions
    traj = _sample(plan, steps=plan.short_steps)
    images = traj.final_images()
    names = [f"#{i + 1}" for i in range(len(images))]
    matrix = scorer.similarity(images, prompts)
    img_2d, txt_2d = pca_2d(scorer.embed_images(images), scorer.embed_texts(prompts))
    scores = scorer.score_per_step(traj, prompts)
    grid = picture_grid([(f"#{i + 1} · {p}", im) for i, (p, im) in enumerate(zip(prompts, images))])
    return Section(tr("clip.title"), tr("clip.explain"), notice=tr("clip.notice"), key="clip", parts=[grid], figures=[
        _static(heatmap_figure(matrix, names, prompts, tr("clip.matrix_title"))),
        _static(scatter_figure({tr("clip.images"): img_2d, tr("clip.texts"): txt_2d}, tr("clip.projection_title"),
                               pairs=(img_2d, txt_2d), labels={tr("clip.images"): names, tr("clip.texts"): prompts})),
        _static(line_figure(list(range(1, traj.num_steps + 1)),
                            {p: scores[:, j].astype(float).tolist() for j, p in enumerate(prompts)},
                            tr("clip.per_step_title"), tr("common.steps"), tr("common.clip_score")))],
        after=f"<p class='small'>{tr('clip.per_step_caption')}</p>")


def fid_section(plan: Plan) -> Section:
    from ..metrics import model_fid
    from ..widgets.base import tile
    from ..widgets.charts import fid_figures

    model = plan.model
    if model.classifier is None:
        raise DiffvizError(tr("fid.no_extractor"))
    report = model_fid(model, 64 if plan.quick else 256,  # 256 > the 128-d features: no singular covariance
                       steps=10 if plan.quick else 20, batch_size=64,
                       seed=plan.seed, floor_sets=2 if plan.quick else 4)
    verdict = tr("fid.above_floor" if report.above_floor else "fid.within_floor", n=report.n, limit=report.floor_limit)
    result = (tr("fid.result", fid=report.fid, floor=report.floor, floor_std=report.floor_std, sets=report.floor_sets,
                 kid=report.kid.mean * 1000, kid_std=report.kid.std * 1000, n=report.n, extractor=report.extractor)
              + f"<br>{verdict}")
    if report.singular:
        result += "<br>" + html.escape(tr("fid.singular", n=report.n, dim=report.dim))
    k = min(32, report.n)
    grids = picture_grid([(tr(key, k=k, n=report.n), tile(images[:k], cols=8))
                          for key, images in (("fid.real_title", report.real_images),
                                              ("fid.generated_title", report.generated_images))], size=300)
    return Section(tr("fid.title"), tr("fid.explain"), notice=tr("fid.notice"), key="fid", parts=[f"<p>{result}</p>", grids],
                   figures=[_static(fig) for fig in fid_figures(report)])


@torch.no_grad()
def latent_section(plan: Plan) -> Section:
    from ..metrics.quality import reconstruction_psnr
    from ..widgets.charts import heatmap_figure

    model = plan.model
    if not model.latent or model.kind != "text":
        raise DiffvizError(tr("latent.needs_latent"))
    cond = model.conditioner
    prompts = cond.check_prompts([plan.conditions[0]])
    ids = cond.tokenize(prompts)[0]
    n = int((ids != 0).sum())
    words = [cond.tokenizer.decode([int(i)]).strip() or "·" for i in ids[:n]]
    states = cond.encode(prompts)[0, :n].cpu().numpy()
    x0, _ = _examples(plan)
    latent = model.encode_images(x0.to(model.device))
    recon = model.decode_latents(latent).cpu()
    shape = "×".join(map(str, latent.shape[1:]))
    grid = picture_grid(
        [(tr("latent.image"), im) for im in to_uint8_image(x0)]
        + [(tr("latent.latent", shape=shape), im) for im in to_uint8_noise(latent.cpu())]
        + [(tr("latent.decoded"), im) for im in to_uint8_image(recon)], columns=len(x0))
    unet = model.unet.config
    parts = [f"<h3>{html.escape(tr('latent.text_encoder'))}</h3>",
             f"<p>{html.escape(tr('latent.tokens', n=n, L=cond.context_length) + ' ' + ' | '.join(words))}</p>",
             heatmap_figure(states, words, list(range(states.shape[1])), tr("latent.states_title"), cosine=False),
             f"<h3>{html.escape(tr('latent.generator'))}</h3>",
             "<p>" + tr("latent.generator_text", shape="×".join(map(str, model.sample_shape)), cross=unet.cross_attention_dim,
                        params=sum(p.numel() for p in model.unet.parameters()) / 1e6) + "</p>",
             f"<h3>{html.escape(tr('latent.decoder'))}</h3>", grid,
             "<p>" + tr("latent.psnr", psnr=reconstruction_psnr(model, x0), ratio=x0[0].numel() / latent[0].numel()) + "</p>"]
    return Section(tr("latent.title"), tr("latent.explain"), notice=tr("latent.notice"), key="latent",
                   parts=[_static(p) if isinstance(p, go.Figure) else p for p in parts])


VIEW_GUIDANCE = 3.0  # the live WordMaps and PromptCompare views' default guidance


def prompts_section(plan: Plan) -> Section:
    """Two prompts that differ in one word, one seed: x̂0 of both and |Δx̂0| at every step (PromptCompare)."""
    from ..diffusion.attention import difference_frames
    from ..widgets.charts import line_figure

    model = plan.model
    if model.kind != "text":
        raise DiffvizError(tr("compare_prompts.needs_text"))
    a_prompt, b_prompt = prompt_pair(model) or tuple(plan.conditions[:2] * 2)[:2]
    a, b = (_sample(plan, [p], steps=plan.short_steps, guidance=VIEW_GUIDANCE) for p in (a_prompt, b_prompt))
    fa, fb = a.image_frames(), b.image_frames()
    delta, mean = difference_frames(fa, fb)
    mean = mean[:, 0]
    labels = [f"{label} · {tr('compare_prompts.step_delta', delta=float(d))}" for label, d in zip(a.step_labels(), mean)]
    chart = line_figure(list(range(1, a.num_steps + 1)), {tr("compare_prompts.delta"): mean},
                        tr("compare_prompts.chart_title"), tr("common.steps"), tr("compare_prompts.chart_y"))
    chart.update_yaxes(rangemode="tozero")
    pair = f"<p><b>A</b>: {html.escape(a_prompt)} &nbsp; <b>B</b>: {html.escape(b_prompt)}</p>"
    return Section(tr("compare_prompts.title"), tr("compare_prompts.explain"), notice=tr("compare_prompts.notice"),
                   key="prompts", players=[{
                       "rows": {tr("compare_prompts.row"): np.concatenate([fa, fb, delta], axis=1)},
                       "step_labels": labels, "step": a.num_steps - 1,
                       "column_labels": [tr("compare_prompts.col_a"), tr("compare_prompts.col_b"), tr("compare_prompts.delta")]}],
                   parts=[pair], figures=[_static(chart)],
                   after=f"<p class='small'>{html.escape(tr('compare_prompts.readout', first=float(mean[0]), final=float(mean[-1])))}</p>")


def wordmaps_section(plan: Plan) -> Section:
    """Each token's cross-attention map over x̂0 at every step, and its share of the attention (WordMaps)."""
    from ..diffusion.attention import overlay, token_share, word_indices
    from ..models.defaults import WORD_MAP_SEED, WORD_MAP_STEPS
    from ..models.tokens import check_attention_model
    from ..widgets.charts import line_figure
    from ..widgets.wordmaps import display_name

    model = word_map_model(plan.model)
    check_attention_model(model)
    prompt = word_map_prompt(model)
    traj = model.sample(prompt, steps=WORD_MAP_STEPS, guidance=VIEW_GUIDANCE, seed=WORD_MAP_SEED, record_attention=True)
    names, words = traj.tokens[0], word_indices(traj.tokens[0])
    shown = [0, *words, words[-1] + 1] if words else [0, 1]  # the prompt's words with its start and end tokens
    pictures = traj.image_frames()  # (S, 1, H, W, 3)
    maps = traj.attention[:, 0, shown].float().numpy()  # (S, tokens, H, W)
    chart = line_figure(list(range(1, traj.num_steps + 1)),
                        {display_name(names[j]): token_share(traj.attention, 0, j) for j in words},
                        tr("wordmaps.chart_title"), tr("common.steps"), tr("wordmaps.chart_y"))
    return Section(tr("wordmaps.title"), tr("wordmaps.explain"), notice=tr("wordmaps.notice"), key="wordmaps", players=[{
        "rows": {tr("wordmaps.row_x0"): np.repeat(pictures, len(shown), axis=1),
                 tr("wordmaps.row_maps"): overlay(np.repeat(pictures, len(shown), axis=1), maps)},
        "step_labels": traj.step_labels(), "step": traj.num_steps - 1,
        "column_labels": [display_name(names[i]) for i in shown]}],
        parts=[f"<p>{html.escape(tr('common.prompt'))}: <b>{html.escape(prompt)}</b> · {html.escape(tr('common.seed'))} "
               f"{WORD_MAP_SEED}</p>"], figures=[_static(chart)])


BUILDERS: dict[str, Callable[[Plan], Section]] = {
    "forward": forward_section, "reverse": reverse_section, "noise": noise_section, "guidance": guidance_section,
    "prompts": prompts_section, "schedulers": schedulers_section, "clip": clip_section, "fid": fid_section,
    "latent": latent_section, "wordmaps": wordmaps_section}


def word_map_model(model):
    """The model whose cross-attention the word maps show: `model`, or under a swapped-in bilingual encoder
    (the Chinese lecture's default) the same bundled model with its English encoder, as the WordMaps view
    does: the bilingual encoder's outputs are learned queries, not prompt tokens."""
    from ..models.registry import load

    return load(model.name, device=model.device) if _bundled_with_bilingual(model) else model


def _bundled_with_bilingual(model) -> bool:
    from ..models.bilingual import BilingualConditioner
    from ..models.registry import bundled_names

    return isinstance(getattr(model, "conditioner", None), BilingualConditioner) and model.name in bundled_names()


def can_record_attention(model) -> bool:
    from ..models.tokens import check_attention_model

    try:
        check_attention_model(model)
    except DiffvizError:
        return False
    return True


def available(model) -> list[str]:
    """The chapters this model can show (CLIP, two prompts, latent parts and word maps need a text model, the
    latter two a latent one with cross-attention; FID a classifier)."""
    out = list(CHAPTERS)
    if model.kind == "uncond":
        out.remove("guidance")
    if model.kind != "text":
        out.remove("clip")
        out.remove("prompts")
    if model.kind != "text" or not model.latent:
        out.remove("latent")
    if not (can_record_attention(model) or _bundled_with_bilingual(model)):
        out.remove("wordmaps")
    if model.classifier is None:
        out.remove("fid")
    return out


def check_sections(model, sections: list[str] | None) -> list[str]:
    """The chapters to export, in lecture order: `sections` (each known, each possible for this model) or all possible."""
    can = available(model)
    if not sections:
        return can
    unknown = [s for s in sections if s not in CHAPTERS]
    if unknown:
        raise DiffvizError(f"unknown section {', '.join(map(repr, unknown))}; allowed: {', '.join(CHAPTERS)}")
    cannot = [s for s in sections if s not in can]
    if cannot:
        raise DiffvizError(f"model {model.name!r} cannot show section {', '.join(map(repr, cannot))}; "
                           f"it can show: {', '.join(can)}")
    return [s for s in CHAPTERS if s in sections]


def lecture_sections(model, prompts: list | None = None, steps: int = 50, seed: int = 0,
                     sections: list[str] | None = None, quick: bool = False,
                     log: Callable[[str, float], None] | None = None) -> list[Section]:
    """The chosen chapters (default: all this model can show), ready for `export_html`.

    log(name, seconds) is called after each chapter (the command prints it)."""
    plan = Plan(model, conditions_for(model, prompts), steps=steps, seed=seed, quick=quick)
    out = []
    for name in check_sections(model, sections):
        start = time.perf_counter()
        out.append(BUILDERS[name](plan))
        if log is not None:
            log(name, time.perf_counter() - start)
    return out
