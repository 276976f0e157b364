"""Bring your own diffusers model (issue #17): tiny random pipelines built here, saved as standard folders.

diffviz must load them, sample bitwise like `pipe(...)` with the scheduler the pipeline ships, drive every
widget (or say why not) and save them back.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
import warnings

import numpy as np
import pytest
import torch
import traitlets

pytest.importorskip("transformers")

import diffviz  # noqa: E402
from diffviz.errors import DiffvizError, InputTypeError  # noqa: E402
from diffviz.models.io import ModelFolderError  # noqa: E402

from tiny_pipelines import SCHEDULERS, save, scheduler, tiny_ldm_pipeline, tiny_sd_pipeline, tiny_uncond_pipeline  # noqa: E402

PROMPTS = ["a red circle", "a photograph of an astronaut riding a horse"]


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("byo")
    pipe = tiny_sd_pipeline(tmp)
    return save(pipe, tmp / "tiny-sd"), pipe


@pytest.fixture(scope="module")
def sd_model(sd_dir):
    return diffviz.load(sd_dir[0])


def pipe_latents(pipe, prompts, steps, w, seed):
    return pipe(prompts, num_inference_steps=steps, guidance_scale=w, generator=torch.Generator().manual_seed(seed),
                output_type="latent").images


@pytest.mark.parametrize("name", SCHEDULERS)
def test_sd_folder_samples_bitwise_like_pipe(sd_dir, tmp_path, name):
    """The scheduler the folder ships, untouched: model.sample == pipe(..., output_type='latent'), bit for bit."""
    pipe = sd_dir[1]
    pipe.scheduler = scheduler(name)
    folder = save(pipe, tmp_path / name)
    model = diffviz.load(folder)
    assert model.kind == "text" and model.latent and model.meta["pipeline_class"] == "StableDiffusionPipeline"
    assert model.scheduler_config["_class_name"] == name
    traj = model.sample(PROMPTS, steps=6, guidance=7.5, seed=11)
    ref = pipe_latents(pipe, PROMPTS, 6, 7.5, 11)
    from diffusers import StableDiffusionPipeline  # the user's own pipe, from the same folder

    theirs = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    assert torch.equal(pipe_latents(theirs, PROMPTS, 6, 7.5, 11), ref)
    assert traj.meta["scheduler"] == "model"
    assert float((traj.final - ref).abs().max()) == 0.0
    assert torch.equal(traj.final, ref)
    # the record is consistent with the result: the last x_t is what the final step started from
    assert traj.x_t.shape[:2] == (6, 2) and traj.eps_cond is not None
    # a different seed is different noise
    assert not torch.equal(model.sample(PROMPTS, steps=6, guidance=7.5, seed=12).final, ref)


@pytest.mark.parametrize("kind", ["DDPMPipeline", "DDIMPipeline"])
def test_pixel_pipelines_bitwise(tmp_path, kind):
    pipe = tiny_uncond_pipeline(kind)
    model = diffviz.load(save(pipe, tmp_path / kind))
    assert model.kind == "uncond" and not model.latent
    # the user's pipe loaded from the same folder (an in-memory pipe's weights sit in other memory, and with
    # several CPU threads oneDNN may then pick another kernel: last-bit differences that are not diffviz's)
    import diffusers

    theirs = getattr(diffusers, kind).from_pretrained(tmp_path / kind, local_files_only=True)
    ref = theirs(batch_size=3, num_inference_steps=7, generator=torch.Generator().manual_seed(5), output_type="np").images
    traj = model.sample(num_images=3, steps=7, seed=5)
    mine = (traj.final / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(mine, ref)


def test_teaching_schedulers_stay_for_bundled_and_by_name(text_model, sd_model):
    """Bundled models keep diffviz's teaching default; an imported one can still use them by name."""
    assert text_model.sample("a red circle", steps=2, seed=0).meta["scheduler"] == "ddim"
    faithful = sd_model.sample("a red circle", steps=4, guidance=2.0, seed=0)
    teaching = sd_model.sample("a red circle", steps=4, guidance=2.0, seed=0, scheduler="ddim")
    assert teaching.meta["scheduler"] == "ddim" and not torch.equal(faithful.final, teaching.final)


def test_from_pipeline_shares_weights(sd_dir):
    pipe = sd_dir[1]
    model = diffviz.from_pipeline(pipe)
    assert model.unet is pipe.unet and model.vae is pipe.vae and model.conditioner.text_encoder is pipe.text_encoder
    assert model.latent_scale == pipe.vae.config.scaling_factor
    with pytest.raises(InputTypeError, match="diffusers pipeline"):
        diffviz.from_pipeline(object())


def test_text_conditioner_is_encode_prompt(sd_model, sd_dir):
    """Token states are exactly what StableDiffusionPipeline.encode_prompt gives the UNet."""
    pipe = sd_dir[1]
    cond = sd_model.conditioner
    states = cond.encode(PROMPTS)
    ref, neg = pipe.encode_prompt(PROMPTS, "cpu", 1, True)
    assert torch.equal(states, ref) and torch.equal(cond.null(2), neg)
    assert cond.context_length == 77 and cond.width == 32 and states.shape == (2, 77, 32)
    assert cond.pooled(PROMPTS).shape == (2, 32)
    assert cond.token_labels("a red circle") == ["<|startoftext|>", "a", "red", "circle", "<|endoftext|>"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # byte-level BPE: no unknown-word warning, any text has tokens
        cond.check_prompts(["a zyzzyva"])
    with pytest.raises(DiffvizError, match="at most 75 tokens"):
        cond.check_prompts(["circle " * 80])
    with pytest.raises(InputTypeError, match="prompts must be"):
        cond.check_prompts([3])
    with pytest.raises(DiffvizError, match="U\\+202E RIGHT-TO-LEFT OVERRIDE"):
        cond.check_prompts(["a \u202ered circle"])


def test_hf_cache_snapshot_offline(sd_dir, tmp_path, monkeypatch):
    """A repo id already in the Hugging Face cache loads (local_files_only); a missing one says how to get it."""
    import huggingface_hub.constants as hc

    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-sd"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(sd_dir[0], repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = diffviz.load("someone/tiny-sd")
    assert model.kind == "text" and model.meta["source_folder"].endswith(commit)
    with pytest.raises(DiffvizError, match="never downloads"):
        diffviz.load("someone/not-here")


def test_load_options_and_errors(sd_dir, tmp_path):
    model = diffviz.load(sd_dir[0], attention_slicing="max", vae_tiling=True)
    assert model.vae.use_tiling
    plain = diffviz.load(sd_dir[0])
    a = model.sample("a red circle", steps=3, guidance=3.0, seed=1).final
    b = plain.sample("a red circle", steps=3, guidance=3.0, seed=1).final
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(DiffvizError, match="diffusers pipeline folders"):
        diffviz.load("shapes", dtype=torch.float16)
    with pytest.raises(InputTypeError, match="dtype"):
        diffviz.load(sd_dir[0], dtype="half")
    pickled = tmp_path / "pickled"
    shutil.copytree(sd_dir[0], pickled)
    for f in (pickled / "unet").glob("*.safetensors"):
        f.rename(f.with_name("diffusion_pytorch_model.bin"))
    with pytest.raises(ModelFolderError, match="only .safetensors"):
        diffviz.load(pickled)


def test_bfloat16_weights(sd_dir):
    """Half-precision weights: noise and latents in the UNet's dtype as in diffusers; the record in float32."""
    model = diffviz.load(sd_dir[0], dtype=torch.bfloat16)
    assert model.unet.dtype == torch.bfloat16 and model.conditioner.text_encoder.dtype == torch.bfloat16
    traj = model.sample("a red circle", steps=3, guidance=7.5, seed=2)
    assert traj.final.dtype == torch.float32 and traj.x_t.dtype == torch.float32
    assert torch.isfinite(traj.final).all() and traj.final_images().dtype == np.uint8
    pipe = sd_dir[1]
    pipe.scheduler = scheduler("DDIMScheduler")
    ref = pipe.to(torch.bfloat16)(["a red circle"], num_inference_steps=3, guidance_scale=7.5,
                                  generator=torch.Generator().manual_seed(2), output_type="latent").images
    pipe.to(torch.float32)
    assert torch.equal(traj.final, ref.float())
    from diffviz.widgets import LatentParts, NoiseInspector  # float32 views on a half-precision model

    assert not NoiseInspector(model).banner.value and not LatentParts(model).banner.value


def test_save_roundtrip(sd_model, tmp_path):
    from diffusers import DiffusionPipeline

    out = sd_model.save_pretrained(tmp_path / "saved", dtype=torch.float32)
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and (out / "text_encoder" / "model.safetensors").is_file()
    again = diffviz.load(out)
    a = sd_model.sample("a red circle", steps=3, seed=4).final
    assert torch.equal(again.sample("a red circle", steps=3, seed=4).final, a)
    assert DiffusionPipeline.from_pretrained(out, local_files_only=True).text_encoder is not None
    half = diffviz.load(sd_model.save_pretrained(tmp_path / "half"))  # default: float16 weights, loaded as float32
    w = sd_model.unet.conv_in.weight
    assert torch.equal(half.unet.conv_in.weight, w.half().float())
    assert sd_model.unet.dtype == torch.float32  # saving cast a copy, not the live model


def tiny_clip_folder(folder, tokenizer_dir):
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                         vocab_size=300, max_position_embeddings=77),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8), projection_dim=16))
    clip.save_pretrained(folder)
    CLIPTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


def test_every_widget_on_a_stable_diffusion_folder(sd_dir, sd_model, tmp_path):
    from diffviz.metrics.clip_score import TransformersClipImages, load_transformers_clip
    from diffviz.widgets import (ClipSimilarity, Explainer, FidExplorer, GuidanceSweep, LatentParts, NoiseInspector,
                                 ReverseProcess, SchedulerCompare)

    m = sd_model
    rev = ReverseProcess(m, steps=4, num_images=2).wait()
    assert rev.scheduler == "model" and "model" in rev.w_sched.options and rev.trajectory.batch_size == 2
    assert not rev.banner.value
    rev.scheduler = "euler"
    rev.generate()
    assert rev.trajectory.meta["scheduler"] == "euler"
    noise = NoiseInspector(m)
    assert not noise.banner.value
    sweep = GuidanceSweep(m, run=False)
    sweep.steps, sweep.scales = 3, [1.0, 7.5]
    sweep.run()
    assert len(sweep.images) == 2 and "CLIP&#x27;s text half" in sweep.extra.value  # pictures, and why no CLIP score
    comp = SchedulerCompare(m, run=False)
    comp.schedulers, comp.step_counts = ["ddim", "euler"], [2]
    comp.run()
    assert len(comp.grid) == 2
    parts = LatentParts(m)
    assert "astronaut | riding" in parts.tokens.value and parts.token_states.shape == (14, 32)  # its example prompt
    assert parts.latent.shape[1:] == (4, 8, 8) and np.isfinite(parts.psnr)
    with pytest.raises(DiffvizError, match="text half"):
        ClipSimilarity(m)
    clip_dir = tiny_clip_folder(tmp_path / "clip", sd_dir[0] / "tokenizer")
    sim = ClipSimilarity(m, prompts=["a red circle", "a blue square"], run=False, clip=clip_dir)
    sim.steps = 3
    sim.run()
    assert sim.matrix.shape == (2, 2) and sim.scores.shape == (3, 2) and not sim.banner.value
    scorer = load_transformers_clip(clip_dir)
    images = sim.trajectory.final_images()
    per_pair, tm = scorer.score(images, sim.prompts), scorer.score_torchmetrics(images, sim.prompts)
    assert 0 <= per_pair <= 100 and 0 <= tm <= per_pair + 1e-4
    fid = FidExplorer(m)
    assert "DIFFVIZ_INCEPTION_WEIGHTS" in fid.banner.value and fid.w_go.disabled
    fid = FidExplorer(m, extractor=TransformersClipImages(scorer.clip))
    assert "records no data set" in fid.banner.value and fid.w_go.disabled, \
        "with features but no real images of what the model draws, FID says why instead of comparing with shapes"
    loaded = diffviz.load(sd_dir[0], clip=clip_dir)  # or once for the whole handle
    ClipSimilarity(loaded, run=False)
    tabs = Explainer(m)
    assert "text half" in tabs.show_tab("clip").value  # the tab says why, the others work
    assert isinstance(tabs.show_tab("latent"), LatentParts)


def test_widgets_on_a_ddpm_folder(tmp_path):
    from diffviz.widgets import GuidanceSweep, LatentParts, NoiseInspector, ReverseProcess

    model = diffviz.load(save(tiny_uncond_pipeline("DDPMPipeline"), tmp_path / "ddpm"))
    rev = ReverseProcess(model, steps=3, num_images=1).wait()
    assert rev.trajectory.meta["scheduler"] == "model" and not rev.banner.value
    assert not NoiseInspector(model).banner.value
    sweep = GuidanceSweep(model, run=False)
    sweep.run()
    assert "conditional" in sweep.banner.value
    with pytest.raises(DiffvizError, match="latent text-to-image"):
        LatentParts(model)


def scheduler_loop(pipe, shape, steps, seed):
    """diffusers' own loop on an unconditional pipe's parts: each step's pred_original_sample, and the result."""
    from diffusers.utils.torch_utils import randn_tensor

    sched = type(pipe.scheduler).from_config(pipe.scheduler.config)
    sched.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    x = randn_tensor(shape, generator=generator) * sched.init_noise_sigma
    x0s = []
    with torch.no_grad():
        for t in sched.timesteps:
            out = sched.step(pipe.unet(sched.scale_model_input(x, t), t).sample, t, x, generator=generator)
            x0s.append(out.pred_original_sample)
            x = out.prev_sample
    return torch.stack(x0s), x


def check_eps_matches_x0(traj):
    """The recorded ε̂ is the noise the recorded x̂0 implies: x_t = √ᾱ x̂0 + √(1-ᾱ) ε̂."""
    a = traj.alpha_bar.view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(a.sqrt() * traj.x0_pred + (1 - a).sqrt() * traj.eps, traj.x_t, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,zero_snr", [("v_prediction", True), ("sample", True), ("epsilon", False)])
def test_recorded_x0_follows_the_prediction_type(tmp_path, kind, zero_snr):
    """x̂0 and ε̂ come from what the UNet predicts (the scheduler's prediction_type), finite at zero terminal SNR,
    and x̂0 is diffusers' own pred_original_sample at every step; the result stays bitwise the scheduler's."""
    pipe = tiny_uncond_pipeline("DDPMPipeline", prediction_type=kind, rescale_betas_zero_snr=zero_snr,
                                timestep_spacing="trailing", clip_sample=False)
    model = diffviz.load(save(pipe, tmp_path / kind))
    traj = model.sample(num_images=2, steps=5, seed=3)
    from diffusers import DDPMPipeline  # the user's pipe from the same folder (see test_pixel_pipelines_bitwise)

    x0s, final = scheduler_loop(DDPMPipeline.from_pretrained(tmp_path / kind, local_files_only=True), (2, 3, 8, 8), 5, 3)
    assert torch.equal(traj.final, final)
    assert int(traj.timesteps[0]) == 999 and (float(traj.alpha_bar[0]) == 0.0) == zero_snr
    assert model.schedule.prediction_type == kind == model.schedule.to_scheduler_config()["prediction_type"]
    assert torch.isfinite(traj.x0_pred).all() and torch.isfinite(traj.eps).all()
    torch.testing.assert_close(traj.x0_pred, x0s, rtol=1e-5, atol=1e-5)
    check_eps_matches_x0(traj)


def test_v_prediction_text_pipeline_with_zero_terminal_snr(sd_dir, tmp_path):
    """An SD 2.x-style pipeline (v-prediction, zero terminal SNR, trailing spacing): pipe()'s latents bitwise, and
    finite x̂0 and ε̂ (guided, conditional, unconditional) that the decoder shows as pictures."""
    from diffusers import StableDiffusionPipeline

    from diffviz.diffusion.guidance import combine

    pipe = sd_dir[1]
    pipe.scheduler = scheduler("DDIMScheduler", prediction_type="v_prediction", rescale_betas_zero_snr=True,
                               timestep_spacing="trailing")
    folder = save(pipe, tmp_path / "sd-v")
    traj = diffviz.load(folder).sample(PROMPTS, steps=4, guidance=7.5, seed=1)
    theirs = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    assert torch.equal(traj.final, pipe_latents(theirs, PROMPTS, 4, 7.5, 1))
    assert float(traj.alpha_bar[0]) == 0.0
    for name in ("x0_pred", "eps", "eps_cond", "eps_uncond", "decoded"):
        assert torch.isfinite(getattr(traj, name)).all(), name
    check_eps_matches_x0(traj)
    torch.testing.assert_close(traj.eps, combine(traj.eps_uncond, traj.eps_cond, 7.5), rtol=1e-4, atol=1e-4)


def test_noise_inspector_on_a_v_prediction_model(tmp_path):
    """The training view's ε̂ of a v-predicting UNet is the noise its v implies: its x̂0 is diffusers' own."""
    from diffusers import DDPMScheduler

    from diffviz.widgets import NoiseInspector

    pipe = tiny_uncond_pipeline("DDPMPipeline", prediction_type="v_prediction", clip_sample=False)
    model = diffviz.load(save(pipe, tmp_path / "v"))
    view = NoiseInspector(model)
    out = view.last
    with torch.no_grad():
        v = model.unet(out.x_t, out.t).sample
    ref = DDPMScheduler.from_config(model.scheduler_config).step(v, int(out.t[0]), out.x_t).pred_original_sample
    torch.testing.assert_close(out.x0_pred(), ref, rtol=1e-4, atol=1e-4)
    assert not view.banner.value and out.eps_pred.shape == out.noise.shape


def test_learned_variance_ddpm_samples_as_diffusers_does(tmp_path):
    """A UNet that also predicts its variance (6 channels, variance_type="learned_range"): DDPMPipeline's images
    bitwise; the recorded ε̂ is the noise half; a teaching scheduler steps with that half."""
    import diffusers

    pipe = tiny_uncond_pipeline("DDPMPipeline", out_channels=6, variance_type="learned_range")
    folder = save(pipe, tmp_path / "learned")
    model = diffviz.load(folder)
    theirs = diffusers.DDPMPipeline.from_pretrained(folder, local_files_only=True)
    ref = theirs(batch_size=2, num_inference_steps=4, generator=torch.Generator().manual_seed(2), output_type="np").images
    traj = model.sample(num_images=2, steps=4, seed=2)
    assert np.array_equal((traj.final / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy(), ref)
    assert traj.eps.shape == traj.x_t.shape == traj.x0_pred.shape == (4, 2, 3, 8, 8)
    with torch.no_grad():
        first = model.unet(traj.x_t[0], traj.timesteps[0]).sample
    assert torch.equal(traj.eps[0], first[:, :3])
    ddim = model.sample(num_images=2, steps=4, seed=2, scheduler="ddim")
    assert ddim.final.shape == (2, 3, 8, 8) and torch.isfinite(ddim.final).all()


def spoil_weights(file):
    """Overwrite 4 KB in the middle of a safetensors file's data with 0xFF bytes: NaN in float32 and float16."""
    size = file.stat().st_size
    with open(file, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xff" * 4096)


def test_weights_holding_nan_are_refused_at_load(tmp_path):
    """A damaged weights file (NaN where numbers were) is refused by name at load, for a diffusers pipeline folder
    and for a diffviz model folder alike, instead of sampling NaN pictures."""
    folder = save(tiny_uncond_pipeline(), tmp_path / "ddpm")
    spoil_weights(folder / "unet" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(ModelFolderError, match=r"ddpm/unet: weights hold NaN or infinite values"):
        diffviz.load(folder)
    ours = tmp_path / "digits"
    from diffviz.models.registry import BUNDLED_DIR

    shutil.copytree(BUNDLED_DIR / "digits", ours)
    spoil_weights(ours / "unet" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(ModelFolderError, match=r"digits/unet: weights hold NaN"):
        diffviz.load(ours)


def test_unknown_pipeline_or_scheduler_class_is_refused_by_name(tmp_path):
    folder = save(tiny_uncond_pipeline(), tmp_path / "ddpm")
    cases = {"pipeline": ("model_index.json", "_class_name", "FooPipeline"),
             "scheduler": ("model_index.json", "scheduler", ["diffusers", "FooScheduler"]),
             "scheduler config": ("scheduler/scheduler_config.json", "_class_name", "FooScheduler")}
    for case, (file, key, value) in cases.items():
        bad = tmp_path / case.replace(" ", "-")
        shutil.copytree(folder, bad)
        data = json.loads((bad / file).read_text())
        data[key] = value
        (bad / file).write_text(json.dumps(data))
        kind = "pipeline" if case == "pipeline" else "scheduler"
        with pytest.raises(ModelFolderError, match=rf"{file} names the {kind} class 'Foo\w+', which diffusers"):
            diffviz.load(bad)
    assert diffviz.load(folder).scheduler_config["_class_name"] == "DDPMScheduler"  # the folder itself is fine


def test_scheduler_compare_offers_the_models_own_scheduler(sd_model, class_model):
    """SchedulerCompare starts with the scheduler an imported model ships ("model", captioned by its class), whose
    picture is the one model.sample gives with it; bundled models keep the teaching four."""
    from diffviz.widgets import SchedulerCompare

    comp = SchedulerCompare(sd_model, run=False)
    assert comp.schedulers == ["model", "ddpm", "ddim", "dpm", "euler"]
    comp.schedulers, comp.step_counts = ["model", "ddim"], [3]
    comp.run()
    own = sd_model.sample([comp.w_cond.value], seed=comp.seed, steps=3, scheduler="model", decode_steps=False)
    assert np.array_equal(comp.grid[("model", 3)], own.final_images()[0])
    assert not np.array_equal(comp.grid[("model", 3)], comp.grid[("ddim", 3)])
    captions = " ".join(w.value for row in comp.results.children for cell in row.children for w in cell.children
                        if hasattr(w, "value") and isinstance(w.value, str))
    assert "model: DDIMScheduler" in captions
    assert SchedulerCompare(class_model, run=False).schedulers == ["ddpm", "ddim", "dpm", "euler"]
    with pytest.raises(traitlets.TraitError, match="ddpm, ddim, dpm, euler; got"):
        SchedulerCompare(class_model, run=False).schedulers = ["model"]


def test_ldm_pipeline_decodes_with_its_vq_model(tmp_path):
    """An LDMPipeline folder (a VQModel decoder, `vqvae`): a latent model whose pictures are LDMPipeline's, bit for
    bit; the views show decoded pictures; a save keeps the VQModel."""
    import diffusers

    from diffviz.widgets import NoiseInspector, ReverseProcess

    folder = save(tiny_ldm_pipeline(), tmp_path / "ldm")
    model = diffviz.load(folder)
    assert model.latent and model.sample_shape == (3, 8, 8) and model.image_shape == (3, 16, 16)
    theirs = diffusers.LDMPipeline.from_pretrained(folder, local_files_only=True)
    ref = theirs(batch_size=2, num_inference_steps=4, generator=torch.Generator().manual_seed(6), output_type="np").images
    traj = model.sample(num_images=2, steps=4, seed=6)
    assert np.array_equal((traj.final_decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy(), ref)
    assert traj.decoded.shape == (4, 2, 3, 16, 16) and traj.final_images().shape == (2, 16, 16, 3)
    rev = ReverseProcess(model, steps=3, num_images=1).wait()
    assert not rev.banner.value and rev.trajectory.final_images().shape == (1, 16, 16, 3)
    noise = NoiseInspector(model)
    assert not noise.banner.value and noise.last.x_t.shape == (1, 3, 8, 8)
    again = diffviz.load(model.save_pretrained(tmp_path / "saved", dtype=None))
    assert type(again.vae).__name__ == "VQModel"
    assert torch.equal(again.sample(num_images=2, steps=4, seed=6).final_decoded, traj.final_decoded)


def test_save_roundtrip_keeps_the_feature_extractor(sd_dir, tmp_path):
    """A folder's feature_extractor (the safety checker's image preprocessing) survives a load–save round trip."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPImageProcessor

    pipe = StableDiffusionPipeline.from_pretrained(sd_dir[0], local_files_only=True)
    pipe.feature_extractor = CLIPImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 40, "width": 40})
    pipe.register_modules(feature_extractor=pipe.feature_extractor)
    folder = save(pipe, tmp_path / "with-fe")
    out = diffviz.load(folder).save_pretrained(tmp_path / "saved")
    assert json.loads((out / "model_index.json").read_text())["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    again = StableDiffusionPipeline.from_pretrained(out, local_files_only=True)
    assert isinstance(again.feature_extractor, CLIPImageProcessor) and again.feature_extractor.crop_size == {"height": 40, "width": 40}


def test_guidance_below_one_against_pipe(sd_dir):
    """diffusers runs no guidance at w ≤ 1: pipe(w=0.5) is pipe(w=1) is model.sample(w=1), bit for bit, while
    diffviz's w = 0.5 is the documented mix ε̂_uncond + 0.5·(ε̂_cond − ε̂_uncond) (README, DiffusionModel.sample)."""
    from diffusers import StableDiffusionPipeline

    from diffviz.diffusion.guidance import combine

    model = diffviz.load(sd_dir[0])
    theirs = StableDiffusionPipeline.from_pretrained(sd_dir[0], local_files_only=True)
    at_one = pipe_latents(theirs, PROMPTS, 4, 1.0, 9)
    assert torch.equal(pipe_latents(theirs, PROMPTS, 4, 0.5, 9), at_one)
    assert torch.equal(model.sample(PROMPTS, steps=4, guidance=1.0, seed=9).final, at_one)
    half = model.sample(PROMPTS, steps=4, guidance=0.5, seed=9)
    assert not torch.equal(half.final, at_one)
    torch.testing.assert_close(half.eps, combine(half.eps_uncond, half.eps_cond, 0.5), rtol=0, atol=1e-6)


class _Trap:
    """Unpickling this runs code: it writes the file named in its argument (what a hostile .bin could do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).write_text, ("unpickled",))


def test_a_pickle_beside_the_safetensors_is_never_opened(sd_dir, tmp_path):
    """The README's promise for diffusers folders: only .safetensors are read; a .bin beside them is never
    unpickled (diffviz's own model folders refuse any pickle outright: tests/test_persistence.py)."""
    import pickle

    folder, marker = tmp_path / "with-bins", tmp_path / "marker"
    shutil.copytree(sd_dir[0], folder)
    for part in ("unet", "vae", "text_encoder"):
        name = "pytorch_model.bin" if part == "text_encoder" else "diffusion_pytorch_model.bin"
        (folder / part / name).write_bytes(pickle.dumps({"weights": _Trap(marker)}))
    model = diffviz.load(folder)
    assert not marker.exists(), "a .bin was unpickled"
    same = diffviz.load(sd_dir[0])
    torch.testing.assert_close(model.sample("a red circle", steps=2, seed=0).final,
                               same.sample("a red circle", steps=2, seed=0).final)
