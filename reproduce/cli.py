"""``python -m reproduce <command>``: schedules, stepsizes, range tests and training runs.

Every command turns a bad parameter into one line on stderr and exit status 2. Option choices
come from the modules that own them (``train.OPTIMIZERS``, ``data.AUGMENTS``...). The command
modules import the work of a command inside it, on purpose: a GPU machine running ``run-study``
never loads what only the claims need (scipy, which it lacks).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from collections.abc import Sequence

from . import schedules, stepsize, study_cli, train_cli
from .schedule_args import add_schedule_args, schedule_from_args

PLOT_LIMIT = 10_000_000  # a plot of more points is neither readable nor drawable in memory


def cmd_schedule(a: argparse.Namespace) -> int:
    if a.iterations < 0:
        raise ValueError(f"iterations={a.iterations} is invalid: expected an integer >= 0")
    if a.plot and a.iterations > PLOT_LIMIT:
        raise ValueError(f"iterations={a.iterations} is invalid with --plot: expected at most {PLOT_LIMIT:,}")
    s = schedule_from_args(a, a.iterations)
    rows = ((i, s.lr(i), s.momentum_at(i)) for i in range(a.iterations))  # streamed: any length, flat memory
    if a.csv == "-":
        w = csv.writer(sys.stdout)
        w.writerow(["iteration", "lr", "momentum"])
        w.writerows((i, f"{lr:.10g}", "" if m is None else f"{m:.10g}") for i, lr, m in rows)
    elif a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "lr", "momentum"])
            w.writerows(rows)
    if a.plot:
        from .plots import plot_schedule

        plot_schedule(s, a.iterations, a.plot)
    if not a.csv and not a.plot:
        print(schedule_summary(s, a.iterations))
    return 0


def schedule_summary(s: schedules.Schedule, iterations: int, points: int = 9) -> str:
    """What a person wants from a schedule at a glance: its LR range and a few sampled rows
    (the full table goes to --csv FILE, or --csv - for standard output)."""
    lines = [f"{s.policy}: {iterations:,} iterations; " + ", ".join(
        f"{k} {v}" for k, v in s.to_dict().items() if k not in ("policy", "stages"))]
    if iterations:
        most = 1_000_000  # a summary in about a second, whatever the length
        scan = range(iterations) if iterations <= most else range(0, iterations, iterations // most + 1)
        lo = min(scan, key=s.lr)
        hi = max(scan, key=s.lr)
        lines.append(f"lr: lowest {s.lr(lo):.6g} (iteration {lo:,}), highest {s.lr(hi):.6g} (iteration {hi:,})"
                     + ("" if len(scan) == iterations else f", read every {scan.step:,} iterations"))
        step = max(1, (iterations - 1) // (points - 1))
        its = sorted({*range(0, iterations, step), iterations - 1})
        lines.append(f"every {step:,} iterations:")
        lines.append(f"{'iteration':>10}  {'lr':>12}  momentum")
        lines += [f"{i:>10,}  {s.lr(i):>12.6g}  {'' if s.momentum_at(i) is None else f'{s.momentum_at(i):.4g}'}"
                  for i in its]
    lines.append("every row: --csv FILE (or --csv - for standard output); a figure: --plot FILE.png")
    return "\n".join(lines)


def cmd_stepsize(a: argparse.Namespace) -> int:
    if a.table:
        import pandas as pd

        df = pd.DataFrame(stepsize.paper_table())
        cols = ["setting", "batch_size", "exact", "it_per_epoch", "paper_it_per_epoch",
                "it_per_epoch_ceil", "it_per_epoch_floor", "epochs_per_step", "stepsize", "paper_stepsize"]
        print(df[cols].to_string(index=False))
        return 0
    if a.images is None or a.batch_size is None:
        raise ValueError("--images and --batch-size are required (or use --table)")
    ipe = stepsize.iterations_per_epoch(a.images, a.batch_size, a.rounding)
    print(f"iterations per epoch: {ipe}  ({a.images} / {a.batch_size} = {a.images / a.batch_size:.4f}, {a.rounding})")
    if a.epochs_per_step is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step = stepsize.stepsize(a.images, a.batch_size, a.epochs_per_step, a.rounding)
        print(f"stepsize: {step} iterations ({a.epochs_per_step} epochs; cycle = {2 * step})")
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (its usage block is 26 lines; --help has it all)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m reproduce",
        description="Reproduce Smith's cyclical learning rates and 1cycle policy.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("schedule", help="print or plot a learning-rate policy over iterations",
                       description="Print (CSV), save or plot lr and momentum for every iteration.")
    add_schedule_args(s)
    s.add_argument("--iterations", type=int, required=True, help="how many iterations (also one_cycle's total)")
    s.add_argument("--csv", help="write iteration,lr,momentum for every iteration to this file (- : standard output); "
                   "without --csv or --plot a summary is printed")
    s.add_argument("--plot", help="save a figure of the schedule (PNG/PDF)")
    s.set_defaults(func=cmd_schedule)

    z = sub.add_parser("stepsize", help="iterations per epoch and stepsize (CLR §3.3, claim C9)",
                       description="Iterations per epoch and the CLR stepsize from k epochs.")
    z.add_argument("--images", type=int, help="training images (CIFAR-10: 50000, ImageNet: 1281167)")
    z.add_argument("--batch-size", type=int, help="images per iteration (CIFAR-10 in CLR: 100; AlexNet: 256)")
    z.add_argument("--epochs-per-step", type=float, help="half a cycle in epochs (paper: 2-10)")
    z.add_argument("--rounding", choices=stepsize.ROUNDINGS, default="nearest",
                   help="nearest (the paper's quotes), ceil (partial batch kept), floor (drop_last)")
    z.add_argument("--table", action="store_true", help="the paper's CIFAR-10/AlexNet/GoogLeNet rows (claim C9)")
    z.set_defaults(func=cmd_stepsize)

    train_cli.add_commands(sub)  # train / range-test / evaluate / export-weights
    study_cli.add_commands(sub)  # run-study / study / figures / claims / sweep
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `... | head` closed the pipe: what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only or full disk, an --out that is a file: the file and the reason
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
