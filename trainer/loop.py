"""The MLCR training loop: labelled and unlabelled batches, per-epoch validation, checkpoints."""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from trainer import losses
from trainer.augment import augment
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.data.crops import CropSet
from trainer.metrics import intensity_report, occurrence_report, summarize, summarize_traces, trace_report
from trainer.sampling import clip_grouped_order, is_video_frame
from trainer.model import InferenceModel, ModelConfig, TwoViewAUModel
from trainer.reference import clip_references, drop_references, with_clip_references, with_reference
from trainer.relations import adjacency, normalized_adjacency

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resize_crops(crops: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (n, s, s) -> uint8 tensor (n, 1, size, size), resized once, kept compact in memory."""
    from auvid.stages.align import downsize

    crops = downsize(crops, size)
    return torch.from_numpy(np.ascontiguousarray(crops)).unsqueeze(1)


@torch.no_grad()
def predict(model: torch.nn.Module, pixels: torch.Tensor, batch: int = 256, mirror: bool = True,
            device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Occurrence probabilities and intensities for uint8/float pixels (n, 1, s, s)."""
    runner = InferenceModel(model, mirror=mirror).eval()
    probs, intensities = [], []
    for start in range(0, len(pixels), batch):
        chunk = pixels[start:start + batch].to(device).float()
        prob, intensity = runner(chunk)
        probs.append(prob.cpu().numpy())
        intensities.append(intensity.cpu().numpy())
    if not probs:
        return np.zeros((0, len(model.config.occurrence_aus))), np.zeros((0, len(model.config.intensity_aus)))
    return np.concatenate(probs), np.concatenate(intensities)


def evaluate(model: TwoViewAUModel, pixels: torch.Tensor, crops: CropSet, mirror: bool = True,
             device: str = "cpu") -> dict:
    model.eval()
    prob, intensity = predict(model, pixels, mirror=mirror, device=device)
    aus = list(model.config.intensity_aus)
    intensity_metrics = intensity_report(intensity, crops.intensity, aus)
    occurrence_metrics = occurrence_report(prob, crops.occurrence, list(model.config.occurrence_aus))
    summary = summarize(intensity_metrics, occurrence_metrics)
    in_clip = is_video_frame(crops.key)
    traces = {}
    if aus and in_clip.any():  # within-clip agreement (issue #11's measure) on the clips' frames
        traces = trace_report(intensity[in_clip], crops.intensity[in_clip], crops.source[in_clip], aus)
        summary.update(summarize_traces(traces))
    return {"summary": summary, "intensity": intensity_metrics, "occurrence": occurrence_metrics,
            "traces": traces, "frames": int(len(crops))}


class _ViewsForward(torch.nn.Module):
    """The training forward (per-view outputs) as a module's forward, so DDP can wrap it."""

    def __init__(self, model: TwoViewAUModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model.forward_views(pixels)


def _init_from(model: TwoViewAUModel, model_config: ModelConfig, checkpoint: Path) -> None:
    """Start from another run's weights (FG2020: pre-train on noisy labels, then fine-tune).

    Everything is taken but the AU graph's adjacency, which comes from this run's labels. The
    input size may differ (the backbone is convolutional with global pooling, so 96 px weights
    start a 112 px run); the layer shapes may not."""
    from auvid.errors import ConfigError

    if not checkpoint.is_file():
        raise ConfigError(f"train.init_from: {checkpoint} does not exist")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    theirs = state.get("model_config", {})
    for key in ("backbone", "width", "feature_dim"):
        if theirs.get(key) != getattr(model_config, key):
            raise ConfigError(f"train.init_from: {checkpoint.name} has model.{key}={theirs.get(key)!r}, "
                              f"this config {getattr(model_config, key)!r}; they must match")
    weights = _per_au_weights({k: v for k, v in state["state_dict"].items() if not k.endswith("adjacency")},
                              model, theirs)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("adjacency")]
    if missing or unexpected:
        raise ConfigError(f"train.init_from: {checkpoint.name} does not fit this model "
                          f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    log.info("initialised from %s", checkpoint)


def _per_au_weights(weights: dict, model: TwoViewAUModel, theirs: dict) -> dict:
    """The other run's per-AU rows (classifier, bias, intensity heads) moved to this model's AU
    order; an AU it lacks keeps this model's fresh initialisation (EmotioNet -> BP4D shares 7 AUs)."""
    from trainer.model import INTENSITY_AUS, OCCURRENCE_AUS

    ours = model.state_dict()
    their_occ = list(theirs.get("occurrence_aus", OCCURRENCE_AUS))
    their_int = list(theirs.get("intensity_aus", INTENSITY_AUS))
    for key, value in list(weights.items()):
        if key in ("classifier.initial", "classifier.bias"):
            lists, axis = (their_occ, model.config.occurrence_aus), 1
        elif key.startswith("intensity_heads."):
            lists, axis = (their_int, model.config.intensity_aus), 0
        else:
            continue
        merged = ours[key].clone()
        for j, au in enumerate(lists[1]):
            if au in lists[0]:
                merged.select(axis, j).copy_(value.select(axis, lists[0].index(au)))
        weights[key] = merged
    return weights


TRAINING_SET_KEYS = ("train_sources", "train_faces", "val_sources", "people_fraction", "people_seed")


def _training_set(description: dict) -> dict:
    """What a run trains and validates on, as far as --resume must keep it."""
    return {key: description.get(key) for key in TRAINING_SET_KEYS}


def _check_same_training_set(state: dict, description: dict, out: Path) -> None:
    """--resume with other data options (another people share, other clips) would quietly train
    the rest of a run on another set; refuse it in one line. Older resume files carry no record."""
    if "training_set" not in state:
        return
    before, now = json.loads(state["training_set"]), _training_set(description)
    changed = [key for key in TRAINING_SET_KEYS if before.get(key) != now.get(key)]
    if changed:
        from auvid.errors import ConfigError

        raise ConfigError(f"--resume: the run in {out} trained on other data ({', '.join(changed)} differ); "
                          "resume with the --set options it started with")


def train(config: dict, base: Path, resume: bool = False, progress: bool = True) -> Path:
    from trainer.datasets import build, resolve

    seed_everything(int(config["seed"]))
    settings = config["train"]
    if settings["mv_form"] not in ("cos", "abs"):
        from auvid.errors import ConfigError

        raise ConfigError(f"train.mv_form={settings['mv_form']!r}: cos or abs")
    threads = settings["threads"] or max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if distributed:
        torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
    out = Path(config["out"])
    out = out if out.is_absolute() else base / out
    out.mkdir(parents=True, exist_ok=True)

    data = build(config, base)
    # The model's AU set is its labelled data's: OpenFace's for the teacher, a benchmark's own.
    reference = config["model"]["reference"]
    model_config = ModelConfig(**{k: config["model"][k] for k in ("backbone", "width", "feature_dim", "dropout", "input_size")},
                               reference=reference, in_channels=1 if reference == "none" else 2,
                               occurrence_aus=tuple(data.train.occurrence_aus),
                               intensity_aus=tuple(data.train.intensity_aus))
    log.info("AUs: occurrence %s; intensity %s", " ".join(model_config.occurrence_aus),
             " ".join(model_config.intensity_aus) or "none")
    size = model_config.input_size
    train_pixels = resize_crops(data.train.crops, size)
    val_pixels = resize_crops(data.val.crops, size)
    train_in_clip = is_video_frame(data.train.key)
    references = reference_index = None
    if reference != "none":
        references, reference_index = clip_references(train_pixels, data.train.source, train_in_clip)
        val_pixels = with_clip_references(val_pixels, data.val.source, data.val.key, references[0])
        log.info("reference input: %d training clip medians and the population median", len(references) - 1)
    unlabelled_pixels = (resize_crops(data.unlabelled.crops, size)
                         if data.unlabelled is not None and settings["use_unlabelled"] else None)
    occurrence = data.train.occurrence
    adjacency_matrix = adjacency(occurrence)
    model = TwoViewAUModel(model_config, normalized_adjacency(adjacency_matrix)).to(device)
    if settings["init_from"] and not resume:
        _init_from(model, model_config, resolve(settings["init_from"], base))
    au_weight = torch.as_tensor(losses.au_weights(occurrence), device=device)
    train_occurrence = torch.as_tensor(occurrence, dtype=torch.int8)
    train_intensity = torch.as_tensor(data.train.intensity)
    within = float(settings["lambda_within"])

    steps_per_epoch = math.ceil(len(train_pixels) / settings["batch_size"])
    if settings["max_steps_per_epoch"]:
        steps_per_epoch = min(steps_per_epoch, int(settings["max_steps_per_epoch"]))
    total_steps = steps_per_epoch * int(settings["epochs"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    use_amp = bool(settings["amp"]) and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # DDP must see the training forward itself to all-reduce the gradients.
    train_model: torch.nn.Module = _ViewsForward(model)
    if distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(train_model)

    history: list[dict] = []
    start_epoch = 0
    resume_path = out / "resume.pt"
    if resume:
        if not resume_path.is_file():
            from auvid.errors import ConfigError

            raise ConfigError(f"--resume: {resume_path} does not exist (no earlier run in {out})")
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        _check_same_training_set(state, data.description, out)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        history = json.loads(state["history"])
        torch.set_rng_state(state["rng"])
        log.info("resumed from epoch %d", start_epoch)
    # The schedule is rebuilt from the (possibly longer) epoch count and fast-forwarded, so a
    # resumed run can also be extended.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"], total_steps=max(total_steps, 1),
                                                    pct_start=0.15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()": intended here
        for _ in range(min(start_epoch * steps_per_epoch, total_steps - 1)):
            scheduler.step()

    generator = torch.Generator().manual_seed(int(config["seed"]) + start_epoch)
    co_reg = bool(settings["co_regularization"])
    started = time.time()
    metrics: dict = {}
    for epoch in range(start_epoch, int(settings["epochs"])):
        model.train()
        if within:
            order, run_of = clip_grouped_order(data.train.source, train_in_clip, int(settings["clip_frames"]), generator)
        else:
            order, run_of = torch.randperm(len(train_pixels), generator=generator), None
        sums: dict[str, float] = {}
        epoch_start = time.time()
        for step in range(steps_per_epoch):
            rows = slice(step * settings["batch_size"], (step + 1) * settings["batch_size"])
            idx = order[rows][rank::world]
            if len(idx) < 2:
                continue
            x = train_pixels[idx]
            if references is not None:
                x = with_reference(x, references, drop_references(reference_index[idx], settings["reference_dropout"],
                                                                  generator))
            x = x.to(device).float()
            if settings["augment"]:
                x = augment(x, generator, strong=settings["augment"] == "strong")
            xu = None
            if co_reg and unlabelled_pixels is not None:
                u_idx = torch.randint(len(unlabelled_pixels), (settings["unlabelled_batch_size"],), generator=generator)
                xu = unlabelled_pixels[u_idx]
                if references is not None:  # the pool has no clips: the population reference
                    xu = with_reference(xu, references, torch.zeros(len(xu), dtype=torch.long))
                xu = xu.to(device).float()
                if settings["augment"]:
                    xu = augment(xu, generator, strong=settings["augment"] == "strong")
            with torch.autocast("cuda", enabled=use_amp):
                out_u = None
                if distributed and xu is not None:
                    # DDP wants one forward per backward: both batches go through together.
                    both = train_model(torch.cat([x, xu]))
                    n = len(x)
                    out_l = {"logits": both["logits"][:, :n], "intensity": both["intensity"][:, :n], "weights": both["weights"]}
                    out_u = {"logits": both["logits"][:, n:]}
                else:
                    out_l = train_model(x)
                    if xu is not None:
                        out_u = train_model(xu)
                occ = train_occurrence[idx].to(device)
                inten = train_intensity[idx].to(device)
                view_losses, within_terms = [], []
                runs = run_of[rows][rank::world].to(device) if within else None
                for v in range(2):
                    bce = losses.weighted_bce(out_l["logits"][v].float(), occ, au_weight)
                    reg = losses.intensity_loss(out_l["intensity"][v].float(), inten)
                    if settings["lambda_ccc"]:
                        reg = reg + settings["lambda_ccc"] * losses.ccc_loss(out_l["intensity"][v].float(), inten)
                    if within:
                        within_terms.append(losses.within_clip_loss(out_l["intensity"][v].float(), inten, runs))
                        reg = reg + within * within_terms[-1]
                    view_losses.append(bce + settings["lambda_intensity"] * reg)
                supervised = 0.5 * (view_losses[0] + view_losses[1])
                mv = losses.multi_view_loss(out_l["weights"], settings["mv_form"])
                cr = losses.co_regularization_loss(out_l["logits"].float()) if co_reg else torch.zeros((), device=device)
                if out_u is not None:
                    cr = 0.5 * (cr + losses.co_regularization_loss(out_u["logits"].float()))
                total = supervised + settings["lambda_mv"] * mv + settings["lambda_cr"] * cr
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            within_term = 0.5 * (within_terms[0] + within_terms[1]) if within_terms else torch.zeros(())
            for name, value in (("loss", total), ("sup", supervised), ("mv", mv), ("cr", cr), ("within", within_term)):
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            if progress and rank == 0 and (step % 50 == 0 or step == steps_per_epoch - 1):
                avg = {k: v / (step + 1) for k, v in sums.items()}
                rate = (step + 1) * settings["batch_size"] / (time.time() - epoch_start)
                log.info("epoch %d/%d step %d/%d loss %.4f (sup %.4f mv %.3f cr %.4f) %.0f faces/s",
                         epoch + 1, settings["epochs"], step + 1, steps_per_epoch, avg["loss"], avg["sup"],
                         avg["mv"], avg["cr"], rate)
        if rank != 0:
            continue
        final = epoch + 1 == int(settings["epochs"])
        # Between epochs a cheap look (every 4th frame, no mirror); the last epoch gets the full
        # held-out set with the mirror averaging that inference uses.
        keep = slice(None) if final else slice(None, None, 4)
        metrics = (evaluate(model, val_pixels[keep], data.val.subset(np.arange(len(data.val))[keep]),
                            mirror=final, device=device) if len(val_pixels) else {"summary": {}})
        record = {"epoch": epoch + 1, "train": {k: v / max(steps_per_epoch, 1) for k, v in sums.items()},
                  "val": metrics["summary"], "seconds": time.time() - epoch_start}
        history.append(record)
        log.info("epoch %d: train loss %.4f; val %s", epoch + 1, record["train"].get("loss", float("nan")),
                 " ".join(f"{k}={v:.3f}" for k, v in metrics["summary"].items() if v == v))  # NaN: no such labels
        extra = {"train_config": json.dumps(config), "history": json.dumps(history), "epoch": epoch + 1,
                 "metrics": json.dumps(metrics), "data": json.dumps(data.description),
                 "au_weights": au_weight.cpu(), "adjacency_raw": torch.as_tensor(adjacency_matrix, dtype=torch.float32)}
        if references is not None:  # a track too young for its own median is shown this at run time
            extra["population_reference"] = references[0]
        save_checkpoint(out / "last.pt", model, extra)
        torch.save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1, "history": json.dumps(history),
                    "training_set": json.dumps(_training_set(data.description)),
                    "rng": torch.get_rng_state()}, resume_path)
    if rank == 0:
        (out / "metrics.json").write_text(json.dumps({"history": history, "final": history[-1] if history else None,
                                                      "data": data.description,
                                                      "minutes": (time.time() - started) / 60}, indent=2))
        if config["data"]["protocol"] and metrics:
            from trainer.benchmark_card import write_card

            write_card(out, config, data.description, metrics)  # what the run was trained on, pool included
    if distributed:
        torch.distributed.destroy_process_group()
    return out / "last.pt"


__all__ = ["train", "evaluate", "predict", "load_checkpoint"]
