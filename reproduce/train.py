"""The training engine: one config in, one stored run out (``reproduce.results``).

Reads top to bottom like airbench: the config, the data on the device, the model, the loop.
The loop keeps the GPU busy — losses and accuracies accumulate in device tensors and reach
the host only at logging points (every ``log_every`` iterations), bf16 autocast and
channels_last on CUDA — and it is resumable: a checkpoint every ``checkpoint_every``
iterations and on SIGTERM/SIGINT holds everything the next iteration depends on (weights,
optimizer, scheduler, RNG, the unlogged loss window), and the data order is a function of
(seed, epoch), so a resumed run ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed, models
from .data import DeviceLoader, Normalizer, load_cifar10, resolve_source
from .evaluation import Evaluator, autocast
from .imagenet import FolderEvaluator, FolderLoader, describe, image_folder
from .range_test import RangeTestStopped, lr_range_test
from .results import (
    DEFAULT_ROOT,
    Run,
    RunDir,
    RunLock,
    provenance,
    read_json,
    resumed_provenance,
    run_id,
    write_json,
)
from .schedules import Schedule, build_scheduler

OPTIMIZERS = ("sgd", "adam", "adamw")
# how a step runs (not what it computes; none of it enters a run's id): name -> TrainConfig fields.
# benchmarks/throughput.py times each on a GPU; `run-study --step-mode auto` takes the fastest it measured.
MODES: dict[str, dict[str, Any]] = {
    "eager": {"compile": False, "fused": False},
    "fused": {"compile": False, "fused": True},  # one fused kernel for the optimizer step
    "compile": {"compile": True, "fused": False},  # torch.compile (inductor) of forward and backward
    "compile+fused": {"compile": True, "fused": True},
    "cudagraphs+fused": {"compile": "reduce-overhead", "fused": True},  # compile with CUDA graphs: fewer launches
}


def step_mode_of(summary: dict) -> str:
    """The name (``MODES``) of the step mode a run's ``summary.json`` records; eager where the
    run predates the record or fell back from compiling."""
    m = summary.get("step_mode") or summary.get("mode")  # a range test's `mode` is its LR ramp
    if not isinstance(m, dict) or m.get("compile_fell_back"):
        return "eager"
    return next((name for name, fields in MODES.items() if all(m.get(k, False) == v for k, v in fields.items())),
                "eager")


COMPILE_MODES = (False, True, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DATASETS = ("cifar10", "imagenet")
PROFILES = ("full", "quick", "smoke", "custom")


class Interrupted(Exception):
    """Training stopped by a signal (:data:`STOP_SIGNALS`) after saving a checkpoint; rerun to resume.
    ``signum``: the signal, for whoever decides what comes next (a Slurm job's requeue: ``reproduce.sweep``)."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum


# what stops a run at the step it reached, with a checkpoint: SIGTERM (timeout, a batch queue's limit), SIGINT
# (Ctrl-C, papermill's interrupt) and SIGUSR2, which Slurm sends through submitit ahead of a job's time limit
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR2") if hasattr(signal, name))


@dataclass
class TrainConfig:
    """Everything that defines a run. ``schedule`` is a :class:`Schedule` dict; ``iterations``
    or ``epochs`` (of ``ceil(images / batch)`` iterations, or floor with ``drop_last``)."""

    model: str = "resnet56"
    dataset: str = "cifar10"
    schedule: dict = field(default_factory=lambda: {"policy": "fixed", "base_lr": 0.1})
    iterations: int | None = None
    epochs: float | None = None
    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    data: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    augment: str = "crop_flip"
    normalize: str = "channel"
    bn_group: int | None = None  # BatchNorm statistics per this many images (Caffe on 4 GPUs x 128: 128)
    drop_last: bool = False
    eval_every: int | None = None
    log_every: int = 10
    seed: int = 0
    experiment: str = "adhoc"
    label: str | None = None
    claim: str | None = None
    profile: str = "custom"
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool | str = False
    fused: bool = False
    checkpoint_every: int = 500
    progress: bool = True
    save_weights: bool = False
    image_size: int = 224
    workers: int = 8

    def __post_init__(self) -> None:
        if isinstance(self.schedule, Schedule):
            self.schedule = self.schedule.to_dict()
        if not (isinstance(self.betas, list | tuple) and len(self.betas) == 2 and all(_real(b) for b in self.betas)):
            raise ValueError(f"betas={self.betas!r} is invalid: expected two numbers (beta1, beta2)")
        self.betas = tuple(self.betas)
        if not isinstance(self.device, str):
            raise ValueError(f"device={self.device!r} is invalid: expected cpu, cuda or cuda:N")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        on_cuda = self.device.startswith("cuda")
        self.amp = on_cuda if self.amp is None else self.amp
        self.channels_last = on_cuda if self.channels_last is None else self.channels_last
        self.validate()

    def validate(self) -> None:
        if self.model not in models.MODELS:
            raise ValueError(f"model={self.model!r} is invalid: expected one of {', '.join(models.MODELS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is invalid: expected one of {', '.join(DATASETS)}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile={self.compile!r} is invalid: expected one of {COMPILE_MODES}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is invalid: expected one of {', '.join(OPTIMIZERS)}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile={self.profile!r} is invalid: expected one of {', '.join(PROFILES)}")
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError(f"iterations={self.iterations!r}, epochs={self.epochs!r} is invalid: expected exactly one "
                             "of them")
        if self.iterations is not None and not _count(self.iterations):
            raise ValueError(f"iterations={self.iterations!r} is invalid: expected an integer > 0")
        if self.epochs is not None and not (_real(self.epochs) and math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"epochs={self.epochs!r} is invalid: expected a finite number > 0")
        if self.bn_group is not None and not _count(self.bn_group):
            raise ValueError(f"bn_group={self.bn_group!r} is invalid: expected a number of images > 0 (or none for the "
                             "whole batch)")
        for name in ("train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and not _count(v):
                raise ValueError(f"{name}={v!r} is invalid: expected a number of images > 0 (or none for all)")
        for name in ("nesterov", "drop_last", "fused", "progress", "save_weights"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: expected true or false")
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError(f"nesterov=True is invalid with optimizer={self.optimizer!r}: expected optimizer sgd "
                             "(Nesterov momentum is an SGD option)")
        dev = self.device
        if not (dev == "cpu" or dev == "cuda" or (isinstance(dev, str) and dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ValueError(f"device={dev!r} is invalid: expected cpu, cuda or cuda:N")
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={dev!r} is invalid here: no CUDA GPU is visible (expected cpu)")
        if not _count(self.batch_size):
            raise ValueError(f"batch_size={self.batch_size!r} is invalid: expected an integer > 0")
        if not (_real(self.weight_decay) and math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay={self.weight_decay!r} is invalid: expected a finite number >= 0")
        if not (_real(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum={self.momentum!r} is invalid: expected a number in [0, 1)")
        for name in ("log_every", "checkpoint_every"):
            if not _count(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: expected an integer > 0")
        if self.eval_every is not None and not _count(self.eval_every):
            raise ValueError(f"eval_every={self.eval_every!r} is invalid: expected an integer > 0")
        if not isinstance(self.schedule, dict):
            raise ValueError(f"schedule={self.schedule!r} is invalid: expected a mapping with policy and base_lr")
        if self.data is not None and not isinstance(self.data, str):
            raise ValueError(f"data={self.data!r} is invalid: expected a folder, synthetic[:N] or download")
        for name in ("label", "claim", "experiment"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid: expected text")
        if not (_count(self.seed) or self.seed == 0):
            raise ValueError(f"seed={self.seed!r} is invalid: expected an integer >= 0")
        self.lr_schedule  # noqa: B018 - parsed once here: a bad schedule fails at construction

    @cached_property
    def lr_schedule(self) -> Schedule:
        """``schedule`` parsed (once): the :class:`Schedule` the optimizer and scheduler use."""
        return Schedule.from_dict(self.schedule)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config key(s) {sorted(unknown)}: expected some of {sorted(known)}")
        return cls(**d)


def _count(v: Any) -> bool:
    """An integer > 0 (not a bool: YAML's yes/true would be 1)."""
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# ---------------------------------------------------------------- pieces


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    groups = models.weight_decay_groups(model, cfg.weight_decay)
    lr = cfg.lr_schedule.lr(0)
    fused = {"fused": True} if cfg.fused else {}  # else PyTorch's default (foreach on CUDA)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov, **fused)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=lr, betas=cfg.betas, **fused)


class CompiledOrEager:
    """``torch.compile(model, mode)`` that never crashes a run: if compiling fails (when asked,
    or later when a new shape recompiles), one warning line, and the step is redone eagerly.

    Only batches of the first shape it sees go through the compiled module; another shape (the
    last, partial batch of each epoch: 50,000 images in batches of 512 leave 336) runs eagerly.
    Compiling it would cost a second compile and, under automatic dynamic shapes, put every later
    full batch through a dynamic-shape graph (and CUDA graphs re-recorded per shape), to save one
    eager step an epoch."""

    def __init__(self, model: torch.nn.Module, how: bool | str) -> None:
        self.eager, self.compiled, self.failed = model, None, None
        self.shape: tuple | None = None  # the batch shape the compiled module serves
        if how:
            try:
                self.compiled = torch.compile(model, mode=None if how in (True, "default") else how)
            except Exception as e:  # noqa: BLE001 - any backend failure means: train eagerly
                self._fall_back(e)

    def _fall_back(self, e: Exception) -> None:
        self.compiled, self.failed = None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        import warnings

        warnings.warn(f"torch.compile failed, training eagerly instead ({self.failed[:200]})", stacklevel=3)

    def run(self, fn, *args):
        """``fn(module, *args)``, with the compiled module while it works and the batch has its
        shape, else with the eager one."""
        if self.compiled is not None:
            shape = tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else None
            if self.shape is None:
                self.shape = shape
            if shape == self.shape:
                try:
                    return fn(self.compiled, *args)
                except Exception as e:  # noqa: BLE001 - dynamo/inductor errors surface at the first call
                    self._fall_back(e)
        return fn(self.eager, *args)


def training_step(optimizer: torch.optim.Optimizer, device: str, amp: bool):
    """One forward and backward, ``(model, x, y) -> (batch accuracy, loss)`` on the device, for
    :class:`CompiledOrEager` to run (eagerly again if a compiled step fails): training and the range
    test take the same step."""

    def step(m, x, y):
        with autocast(device, amp):
            out = m(x)
            loss = F.cross_entropy(out, y)
        # read the forward's output before backward runs: under CUDA graphs its memory belongs to the graph
        correct = (out.argmax(1) == y).float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return correct, loss

    return step


@contextmanager
def signals_handled(handler, signals=STOP_SIGNALS):
    """``handler`` for ``signals`` inside the block, the previous handlers after it. Only the main
    thread can set them; elsewhere the signals stay as they are."""
    old = {}
    try:
        for s in signals:
            try:
                old[s] = signal.signal(s, handler)
            except ValueError:  # not in the main thread
                pass
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _stop_on_signals():
    """:data:`STOP_SIGNALS` set a flag the loop checks after each iteration (main thread only)."""
    flag = {"signal": None}

    def handler(signum, _frame):
        flag["signal"] = signum

    with signals_handled(handler):
        yield flag


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half checkpoint; the previous one stands
        raise


def load_checkpoint(path: Path) -> dict:
    """A checkpoint, every tensor on the CPU: ``torch.set_rng_state`` takes only a CPU tensor (mapped to
    a GPU, the RNG state made every resume there fail), and ``load_state_dict`` puts the model's and the
    optimizer's tensors on their parameters' device itself."""
    return torch.load(path, map_location="cpu", weights_only=False)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def prepare(cfg: TrainConfig, device: str | None = None, rank: int = 0, world: int = 1):
    """The loader, the model, what the data was, and a factory for the evaluator (optionally on
    the first N test images): what both training and the range test start from."""
    device = device or cfg.device
    if device == "cpu":
        torch.set_flush_denormal(True)  # cifar10-full slows ~10x on denormals otherwise
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed shapes: cuDNN times its kernels once and keeps the fastest
    if cfg.dataset == "imagenet":

        train_ds = image_folder(cfg.data, "train", cfg.image_size)
        val_ds = image_folder(cfg.data, "val", cfg.image_size)
        loader = FolderLoader(train_ds, cfg.batch_size, seed=cfg.seed, device=device, workers=cfg.workers,
                              drop_last=cfg.drop_last, channels_last=cfg.channels_last, rank=rank, world=world)
        num_classes = len(train_ds.classes)
        data_info = {"train": describe(train_ds), "test": describe(val_ds), "augment": "random_resized_crop_flip",
                     "normalize": "imagenet_channel"}

        def make_evaluator(n_images: int | None = None):
            return FolderEvaluator(val_ds, device, cfg.amp, workers=cfg.workers, limit=n_images,
                                   channels_last=cfg.channels_last)
    else:
        train_set = load_cifar10(cfg.data, "train").subset(cfg.train_subset)
        test_set = load_cifar10(cfg.data, "test").subset(cfg.test_subset)
        normalize = Normalizer(cfg.normalize, train_set, device)
        loader = DeviceLoader(train_set, cfg.batch_size, augment=cfg.augment, normalize=normalize,
                              drop_last=cfg.drop_last, seed=cfg.seed, device=device, channels_last=cfg.channels_last,
                              rank=rank, world=world)
        num_classes = 10
        data_info = {"train": train_set.describe(), "test": test_set.describe(), "augment": cfg.augment,
                     "normalize": cfg.normalize}

        def make_evaluator(n_images: int | None = None):
            return Evaluator(test_set.subset(n_images), normalize, device, cfg.channels_last, cfg.amp)
    seed_everything(cfg.seed)
    model = models.build(cfg.model, num_classes).to(device)
    if cfg.bn_group:
        models.ghost_batch_norm(model, cfg.bn_group)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return loader, model, data_info, make_evaluator


def range_key(*, start_lr: float, end_lr: float, mode: str = "linear", eval_every: int | None = None,
              eval_images: int | None = None, diverge: float = 4.0) -> dict:
    """A range test's arguments as they enter its run id (with range_test's defaults)."""
    return {"range_start_lr": start_lr, "range_end_lr": end_lr, "range_mode": mode, "range_eval_every": eval_every,
            "range_eval_images": eval_images, "range_diverge": diverge}


def run_dir(cfg: TrainConfig, root: Path | str = DEFAULT_ROOT, range_args: dict | None = None) -> RunDir:
    """Where ``cfg`` is stored (a range test's arguments, from :func:`range_key`, are part of its id)."""
    return RunDir(Path(root) / cfg.experiment / run_id(cfg.to_dict() | (range_args or {})))


def study_run_dir(cfg: TrainConfig, range_args: dict | None, root: Path | str = DEFAULT_ROOT) -> RunDir:
    """Where a study file's entry is stored: ``range_args`` as the file gives them (None for a training run)."""
    return run_dir(cfg, root, None if range_args is None else range_key(**range_args))


# ---------------------------------------------------------------- the loop


def train(cfg: TrainConfig, root: Path | str = DEFAULT_ROOT, *, force: bool = False, resume: bool = True,
          cached_only: bool = False) -> Run | None:
    """Train ``cfg`` and store it under ``root/<experiment>/<run-id>/``.

    A finished run with the same semantic config is returned as is (unless ``force``); an
    interrupted one continues from its checkpoint (unless ``resume=False``, which restarts).
    Raises :class:`Interrupted` after checkpointing on SIGTERM/SIGINT. ``cached_only``: return
    the stored run or ``None``, never train. Under torchrun the model is wrapped in
    DistributedDataParallel, each rank trains on its slice of every global batch, logged
    metrics are averaged over ranks, and rank 0 alone writes.
    """
    rd = run_dir(cfg, root)
    if cached_only:
        return rd.load() if rd.finished() else None
    rank, world = distributed.init()
    with RunLock(rd.path) if rank == 0 else nullcontext():  # one writer per run folder
        return _train(cfg, rd, rank, world, force=force, resume=resume)


def check_cached(cfg: TrainConfig, run: Run) -> Run:
    """A stored run answers a request only if it is what was asked: trained on the same data
    (its pixels' and labels' checksum, where the data is at hand without a download) and
    holding weights if they are asked for."""

    if cfg.save_weights and not (run.path / "model.pt").exists():
        raise ValueError(f"save_weights: the stored run {run.path} has no model.pt; train it again with --force "
                         "to keep its weights")
    stored = ((run.provenance.get("data") or {}).get("train") or {}).get("sha256")
    if stored and cfg.dataset == "cifar10" and resolve_source(cfg.data) != "download":
        here = load_cifar10(cfg.data, "train").subset(cfg.train_subset).sha256
        if here != stored:
            raise ValueError(f"data={cfg.data or resolve_source(None)!r}: its training images or labels differ from those "
                             f"the stored run {run.path} was trained on (checksum {here[:12]} vs {stored[:12]}); "
                             "use another --out, or --force to train again")
    return run


def _train(cfg: TrainConfig, rd: RunDir, rank: int, world: int, *, force: bool, resume: bool) -> Run:
    main = rank == 0
    dev = distributed.local_device(cfg.device)
    if main and rd.path.exists() and (force or not resume):
        shutil.rmtree(rd.path)
    distributed.barrier()
    if rd.finished():
        return check_cached(cfg, rd.load())
    if main:
        rd.path.mkdir(parents=True, exist_ok=True)

    loader, model, data_info, make_evaluator = prepare(cfg, dev, rank, world)
    ipe = len(loader)
    total = cfg.iterations if cfg.iterations is not None else round(cfg.epochs * ipe)
    eval_every = cfg.eval_every or ipe
    schedule = cfg.lr_schedule
    optimizer = make_optimizer(cfg, model)
    scheduler = build_scheduler(optimizer, schedule)
    evaluate = make_evaluator()
    step_model = model
    if world > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.startswith("cuda") else None)
    stepper = CompiledOrEager(step_model, cfg.compile)

    log_every = cfg.log_every
    loss_buf = torch.zeros(log_every, device=dev)
    correct_buf = torch.zeros(log_every, device=dev)
    it, pending, elapsed, train_time, best = 0, 0, 0.0, 0.0, None
    images = 0  # trained on: a last partial batch and a small data set make it less than it * batch_size
    if rd.checkpoint.exists():
        ck = load_checkpoint(rd.checkpoint)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"])
        it, pending, elapsed, train_time, best = ck["iteration"], ck["pending"], ck["elapsed"], ck["train_time"], ck["best"]
        images = ck.get("images", it * cfg.batch_size)
        loss_buf[:pending] = ck["loss_buf"][:pending].to(dev)
        correct_buf[:pending] = ck["correct_buf"][:pending].to(dev)
        if main:
            rd.truncate_metrics(it)
    elif main:
        rd.metrics.unlink(missing_ok=True)
        rd.metrics_gz.unlink(missing_ok=True)
        write_json(rd.config, cfg.to_dict())
    distributed.barrier()  # every rank has read the checkpoint before rank 0 may write the next
    if main:
        old = read_json(rd.provenance) if it and rd.provenance.exists() else None
        write_json(rd.provenance, resumed_provenance(
            provenance(dev, data_info, cfg.seed) | {"iterations_per_epoch": ipe, "processes": world}, old, it))

    def checkpoint() -> None:
        if not main:
            return
        _save_checkpoint(rd.checkpoint, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(), "iteration": it, "pending": pending, "loss_buf": loss_buf.cpu(),
            "correct_buf": correct_buf.cpu(), "elapsed": elapsed + time.perf_counter() - t0,
            "train_time": train_time + time.perf_counter() - t_train, "best": best, "images": images,
        })

    def flush() -> float:
        """Log the window's mean loss/accuracy with the LR of the last iteration (one sync)."""
        nonlocal pending
        window = distributed.all_mean(torch.stack([loss_buf[:pending].mean(), correct_buf[:pending].mean()]))
        loss, acc = window.tolist()
        if main:
            rd.append_metrics([{"kind": "train", "iteration": it, "epoch": it / ipe, "lr": schedule.lr(it - 1),
                                "momentum": schedule.momentum_at(it - 1), "train_loss": loss, "train_accuracy": acc}])
        pending = 0
        return loss

    forward_backward = training_step(optimizer, dev, cfg.amp)

    status, diverged_at, evaluated_at = "running", None, None
    startup = None  # seconds to this segment's first logged window: compiling, graph capture, autotuning
    model.train()
    t0 = t_train = time.perf_counter()
    bar = tqdm(total=total, initial=it, desc=f"{cfg.label or cfg.model} s{cfg.seed}", disable=not (cfg.progress and main),
               unit="it", dynamic_ncols=True)
    with _stop_on_signals() as stop:
        while it < total and status == "running":
            epoch, first = divmod(it, ipe)
            for x, y in loader.epoch(epoch, start=first):
                correct, loss = stepper.run(forward_backward, x, y)
                optimizer.step()
                scheduler.step()
                loss_buf[pending] = loss.detach()
                correct_buf[pending] = correct
                pending += 1
                images += x.shape[0] * world
                it += 1
                at_log = pending == log_every or it == total or it % eval_every == 0
                if at_log:
                    bar.update(it - bar.n)  # the bar moves at logging points: nothing per step on the host
                if at_log:
                    last_loss = flush()
                    if startup is None:  # flush waited for the window's steps: they are done
                        startup = time.perf_counter() - t0
                    if not math.isfinite(last_loss):
                        status, diverged_at = "diverged", it
                if status == "running" and (it % eval_every == 0 or it == total):
                    if dev.startswith("cuda"):
                        torch.cuda.synchronize()
                    train_time += time.perf_counter() - t_train
                    ev = evaluate(model)
                    evaluated_at = it
                    t_train = time.perf_counter()
                    if main:
                        rd.append_metrics([{"kind": "eval", "iteration": it, "epoch": it / ipe, **ev}])
                    bar.set_postfix(loss=f"{last_loss:.3f}", acc=f"{ev['test_accuracy']:.3f}")
                    if not math.isfinite(ev["test_loss"]):
                        status, diverged_at = "diverged", it
                    elif best is None or ev["test_accuracy"] > best["test_accuracy"]:
                        best = {"test_accuracy": ev["test_accuracy"], "iteration": it}
                if status != "running" or it >= total:
                    break
                # ranks agree on a stop at logging points (one tiny collective), so all checkpoint together
                stopping = distributed.any_rank(stop["signal"] is not None, dev) if at_log else (
                    world == 1 and stop["signal"] is not None)
                if stopping or it % cfg.checkpoint_every == 0:
                    checkpoint()
                    if stopping:
                        bar.close()
                        raise Interrupted(f"stopped by signal {stop['signal'] or '(on another rank)'} at iteration {it}/{total}; "
                                          f"checkpoint saved in {rd.path}: run the same command again to resume", stop["signal"])
    bar.close()
    train_time += time.perf_counter() - t_train
    elapsed += time.perf_counter() - t0
    if status == "running":
        status = "finished"
    if main:
        if cfg.save_weights:
            _save_checkpoint(rd.path / "model.pt", model.state_dict())  # whole or not at all, as a checkpoint
        # the final evaluation's per-image verdicts (where this process made it; a folder evaluator keeps none)
        verdicts = evaluate.verdict_bits() if (status == "finished" and evaluated_at == total
                                               and hasattr(evaluate, "verdict_bits")) else {}
        _write_summary(rd, cfg, schedule, status, total, it, ipe, elapsed, train_time, best, diverged_at, images,
                       compile_fell_back=stepper.failed, verdicts=verdicts, startup=startup)
    distributed.barrier()
    return rd.load()


def _write_summary(rd: RunDir, cfg: TrainConfig, schedule: Schedule, status: str, total: int, it: int, ipe: int,
                   elapsed: float, train_time: float, best: dict | None, diverged_at: int | None, images: int,
                   compile_fell_back: str | None = None, verdicts: dict[str, str] | None = None,
                   startup: float | None = None) -> None:
    """summary.json (the outcome, with the last evaluation's metrics and per-image ``verdicts``);
    then the checkpoint goes. ``startup_s``: seconds from the last segment's first step to its first
    logged window, compiling included, which :mod:`reproduce.lease` tells apart from the steps' pace."""
    evals = [r for r in rd.rows() if r["kind"] == "eval"]
    final = evals[-1] if evals and status == "finished" else {}
    summary = {
        "status": status, "iterations": total, "iterations_done": it, "iterations_per_epoch": ipe,
        "epochs": it / ipe, "experiment": cfg.experiment, "label": cfg.label, "claim": cfg.claim,
        "profile": cfg.profile, "seed": cfg.seed, "wall_time_s": elapsed, "train_time_s": train_time,
        "startup_s": startup,
        "train_images": images,
        "train_images_per_s": images / train_time if train_time > 0 else None,
        "best_test_accuracy": best["test_accuracy"] if best else None,
        "best_iteration": best["iteration"] if best else None,
        "diverged_at_iteration": diverged_at,
        "diverged_at_lr": schedule.lr(diverged_at - 1) if diverged_at else None,
        "mode": {"compile": cfg.compile, "fused": cfg.fused, "compile_fell_back": compile_fell_back},
        **{k: v for k, v in final.items() if k not in ("kind", "iteration", "epoch")},
        **(verdicts or {}),
    }
    write_json(rd.summary, summary)
    rd.checkpoint.unlink(missing_ok=True)
    rd.compress_metrics()


def load_config(path: str | Path) -> dict:
    """A run config from a YAML or JSON file (the CLI's ``--config``)."""
    import yaml

    text = Path(path).read_text()
    return yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else read_json(Path(path))


# ---------------------------------------------------------------- range test as a stored run


def range_test(cfg: TrainConfig, *, start_lr: float, end_lr: float, mode: str = "linear",
               eval_every: int | None = None, eval_images: int | None = None, diverge: float = 4.0,
               root: Path | str = DEFAULT_ROOT, force: bool = False, cached_only: bool = False) -> Run | None:
    """The LR range test of ``cfg.model`` over ``cfg.iterations`` (or ``epochs``) mini-batches,
    with held-out accuracy every ``eval_every`` iterations (Smith reads accuracy), stored like a
    training run: rows of kind ``range`` in metrics.jsonl, the suggestions in summary.json."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("a range test runs in one process: start it without torchrun")
    extra = range_key(start_lr=start_lr, end_lr=end_lr, mode=mode, eval_every=eval_every, eval_images=eval_images,
                      diverge=diverge)
    rd = run_dir(cfg, root, extra)
    if cached_only:
        return rd.load() if rd.finished() else None
    if eval_images is not None and not (isinstance(eval_images, int) and eval_images > 0):
        raise ValueError(f"eval_images={eval_images!r} is invalid: expected a number of test images > 0")
    with RunLock(rd.path):
        return _range_test(cfg, rd, extra, start_lr=start_lr, end_lr=end_lr, mode=mode, eval_every=eval_every,
                           eval_images=eval_images, diverge=diverge, force=force)


def _range_test(cfg: TrainConfig, rd: RunDir, extra: dict, *, start_lr: float, end_lr: float, mode: str,
                eval_every: int | None, eval_images: int | None, diverge: float, force: bool) -> Run:

    if rd.path.exists() and force:
        shutil.rmtree(rd.path)
    if rd.finished():
        return check_cached(cfg, rd.load())
    rd.path.mkdir(parents=True, exist_ok=True)
    loader, model, data_info, make_evaluator = prepare(cfg)
    total = cfg.iterations if cfg.iterations is not None else round(cfg.epochs * len(loader))
    optimizer = make_optimizer(cfg, model)
    evaluate = make_evaluator(eval_images)

    # a test stopped by a signal left its state in a checkpoint: go on from there (reproduce.range_test)
    resume = load_checkpoint(rd.checkpoint) if rd.checkpoint.exists() else None
    first, before = (0, 0.0) if resume is None else (resume["test"]["iteration"], resume["elapsed"])

    class Batches:  # the device loader's epochs, one after another, from batch `first` on, as long as the test asks
        def __iter__(self):
            epoch, start = divmod(first, len(loader))
            while True:
                yield from loader.epoch(epoch, start=start)
                epoch, start = epoch + 1, 0

    stepper = CompiledOrEager(model, cfg.compile)  # the step mode, as training runs it
    step = training_step(optimizer, cfg.device, cfg.amp)

    def forward_backward(x, y):
        return stepper.run(step, x, y)[1]  # the loss, on the device

    if resume is not None:
        torch.set_rng_state(resume["rng"])
    old = read_json(rd.provenance) if first and rd.provenance.exists() else None
    write_json(rd.config, cfg.to_dict() | extra)
    write_json(rd.provenance, resumed_provenance(provenance(cfg.device, data_info, cfg.seed), old, first))
    t0 = time.perf_counter()
    with _stop_on_signals() as signalled:
        try:
            # the steps are training's (forward_backward); the criterion serves only lr_range_test's default step
            result = lr_range_test(model, optimizer, F.cross_entropy, Batches(), start_lr=start_lr, end_lr=end_lr,
                                   num_iter=total, mode=mode, diverge=diverge,
                                   eval_fn=lambda m: evaluate(model)["test_accuracy"], eval_every=eval_every,
                                   progress=cfg.progress, forward_backward=forward_backward,
                                   stop=lambda: signalled["signal"] is not None, resume=resume and resume["test"])
        except RangeTestStopped as e:
            _save_checkpoint(rd.checkpoint, {"iteration": e.state["iteration"], "test": e.state,  # iteration: for run-study's plan
                                             "rng": torch.get_rng_state(), "elapsed": before + time.perf_counter() - t0})
            raise Interrupted(f"stopped by signal {signalled['signal']} at iteration {e.state['iteration']}/{total}; "
                              f"checkpoint saved in {rd.path}: run the same command again to resume",
                              signalled["signal"]) from None
    elapsed = before + time.perf_counter() - t0
    rows = result.history.assign(kind="range").to_dict("records")
    rd.metrics.unlink(missing_ok=True)
    rd.metrics_gz.unlink(missing_ok=True)
    rd.append_metrics([{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows])
    acc = result.history.dropna(subset=["accuracy"])
    peak = acc.loc[acc["accuracy"].idxmax()] if len(acc) else None
    write_json(rd.summary, {
        "status": "finished", "kind": "range_test", "experiment": cfg.experiment, "label": cfg.label, "claim": cfg.claim,
        "profile": cfg.profile, "seed": cfg.seed, "iterations": total, "iterations_done": len(result.history),
        "mode": mode, "start_lr": start_lr, "end_lr": end_lr, "stopped_early": result.stopped_early,
        "stop_lr": result.stop_lr, "suggestions": result.suggestions,
        "peak_accuracy": None if peak is None else float(peak["accuracy"]),
        "peak_accuracy_lr": None if peak is None else float(peak["lr"]),
        "final_accuracy": None if peak is None else float(acc["accuracy"].iloc[-1]),
        "min_loss_lr": float(result.history.loc[result.history["smoothed_loss"].idxmin(), "lr"]),
        "wall_time_s": elapsed,
        "train_images_per_s": len(result.history) * cfg.batch_size / elapsed,
        # how its steps ran (`mode` is the LR ramp's here): step_mode_of reads this key first
        "step_mode": {"compile": cfg.compile, "fused": cfg.fused, "compile_fell_back": stepper.failed},
    })
    rd.compress_metrics()
    rd.checkpoint.unlink(missing_ok=True)
    return rd.load()
