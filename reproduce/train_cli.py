"""``train``, ``range-test``, ``evaluate``, ``export-weights``: one stored run (or shipped weights)
each, from flags or a YAML/JSON config. Only the plot of a range test is imported when used
(matplotlib: a GPU machine running experiments may not have it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from . import distributed
from .data import AUGMENTS, load_cifar10
from .evaluation import VERDICT_FIELDS
from .pretrained import evaluate, export, report
from .progress import seconds_per_step
from .range_test import MODES as RANGE_MODES
from .range_test import check_lr_range, suggestion_lines
from .results import DEFAULT_ROOT, RunDir, run_id
from .schedule_args import add_schedule_args, schedule_from_args
from .schedules import POLICIES, POLICY
from .train import (
    MODES,
    OPTIMIZERS,
    PROFILES,
    Interrupted,
    TrainConfig,
    load_config,
    range_test,
    train,
)

BATCH_HELP = "mini-batch size (the papers' total batch size)"


def _common(p: argparse.ArgumentParser, out_default: str = str(DEFAULT_ROOT)) -> None:
    p.add_argument("--config", help="YAML/JSON file with TrainConfig keys; flags given explicitly override it")
    p.add_argument("--model", help="resnet20/32/44/56/110 (He et al.), resnet56_smith (the Caffe net of Smith's C4 log), "
                   "cifar10_full, keras_cnn (default resnet56)")
    p.add_argument("--batch-size", type=int, help=BATCH_HELP + " (default 128); under torchrun the global batch, "
                   "split evenly across the processes")
    p.add_argument("--iterations", type=int, help="training iterations (or --epochs)")
    p.add_argument("--epochs", type=float, help="epochs of ceil(images/batch) iterations")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="sgd (default; with --momentum), adam or adamw "
                   "(C8's Keras CNN: adam)")
    p.add_argument("--nesterov", action="store_true", default=None,
                   help="Nesterov momentum (sgd only), as Smith's Caffe runs of C4 used it")
    p.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, help="weight decay (default 1e-4)")
    p.add_argument("--data", help=f"CIFAR-10 folder, 'synthetic[:N]' or 'download' (default ${'CIFAR10_DIR'} or download)")
    p.add_argument("--dataset", choices=("cifar10", "imagenet"), help="cifar10 (default) or an ImageNet-style "
                   "ImageFolder tree given by --data (train/ and val/)")
    p.add_argument("--image-size", type=int, help="imagenet: crop size (default 224)")
    p.add_argument("--workers", type=int, help="imagenet: DataLoader workers (default 8)")
    p.add_argument("--train-subset", type=int, help="train on the first N images only (quick profile)")
    p.add_argument("--test-subset", type=int, help="evaluate on the first N test images only")
    p.add_argument("--augment", choices=AUGMENTS,
                   help="none: CLR's Caffe setting; flip: Smith's ResNet run; crop_flip: standard (default)")
    p.add_argument("--normalize", choices=("channel", "mean_image"), help="per-channel mean/std, or Caffe's mean image")
    p.add_argument("--bn-group", type=int, help="BatchNorm statistics per this many images of a batch, as Caffe "
                   "computed them per GPU (Smith's C4: 128 of 512); default the whole batch")
    p.add_argument("--seed", type=int, help="seeds the initial weights and the data order (default 0); "
                   "each seed is its own run folder")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: cuda if available)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--experiment", help="results sub-folder (default adhoc)")
    p.add_argument("--label", help="a short name for the run")
    p.add_argument("--claim", help="the claim id this run serves (C1...C9, as in CLAIMS.md); CLAIMS.md is built from it")
    p.add_argument("--profile", choices=PROFILES, help="which profile the run belongs to")
    p.add_argument("--out", default=out_default, help=f"results root (default {out_default}"
                   + ("; git ignores it: an ad-hoc test is not part of the study's record)" if out_default == "runs" else ")"))
    p.add_argument("--force", action="store_true", help="re-run even if a finished run with this config is stored")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar (logs and batch jobs); the metrics are written all the same")


def _config(a: argparse.Namespace, schedule: bool = True):

    cfg = load_config(a.config) if a.config else {}
    if schedule and getattr(a, "policy", None) is None:  # schedule flags without a policy: used, or refused
        given = [f"--{k.replace('_', '-')}" for k in ("max_lr", "stepsize", "gamma", "decay", "final_lr", "milestones")
                 if getattr(a, k, None) not in (None, [], ())]
        given += ["--momentum HIGH LOW"] if getattr(a, "momentum", None) and len(a.momentum) == 2 else []
        given += ["--exp-range-bounds"] if getattr(a, "exp_range_bounds", False) else []
        if given:
            raise ValueError(f"policy=None is invalid with {', '.join(given)}: expected --policy, one of "
                             f"{', '.join(p for p in POLICIES if p != 'staged')}")
        if a.base_lr is not None:
            if "schedule" in cfg:
                raise ValueError(f"base_lr={a.base_lr} is invalid without --policy: the config file's schedule would "
                                 "be replaced; expected --policy too")
            a.policy = "fixed"  # a constant LR, as asked
    keys = ("model", "batch_size", "iterations", "epochs", "optimizer", "nesterov", "weight_decay", "data",
            "train_subset", "test_subset", "augment", "normalize", "bn_group", "seed", "device", "compile", "experiment",
            "label", "claim", "profile", "progress", "eval_every", "checkpoint_every", "log_every", "save_weights",
            "dataset", "image_size", "workers")
    for k in keys:
        v = getattr(a, k, None)
        if v is not None:
            cfg[k] = v
    if getattr(a, "step_mode", None):
        cfg.update(MODES[a.step_mode])
    if a.iterations is not None:
        cfg.pop("epochs", None)
    if a.epochs is not None:
        cfg.pop("iterations", None)
    if schedule and getattr(a, "policy", None):
        iterations = cfg.get("iterations")
        needs_total = "total_iterations" in getattr(POLICY.get(a.policy), "required", ())
        if iterations is None and cfg.get("epochs") and needs_total:
            # only one_cycle's formula needs the run's length in iterations, and --epochs gives it only
            # with the data's size: counted here (the other policies never load data in the CLI)
            probe = TrainConfig(**{**cfg, "iterations": 1, "epochs": None})
            n = len(load_cifar10(probe.data, "train").subset(probe.train_subset))
            iterations = round(cfg["epochs"] * -(-n // probe.batch_size))
        cfg["schedule"] = schedule_from_args(a, iterations).to_dict()
    mom = getattr(a, "momentum", None)
    if mom is not None and len(mom) == 1:
        cfg["momentum"] = mom[0]
    return TrainConfig.from_dict(cfg)


def cmd_train(a: argparse.Namespace) -> int:

    cfg = _config(a)
    if a.resume:
        rd = RunDir(f"{a.out}/{cfg.experiment}/{run_id(cfg.to_dict())}")
        if not rd.checkpoint.exists() and not rd.finished():
            raise FileNotFoundError(f"--resume: no checkpoint in {rd.path} (run without --resume to start it)")
    try:
        run = train(cfg, a.out, force=a.force)
    except Interrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
    if int(os.environ.get("RANK", "0")) == 0:
        shown = {k: "(per-image verdicts: in summary.json)" if k in VERDICT_FIELDS else v for k, v in run.summary.items()}
        print(json.dumps({"run": str(run.path), **shown}, indent=2, default=str))
    return 0


RANGE_READINGS = 20  # accuracy readings of a range test started from the command line (the plot's points)
RANGE_EVAL_IMAGES = 1000  # held-out images per reading
RANGE_ITERATIONS = 100  # fastai's lr_find length, when neither --iterations nor --epochs is given


def cmd_range_test(a: argparse.Namespace) -> int:
    if (a.start_lr is None) != (a.end_lr is None):
        raise ValueError(f"start_lr={a.start_lr!r}, end_lr={a.end_lr!r} is invalid: give both, or neither for the "
                         "default sweep 1e-7 -> 10 (exponential)")
    default_sweep = a.start_lr is None
    start, end = (1e-7, 10.0) if default_sweep else (a.start_lr, a.end_lr)
    mode = a.mode or ("exp" if default_sweep else "linear")
    check_lr_range(start, end, mode)
    if a.iterations is None and a.epochs is None and not a.config:
        a.iterations = RANGE_ITERATIONS
    cfg = _config(a, schedule=False)
    n = cfg.iterations or round(cfg.epochs * 50_000 / cfg.batch_size)
    every = a.eval_every or max(1, n // RANGE_READINGS)
    images = a.eval_images or RANGE_EVAL_IMAGES
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device in (None, "auto") else cfg.device
    per_step = seconds_per_step(cfg.model, cfg.batch_size, device=device)
    cost = per_step * (n + (n // every + 1) * images / cfg.batch_size / 3)
    print(f"range test: {n:,} iterations of {cfg.model} at batch {cfg.batch_size}, LR {start:g} -> {end:g} ({mode}), "
          f"accuracy on {images:,} held-out images every {every} iterations ({n // every + 1} readings): about "
          f"{cost / 60:.1f} min here, less if the loss diverges first", file=sys.stderr, flush=True)
    try:
        run = range_test(cfg, start_lr=start, end_lr=end, mode=mode, eval_every=every, eval_images=images,
                         diverge=a.diverge, root=a.out, force=a.force)
    except Interrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    s = run.summary
    if a.plot:
        from .plots import plot_range_test, save

        title = f"LR range test: {cfg.model}, batch {cfg.batch_size}, {s['mode']} {s['start_lr']:g} -> {s['end_lr']:g}"
        save(plot_range_test(run, title=title).figure, a.plot)
    if a.json:
        print(json.dumps({"run": str(run.path), **s}, indent=2, default=str))
        return 0
    stop = f", stopped at LR {s['stop_lr']:.3g} (the loss diverged)" if s.get("stopped_early") else ""
    print(f"stored in {run.path}{stop}")
    print("\n".join(suggestion_lines(run.metrics, s["mode"])))
    if a.plot:
        print(f"figure: {a.plot}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    if not Path(a.weights).exists():
        raise FileNotFoundError(f"weights={a.weights!r} is invalid: no such file (e.g. models/resnet56_c4_s0.fp16.pt)")
    print(report(evaluate(a.weights, a.data, exact_only=not a.all)))
    return 0


def cmd_export_weights(a: argparse.Namespace) -> int:
    print(export(a.run, a.dest))
    return 0


def add_commands(sub) -> None:
    e = sub.add_parser("evaluate", help="re-check shipped weights on the test set (CPU, seconds)",
                       description="Rebuild a model from an fp16 weights file (export-weights) and print its test "
                                   "accuracies beside those its run recorded. By default only the 1,017 exact test "
                                   "images and their JPEG copies (seconds on a CPU); --all adds all 10,000.",
                       epilog="example: python -m reproduce evaluate models/resnet56_c4_s0.fp16.pt --data $CIFAR10_DIR")
    e.add_argument("weights", help="an fp16 weights file written by export-weights")
    e.add_argument("--data", help="CIFAR-10 folder (default $CIFAR10_DIR, else download)")
    e.add_argument("--all", action="store_true", help="score all 10,000 test images too (ten times the work)")
    e.set_defaults(func=cmd_evaluate)
    x = sub.add_parser("export-weights", help="a stored run's model.pt as a small fp16 file with its config",
                       description="Write RUN/model.pt as fp16 to DEST, with the run's config, folder and recorded "
                                   "accuracies, for `evaluate`.")
    x.add_argument("run", help="a run folder holding model.pt")
    x.add_argument("dest", help="e.g. models/resnet56_c4_s0.fp16.pt")
    x.set_defaults(func=cmd_export_weights)

    t = sub.add_parser(
        "train", help="train one model with one schedule and store the run",
        description="Train and store one run under OUT/<experiment>/<run-id>/ (config, metrics, summary, provenance). "
                    "A finished run with the same config is reused; an interrupted one (SIGTERM/SIGINT/kill) resumes "
                    "from its checkpoint when the same command is run again. Data-parallel on several GPUs (or CPU "
                    "processes): torchrun --nproc_per_node N -m reproduce train ... (rank 0 writes the results).",
        epilog="example (claim C4): python -m reproduce train --model resnet56 --policy one_cycle --base-lr 0.08 "
               "--max-lr 0.8 --stepsize 4003 --final-lr 0.0008 --batch-size 512 --iterations 9277 "
               "--momentum 0.95 0.8 --wd 1e-4 --augment flip --seed 0 --claim C4")
    _common(t)
    add_schedule_args(t, required_policy=False)
    t.add_argument("--eval-every", type=int, help="evaluate every N iterations (default: every epoch)")
    t.add_argument("--checkpoint-every", type=int, help="checkpoint every N iterations (default 500)")
    t.add_argument("--log-every", type=int, help="log mean train loss every N iterations (default 10)")
    t.add_argument("--step-mode", choices=tuple(MODES),
                   help="how steps run, results unchanged: fused optimizer, torch.compile, CUDA graphs "
                        "(benchmarks/throughput.py times each; a failed compile trains eagerly)")
    t.add_argument("--resume", action="store_true", help="require an interrupted run to continue (it resumes anyway)")
    t.add_argument("--save-weights", action="store_true", default=None, help="also write the final weights (model.pt)")
    t.set_defaults(func=cmd_train, policy=None, base_lr=None)

    r = sub.add_parser(
        "range-test", help="LR range test: loss and held-out accuracy while the LR rises",
        description="Raise the LR every mini-batch from --start-lr to --end-lr over --iterations (or --epochs), "
                    "record loss and held-out accuracy, and print one suggested LR per rule with how finely it "
                    "was read: Smith's base and max from accuracy, the loss minimum / 10 (fastai), the steepest "
                    "loss descent (torch-lr-finder). Without --start-lr/--end-lr: fastai's sweep, 1e-7 -> 10 "
                    "exponentially, stopped when the loss diverges. It prints its cost before it starts.",
        epilog="examples: python -m reproduce range-test --model keras_cnn --batch-size 100 --optimizer adam "
               "--plot range.png   |   Smith's linear test (claim C2): --model cifar10_full --batch-size 100 "
               "--wd 0.004 --augment none --normalize mean_image --iterations 4000 --start-lr 0 --end-lr 0.02")
    _common(r, out_default="runs")
    r.add_argument("--momentum", type=float, nargs=1, help="SGD momentum (default 0.9)")
    r.add_argument("--start-lr", type=float, help="first LR (default 1e-7, with --end-lr 10: fastai's sweep)")
    r.add_argument("--end-lr", type=float, help="last LR (default 10)")
    r.add_argument("--mode", choices=RANGE_MODES,
                   help="how the LR rises (default: exp for the default sweep, linear - Smith's - when you give bounds)")
    r.add_argument("--eval-every", type=int, help=f"held-out accuracy every N iterations (default: {RANGE_READINGS} "
                   "readings in all)")
    r.add_argument("--eval-images", type=int, help=f"held-out images per reading (default {RANGE_EVAL_IMAGES:,}; "
                   "more images, finer accuracy, longer test)")
    r.add_argument("--diverge", type=float, default=4.0, help="stop when smoothed loss > this x its minimum")
    r.add_argument("--plot", help="save the range-test figure here")
    r.add_argument("--json", action="store_true", help="print the run's whole summary as JSON instead")
    r.set_defaults(func=cmd_range_test)
