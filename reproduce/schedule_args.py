"""The schedule flags (``--policy --base-lr --max-lr ...``) that ``schedule`` and ``train`` share,
and the :class:`~reproduce.schedules.Schedule` they describe: the one path from a flag to a policy."""

from __future__ import annotations

import argparse

from . import schedules


def schedule_from_args(a: argparse.Namespace, iterations: int | None) -> schedules.Schedule:
    """The :class:`~reproduce.schedules.Schedule` the flags describe (``iterations``: one_cycle's total)."""
    mom = a.momentum
    if mom is not None:
        mom = mom[0] if len(mom) == 1 else tuple(mom)
    total = getattr(a, "total_iterations", None) or iterations
    return schedules.Schedule(
        policy=a.policy,
        base_lr=a.base_lr,
        max_lr=a.max_lr,
        stepsize=a.stepsize,
        gamma=a.gamma,
        decay=a.decay,
        total_iterations=total if a.policy == "one_cycle" else None,
        final_lr=a.final_lr,
        milestones=tuple(a.milestones or ()),
        momentum=mom,
        exp_range_bounds=a.exp_range_bounds,
    )


def add_schedule_args(p: argparse.ArgumentParser, required_policy: bool = True) -> None:
    """The schedule flags ``schedule`` and ``train`` share: --policy, --base-lr, --max-lr, ..."""
    g = p.add_argument_group("schedule (each policy is a closed form in reproduce/schedules.py, with its source)")
    g.add_argument("--policy", required=required_policy, default=None if required_policy else "fixed",
                   help=f"one of: {', '.join(p_ for p_ in schedules.POLICIES if p_ != 'staged')} (and staged, "
                        "several of these one after another, from a study YAML or the API: CLR's three-stage run)")
    g.add_argument("--base-lr", type=float, required=required_policy, default=None if required_policy else 0.01,
                   help="lower bound (CLR) / start (decays)")
    g.add_argument("--max-lr", type=float, help="upper bound of a cycle")
    g.add_argument("--stepsize", type=int, help="half a cycle, in iterations (see `stepsize`)")
    g.add_argument("--gamma", type=float, help="exp_range/exp factor per iteration; multistep/step_decay drop, in (0, 1]")
    g.add_argument("--decay", type=float, help="time_decay / exponential_decay constant d >= 0")
    g.add_argument("--final-lr", type=float, help="one_cycle: LR at the end of annihilation (default base/100)")
    g.add_argument("--milestones", type=int, nargs="+", help="multistep: iterations where LR *= gamma")
    g.add_argument("--momentum", type=float, nargs="+", metavar="M",
                   help="one value: constant; two (high low): cycled against the LR")
    g.add_argument("--exp-range-bounds", action="store_true",
                   help="exp_range: scale both bounds by gamma**it (the paper's words) instead of the amplitude")
