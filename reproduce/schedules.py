"""Learning-rate (and momentum) policies of Smith's papers, as closed forms first.

Every policy is a pure function of the iteration ``it`` (counted from 0), so a plot, a test
or a resumed run can ask for the value at any iteration without replaying the past.
:class:`Schedule` names a policy with its parameters (what a results file stores), and
:func:`build_scheduler` attaches it to an optimizer — through PyTorch's own ``CyclicLR``,
``OneCycleLR``, ``MultiStepLR`` and ``ExponentialLR`` where they compute the same values
(``tests/test_schedules.py`` proves it iteration by iteration), through
:class:`ClosedFormLR` otherwise.

CLR formulas (arXiv 1506.01186, section 3.1)::

    cycle = floor(1 + it / (2 * stepsize))
    x     = abs(it / stepsize - 2 * cycle + 1)
    lr    = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim import lr_scheduler as torch_sched

# ---------------------------------------------------------------- closed forms


def clr_wave(it: int, stepsize: int) -> float:
    """The triangle wave ``max(0, 1 - x)`` of CLR: 0 at base, 1 at the peak of each cycle."""
    cycle = math.floor(1 + it / (2 * stepsize))
    x = abs(it / stepsize - 2 * cycle + 1)
    return max(0.0, 1.0 - x)


def clr_cycle(it: int, stepsize: int) -> int:
    """The 1-based cycle number of CLR's formula."""
    return math.floor(1 + it / (2 * stepsize))


def triangular(it: int, base_lr: float, max_lr: float, stepsize: int) -> float:
    """CLR ``triangular``: scale = 1."""
    return base_lr + (max_lr - base_lr) * clr_wave(it, stepsize)


def triangular2(it: int, base_lr: float, max_lr: float, stepsize: int) -> float:
    """CLR ``triangular2``: scale = 1 / 2**(cycle - 1), the amplitude halves every cycle."""
    scale = 1.0 / (2.0 ** (clr_cycle(it, stepsize) - 1))
    return base_lr + (max_lr - base_lr) * clr_wave(it, stepsize) * scale


def exp_range(
    it: int, base_lr: float, max_lr: float, stepsize: int, gamma: float, bounds: bool = False
) -> float:
    """CLR ``exp_range``: scale = gamma**it.

    ``bounds=False`` (default) scales only the amplitude, base_lr fixed — the Keras reference
    and PyTorch's ``CyclicLR``. ``bounds=True`` follows the paper's words ("each boundary
    value declines by gamma^iteration"): both base and max are multiplied by gamma**it.
    """
    if bounds:
        return triangular(it, base_lr, max_lr, stepsize) * gamma**it
    return base_lr + (max_lr - base_lr) * clr_wave(it, stepsize) * gamma**it


def exp(it: int, base_lr: float, gamma: float) -> float:
    """CLR's exponential baseline: lr = base_lr * gamma**it."""
    return base_lr * gamma**it


def linear_decay(it: int, base_lr: float, max_lr: float, stepsize: int) -> float:
    """CLR Table 1 ``decay``: max_lr falling linearly to base_lr over stepsize, then held."""
    if it >= stepsize:
        return base_lr
    return max_lr + (base_lr - max_lr) * it / stepsize


def one_cycle(
    it: int, base_lr: float, max_lr: float, stepsize: int, total_iterations: int, final_lr: float
) -> float:
    """Smith's 1cycle (arXiv 1803.09820): base -> max over ``stepsize`` iterations, max -> base
    over the next ``stepsize``, then "annihilation": linear from base_lr down to ``final_lr``,
    reached at the last iteration ``total_iterations - 1`` and held after it."""
    if it <= 2 * stepsize:
        return triangular(it, base_lr, max_lr, stepsize)
    last = total_iterations - 1
    frac = min(1.0, (it - 2 * stepsize) / (last - 2 * stepsize))
    return base_lr + (final_lr - base_lr) * frac


def caffe_one_cycle(it: int, base_lr: float, max_lr: float, stepsize: int) -> float:
    """Smith's Caffe ``lr_policy: "1cycle"`` as the log of his C4 run printed it (not as DA's
    prose describes 1cycle): base -> max linearly over ``stepsize``, max -> 0 linearly over the
    next ``stepsize`` (not back to base), then base/1000 to the end of training."""
    if it <= stepsize:
        return base_lr + (max_lr - base_lr) * it / stepsize
    if it < 2 * stepsize:
        return max_lr * (2 * stepsize - it) / stepsize
    return base_lr / 1000


def multistep(it: int, base_lr: float, milestones: Sequence[int], gamma: float) -> float:
    """Piecewise constant: base_lr * gamma**(number of milestones <= it). CLR's "fixed"
    (0.001, x0.1 at 60k and 65k) and He et al.'s ResNet schedule (0.1, x0.1 at 32k, 48k)."""
    return base_lr * gamma ** sum(1 for m in milestones if m <= it)


def step_decay(it: int, base_lr: float, drop: float, every: int) -> float:
    """Lecture seed's step decay: lr_n = lr_0 * d**floor((1 + n) / r)."""
    return base_lr * drop ** math.floor((1 + it) / every)


def time_decay(it: int, base_lr: float, decay: float) -> float:
    """Lecture seed's time-based decay, lr_{n+1} = lr_n / (1 + d*n), in closed form:
    lr_n = lr_0 / prod_{k<n}(1 + d k) = lr_0 / (d**n * Gamma(n + 1/d) / Gamma(1/d)).
    For a tiny ``d`` the Gamma ratio cancels catastrophically (d = 1e-15 gave 5.46 for 0.1), so
    while ``d * n`` is small the log of the product is its series, sum of log1p(d k) for k < n:
    d S1 - d**2 S2 / 2 + d**3 S3 / 3 with S_j = sum k**j (the next term is below 1e-12 of it)."""
    if decay == 0 or it <= 1:
        return base_lr
    n = it - 1  # k = 1 .. n (k = 0 contributes log1p(0))
    if decay * n <= 1e-3:
        s1, s2, s3 = n * (n + 1) / 2, n * (n + 1) * (2 * n + 1) / 6, (n * (n + 1) / 2) ** 2
        log_prod = decay * s1 - decay**2 * s2 / 2 + decay**3 * s3 / 3
    else:
        log_prod = it * math.log(decay) + math.lgamma(it + 1 / decay) - math.lgamma(1 / decay)
    return base_lr * math.exp(-log_prod)


def exponential_decay(it: int, base_lr: float, decay: float) -> float:
    """Lecture seed's exponential decay: lr_n = lr_0 * e**(-d n)."""
    return base_lr * math.exp(-decay * it)


# ---------------------------------------------------------------- the spec

@dataclass(frozen=True)
class Policy:
    """One entry of the registry: the parameters a policy needs, its LR as a closed form of the
    iteration, and — for policies whose momentum may cycle — the 0..1 wave momentum mirrors
    (``momentum_cycles``: how many cycles it mirrors before holding ``high``, 1cycle's 1)."""

    required: tuple[str, ...]
    lr: Callable[[Schedule, int], float]
    wave: Callable[[Schedule, int], float] | None = None
    momentum_cycles: float = math.inf


def _clr(s: Schedule, it: int) -> float:
    return clr_wave(it, s.stepsize)


# A new policy is one entry here (and its closed form above).
POLICY: dict[str, Policy] = {
    "fixed": Policy((), lambda s, it: s.base_lr),
    "multistep": Policy(("gamma",), lambda s, it: multistep(it, s.base_lr, s.milestones, s.gamma)),
    "triangular": Policy(("max_lr", "stepsize"), lambda s, it: triangular(it, s.base_lr, s.max_lr, s.stepsize), _clr),
    "triangular2": Policy(("max_lr", "stepsize"), lambda s, it: triangular2(it, s.base_lr, s.max_lr, s.stepsize),
                          lambda s, it: clr_wave(it, s.stepsize) / 2.0 ** (clr_cycle(it, s.stepsize) - 1)),
    "exp_range": Policy(("max_lr", "stepsize", "gamma"),
                        lambda s, it: exp_range(it, s.base_lr, s.max_lr, s.stepsize, s.gamma, s.exp_range_bounds),
                        lambda s, it: clr_wave(it, s.stepsize) * s.gamma**it),
    "exp": Policy(("gamma",), lambda s, it: exp(it, s.base_lr, s.gamma)),
    "decay": Policy(("max_lr", "stepsize"), lambda s, it: linear_decay(it, s.base_lr, s.max_lr, s.stepsize)),
    "one_cycle": Policy(("max_lr", "stepsize", "total_iterations"),
                        lambda s, it: one_cycle(it, s.base_lr, s.max_lr, s.stepsize, s.total_iterations, s.final_lr),
                        _clr, momentum_cycles=1),
    "caffe_1cycle": Policy(("max_lr", "stepsize"), lambda s, it: caffe_one_cycle(it, s.base_lr, s.max_lr, s.stepsize),
                           _clr, momentum_cycles=1),
    "step_decay": Policy(("gamma", "stepsize"), lambda s, it: step_decay(it, s.base_lr, s.gamma, s.stepsize)),
    "time_decay": Policy(("decay",), lambda s, it: time_decay(it, s.base_lr, s.decay)),
    "exponential_decay": Policy(("decay",), lambda s, it: exponential_decay(it, s.base_lr, s.decay)),
    "staged": Policy(("stages",), lambda s, it: s.in_stage(it).lr(it - s.stage_start(it))),
}
POLICIES = tuple(POLICY)
CYCLIC = ("triangular", "triangular2", "exp_range")


def _bad(name: str, value: Any, accepted: str) -> ValueError:
    return ValueError(f"{name}={value!r} is invalid: expected {accepted}")


@dataclass(frozen=True)
class Schedule:
    """One policy with its parameters; ``lr(it)`` and ``momentum(it)`` give its values.

    ``momentum``: ``None`` leaves the optimizer's momentum alone, a float holds it constant,
    a pair ``(high, low)`` cycles it against the LR (cyclic policies and 1cycle only).
    ``one_cycle`` defaults: ``stepsize`` = 41/95 of ``total_iterations`` (Smith's 41 + 41 + 13
    epochs), ``final_lr`` = base_lr / 100.
    ``stages``: for ``staged``, ``((start_iteration, Schedule), ...)``; each stage sees the
    iteration counted from its own start (CLR's three-stage triangular2 run of Table 2).
    """

    policy: str
    base_lr: float
    max_lr: float | None = None
    stepsize: int | None = None
    gamma: float | None = None
    decay: float | None = None
    total_iterations: int | None = None
    final_lr: float | None = None
    milestones: tuple[int, ...] = ()
    momentum: float | tuple[float, float] | None = None
    exp_range_bounds: bool = False
    stages: tuple[tuple[int, Schedule], ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.milestones, int | float | str) or not all(
                isinstance(m, int | float) and not isinstance(m, bool) for m in self.milestones):
            raise _bad("milestones", self.milestones, "a list of iterations, e.g. [32000, 48000]")
        if isinstance(self.momentum, bool) or (self.momentum is not None and not isinstance(
                self.momentum, int | float | list | tuple)):
            raise _bad("momentum", self.momentum, "a number, or a pair (high, low)")
        if isinstance(self.momentum, list | tuple) and not all(
                isinstance(m, int | float) and not isinstance(m, bool) for m in self.momentum):
            raise _bad("momentum", self.momentum, "a pair of numbers (high, low)")
        if isinstance(self.momentum, list):
            object.__setattr__(self, "momentum", tuple(self.momentum))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        stages = tuple(
            (int(s), st if isinstance(st, Schedule) else Schedule.from_dict(st)) for s, st in self.stages
        )
        object.__setattr__(self, "stages", stages)
        if self.policy == "one_cycle" and self.final_lr is None:
            object.__setattr__(self, "final_lr", self.base_lr / 100)
        if self.policy == "one_cycle" and self.stepsize is None and isinstance(self.total_iterations, int):
            # Smith's proportion: 41 epochs up, 41 down, 13 annihilating of 95 (DA, claim C4)
            object.__setattr__(self, "stepsize", max(1, round(self.total_iterations * 41 / 95)))
        self.validate()

    # -- validation: every message names the parameter, the value and what is accepted
    def validate(self) -> None:
        for name in ("base_lr", "max_lr", "gamma", "decay", "final_lr"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise _bad(name, v, "a number")
        for name in ("stepsize", "total_iterations"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise _bad(name, v, "an integer")
        if not isinstance(self.policy, str) or self.policy not in POLICIES:
            raise _bad("policy", self.policy, f"one of {', '.join(POLICIES)}")
        for name in POLICY[self.policy].required:
            if getattr(self, name) in (None, ()):
                raise ValueError(f"policy {self.policy!r} needs {name}")
        if self.policy != "staged" and not (math.isfinite(self.base_lr) and self.base_lr >= 0):
            raise _bad("base_lr", self.base_lr, "a finite number >= 0")
        if self.max_lr is not None and not (
            math.isfinite(self.max_lr) and self.max_lr >= self.base_lr
        ):
            raise _bad("max_lr", self.max_lr, f"a finite number >= base_lr ({self.base_lr})")
        if self.stepsize is not None and not (isinstance(self.stepsize, int) and self.stepsize > 0):
            raise _bad("stepsize", self.stepsize, "an integer > 0")
        if self.gamma is not None and not (0 < self.gamma <= 1):
            raise _bad("gamma", self.gamma, "a number in (0, 1]")
        if self.decay is not None and not (math.isfinite(self.decay) and self.decay >= 0):
            raise _bad("decay", self.decay, "a finite number >= 0")
        if self.policy == "one_cycle":
            t, s = self.total_iterations, self.stepsize
            if not (isinstance(t, int) and t >= 2 * s + 2):
                raise _bad(
                    "total_iterations", t, f"an integer >= 2 * stepsize + 2 = {2 * s + 2} (one cycle plus annihilation)"
                )
            if not (0 <= self.final_lr <= self.base_lr):
                raise _bad("final_lr", self.final_lr, f"a number in [0, base_lr = {self.base_lr}]")
            if self.base_lr <= 0:
                raise _bad("base_lr", self.base_lr, "a number > 0 for one_cycle (it starts there and max_lr / base_lr "
                           "is its warm-up factor)")
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])) or any(
            m < 0 for m in self.milestones
        ):
            raise _bad("milestones", self.milestones, "increasing integers >= 0")
        if self.momentum is not None:
            m = self.momentum
            if isinstance(m, tuple):
                if len(m) != 2 or not (0 <= m[1] <= m[0] < 1):
                    raise _bad("momentum", m, "a pair (high, low) with 0 <= low <= high < 1")
                if POLICY[self.policy].wave is None:
                    raise _bad(
                        "momentum", m, f"a single number for policy {self.policy!r} (cycling needs a cyclic policy or one_cycle)"
                    )
            elif not (0 <= m < 1):
                raise _bad("momentum", m, "a number in [0, 1)")
        if self.policy == "staged":
            starts = [s for s, _ in self.stages]
            if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
                raise _bad("stages", starts, "start iterations beginning at 0, increasing")

    # -- values
    def lr(self, it: int) -> float:
        """The learning rate at iteration ``it`` (>= 0)."""
        if it < 0:
            raise _bad("iteration", it, "an integer >= 0")
        return POLICY[self.policy].lr(self, it)

    def momentum_at(self, it: int) -> float | None:
        """The momentum (SGD) or beta1 (Adam) at ``it``; ``None`` when the schedule leaves it.
        A pair (high, low) mirrors the policy's wave: high - (high - low) * wave."""
        m = self.momentum
        if self.policy == "staged":
            return self.in_stage(it).momentum_at(it - self.stage_start(it))
        if m is None or not isinstance(m, tuple):
            return m
        high, low = m
        policy = POLICY[self.policy]
        if it >= 2 * self.stepsize * policy.momentum_cycles:
            return high
        return high - (high - low) * policy.wave(self, it)

    def _stage(self, it: int) -> tuple[int, Schedule]:
        chosen = self.stages[0]
        for start, stage in self.stages:
            if start <= it:
                chosen = (start, stage)
        return chosen

    def stage_start(self, it: int) -> int:
        """``staged``: the iteration the stage holding ``it`` starts at."""
        return self._stage(it)[0]

    def in_stage(self, it: int) -> Schedule:
        """``staged``: the schedule of the stage holding ``it`` (it counts from its own start)."""
        return self._stage(it)[1]

    def table(self, iterations: int) -> list[tuple[int, float, float | None]]:
        """(iteration, lr, momentum) for it = 0 .. iterations-1, for plots and the CLI."""
        if iterations < 0:
            raise _bad("iterations", iterations, "an integer >= 0")
        return [(i, self.lr(i), self.momentum_at(i)) for i in range(iterations)]

    # -- storage
    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "stages":
                v = [[s, st.to_dict()] for s, st in v]
            elif isinstance(v, tuple):
                v = list(v)
            if v not in (None, [], ()) and not (f.name == "exp_range_bounds" and v is False):
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schedule:
        if not isinstance(d, dict) or "policy" not in d or "base_lr" not in d:
            raise _bad("schedule", d, "a mapping with at least policy and base_lr")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown schedule parameter(s) {sorted(unknown)}: expected some of {sorted(known)}")
        return cls(**d)


# ---------------------------------------------------------------- optimizer side


def set_momentum(optimizer: Optimizer, value: float) -> None:
    """Set SGD's ``momentum`` or Adam/AdamW's ``beta1`` in every parameter group."""
    for group in optimizer.param_groups:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = value
        else:
            raise ValueError(f"optimizer {type(optimizer).__name__} has neither momentum nor betas to cycle")


class ClosedFormLR(torch_sched.LRScheduler):
    """Sets every group's LR (and momentum/beta1) to ``schedule`` at ``last_epoch``.

    Used for the policies PyTorch has no scheduler for (CLR's ``decay``, ``exp_range`` with
    declining bounds, the lecture decays, staged schedules). ``last_epoch`` counts optimizer
    steps, so ``state_dict()`` (which holds it and the schedule) is all a resume needs.
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule, last_epoch: int = -1) -> None:
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        it = max(self.last_epoch, 0)
        m = self.schedule.momentum_at(it)
        if m is not None:
            set_momentum(self.optimizer, m)
        return [self.schedule.lr(it) for _ in self.optimizer.param_groups]


def build_scheduler(optimizer: Optimizer, schedule: Schedule) -> torch_sched.LRScheduler:
    """An LR scheduler that puts ``schedule.lr(it)`` into ``optimizer`` after ``it`` steps.

    Call ``scheduler.step()`` after every ``optimizer.step()``. PyTorch's schedulers are
    used where they give the same values (within 1e-12, tested); the rest is
    :class:`ClosedFormLR`.
    """
    s = schedule
    cycled = isinstance(s.momentum, tuple)
    if isinstance(s.momentum, float | int) and s.momentum is not None:
        set_momentum(optimizer, float(s.momentum))
    for group in optimizer.param_groups:
        group["lr"] = s.lr(0)
        group.pop("initial_lr", None)
    high, low = s.momentum if cycled else (0.9, 0.8)
    if s.policy in CYCLIC and not (s.policy == "exp_range" and s.exp_range_bounds):
        return torch_sched.CyclicLR(
            optimizer,
            base_lr=s.base_lr,
            max_lr=s.max_lr,
            step_size_up=s.stepsize,
            mode=s.policy,
            gamma=s.gamma if s.gamma is not None else 1.0,
            cycle_momentum=cycled,
            base_momentum=low,
            max_momentum=high,
        )
    if s.policy == "one_cycle":
        t = s.total_iterations
        # OneCycleLR ends phase 1 at pct_start*total - 1 and phase 2 at 2*pct_start*total - 2;
        # this pct_start puts them at stepsize and 2*stepsize, phase 3 ending at total - 1.
        return torch_sched.OneCycleLR(
            optimizer,
            max_lr=s.max_lr,
            total_steps=t,
            pct_start=(s.stepsize + 1) / t,
            anneal_strategy="linear",
            cycle_momentum=cycled,
            base_momentum=low,
            max_momentum=high,
            div_factor=s.max_lr / s.base_lr,
            final_div_factor=s.base_lr / s.final_lr if s.final_lr > 0 else float("inf"),
            three_phase=True,
        )
    if s.policy in ("fixed", "multistep"):
        return torch_sched.MultiStepLR(optimizer, milestones=list(s.milestones), gamma=s.gamma or 1.0)
    if s.policy == "exp":
        return torch_sched.ExponentialLR(optimizer, gamma=s.gamma)
    return ClosedFormLR(optimizer, s)


def lr_values(schedule: Schedule, iterations: int) -> torch.Tensor:
    """The LR for it = 0 .. iterations-1 as a float64 tensor (plots, tests)."""
    return torch.tensor([schedule.lr(i) for i in range(iterations)], dtype=torch.float64)
