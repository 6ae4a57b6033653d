"""Schedules against the papers' formulas and against PyTorch's own schedulers."""

import math
from pathlib import Path

import pytest
import torch

from reproduce import schedules as S
from reproduce.schedules import Schedule, build_scheduler


def _clr_reference(it, base, mx, step, scale_fn):
    # CLR §3.1, written out as in the paper's listing
    cycle = math.floor(1 + it / (2 * step))
    x = abs(it / step - 2 * cycle + 1)
    return base + (mx - base) * max(0, 1 - x) * scale_fn(cycle, it)


@pytest.mark.parametrize("it", [0, 1, 999, 1000, 1999, 2000, 2001, 3999, 4000, 4001, 6000, 9999])
def test_clr_formulas_match_paper(it):
    b, m, s = 0.001, 0.006, 2000
    assert S.triangular(it, b, m, s) == pytest.approx(_clr_reference(it, b, m, s, lambda c, i: 1.0), abs=1e-15)
    assert S.triangular2(it, b, m, s) == pytest.approx(
        _clr_reference(it, b, m, s, lambda c, i: 1 / 2 ** (c - 1)), abs=1e-15
    )
    g = 0.99994
    assert S.exp_range(it, b, m, s, g) == pytest.approx(_clr_reference(it, b, m, s, lambda c, i: g**i), abs=1e-15)


def test_triangular_landmarks():
    # base at the start of every cycle, max at every half cycle, amplitude halving for triangular2
    b, m, s = 0.001, 0.006, 2000
    assert S.triangular(0, b, m, s) == b
    assert S.triangular(2000, b, m, s) == pytest.approx(m)
    assert S.triangular(4000, b, m, s) == pytest.approx(b)
    assert S.triangular(1000, b, m, s) == pytest.approx((b + m) / 2)
    assert S.triangular2(6000, b, m, s) == pytest.approx(b + (m - b) / 2)
    assert S.triangular2(10000, b, m, s) == pytest.approx(b + (m - b) / 4)


def test_exp_range_variants():
    b, m, s, g = 0.001, 0.006, 2000, 0.99994
    # amplitude only: the trough stays at base_lr
    assert S.exp_range(4000, b, m, s, g) == pytest.approx(b)
    # paper's words: both bounds decline
    assert S.exp_range(4000, b, m, s, g, bounds=True) == pytest.approx(b * g**4000)
    assert S.exp_range(2000, b, m, s, g, bounds=True) == pytest.approx(m * g**2000)


def test_clr_decay_and_exp():
    assert S.linear_decay(0, 0.001, 0.007, 4000) == 0.007
    assert S.linear_decay(2000, 0.001, 0.007, 4000) == pytest.approx(0.004)
    assert S.linear_decay(4000, 0.001, 0.007, 4000) == 0.001
    assert S.linear_decay(50000, 0.001, 0.007, 4000) == 0.001
    assert S.exp(70000, 0.001, 0.99994) == pytest.approx(0.001 * math.exp(70000 * math.log(0.99994)))


def test_one_cycle_shape_smith_c4():
    # C4: 0.08 -> 0.8 over 4,003 it, back over 4,003, annihilation to the end of 9,277 it
    s = Schedule("one_cycle", 0.08, 0.8, stepsize=4003, total_iterations=9277, final_lr=0.0008, momentum=(0.95, 0.8))
    assert s.lr(0) == pytest.approx(0.08)
    assert s.lr(4003) == pytest.approx(0.8)
    assert s.lr(8006) == pytest.approx(0.08)
    assert s.lr(9276) == pytest.approx(0.0008)
    assert s.lr(9000) < 0.08
    assert s.momentum_at(0) == pytest.approx(0.95)
    assert s.momentum_at(4003) == pytest.approx(0.8)
    assert s.momentum_at(8006) == pytest.approx(0.95)
    assert all(s.momentum_at(i) == 0.95 for i in range(8006, 9277))
    lrs = [s.lr(i) for i in range(9277)]
    assert all(a <= b for a, b in zip(lrs[:4003], lrs[1:4004]))
    assert all(a >= b for a, b in zip(lrs[4003:9276], lrs[4004:9277]))


def test_lecture_decays():
    # step: lr_n = lr_0 d^floor((1+n)/r)
    assert S.step_decay(0, 0.1, 0.5, 10) == 0.1
    assert S.step_decay(9, 0.1, 0.5, 10) == pytest.approx(0.05)
    assert S.step_decay(19, 0.1, 0.5, 10) == pytest.approx(0.025)
    # time-based: the closed form equals the lecture's recursion lr_{n+1} = lr_n / (1 + d n)
    lr, d = 0.1, 0.01
    for n in range(300):
        assert S.time_decay(n, 0.1, d) == pytest.approx(lr, rel=1e-9)
        lr = lr / (1 + d * n)
    assert S.exponential_decay(100, 0.1, 0.01) == pytest.approx(0.1 * math.exp(-1))


def test_staged_triangular2_c3():
    # CLR Table 2's three stages: 0.001-0.005 step 2000 to 16k, /10 step 1000 to 22k, /100 step 500
    s = Schedule(
        "staged",
        base_lr=0.001,
        stages=(
            (0, Schedule("triangular2", 0.001, 0.005, 2000)),
            (16000, Schedule("triangular2", 0.0001, 0.0005, 1000)),
            (22000, Schedule("triangular2", 0.00001, 0.00005, 500)),
        ),
    )
    assert s.lr(2000) == pytest.approx(0.005)
    assert s.lr(16000) == pytest.approx(0.0001)
    assert s.lr(17000) == pytest.approx(0.0005)
    assert s.lr(22500) == pytest.approx(0.00005)
    assert Schedule.from_dict(s.to_dict()) == s


def _walk(schedule, n, opt_name):
    p = torch.nn.Parameter(torch.zeros(2))
    opt = {
        "sgd": lambda: torch.optim.SGD([p], lr=0.5, momentum=0.9),
        "adam": lambda: torch.optim.Adam([p], lr=0.5),
        "adamw": lambda: torch.optim.AdamW([p], lr=0.5),
    }[opt_name]()
    sched = build_scheduler(opt, schedule)
    lrs, moms = [], []
    for _ in range(n):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["betas"][0] if "betas" in g else g["momentum"])
        p.grad = torch.ones_like(p)
        opt.step()
        sched.step()
    return sched, lrs, moms


CASES = [
    (Schedule("triangular", 0.001, 0.006, 2000), 9000, "CyclicLR"),
    (Schedule("triangular2", 0.001, 0.006, 2000, momentum=(0.95, 0.85)), 9000, "CyclicLR"),
    (Schedule("exp_range", 0.001, 0.006, 2000, gamma=0.99994), 9000, "CyclicLR"),
    (Schedule("one_cycle", 0.08, 0.8, 4003, total_iterations=9277, momentum=(0.95, 0.8)), 9277, "OneCycleLR"),
    (Schedule("multistep", 0.1, milestones=(32000, 48000), gamma=0.1), 64000, "MultiStepLR"),
    (Schedule("fixed", 0.01, momentum=0.9), 100, "MultiStepLR"),
    (Schedule("exp", 0.001, gamma=0.99994), 70000, "ExponentialLR"),
    (Schedule("exp_range", 0.001, 0.006, 2000, gamma=0.99994, exp_range_bounds=True), 6000, "ClosedFormLR"),
    (Schedule("decay", 0.001, 0.007, 4000), 6000, "ClosedFormLR"),
    (Schedule("time_decay", 0.1, decay=0.001), 500, "ClosedFormLR"),
    (Schedule("caffe_1cycle", 0.08, 0.8, 4003, momentum=(0.95, 0.8)), 9277, "ClosedFormLR"),
]


@pytest.mark.parametrize("schedule,n,cls", CASES, ids=lambda v: getattr(v, "policy", str(v)))
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_optimizer_sees_closed_form(schedule, n, cls, opt_name):
    """PyTorch's schedulers (where used) give the closed form iteration by iteration, 1e-12."""
    sched, lrs, moms = _walk(schedule, n, opt_name)
    assert type(sched).__name__ == cls
    for i in range(n):
        assert abs(lrs[i] - schedule.lr(i)) <= 1e-12, (i, lrs[i], schedule.lr(i))
        m = schedule.momentum_at(i)
        if m is not None:
            assert abs(moms[i] - m) <= 1e-12, (i, moms[i], m)


def test_momentum_cycles_adamw_beta1():
    s = Schedule("one_cycle", 0.1, 1.0, 10, total_iterations=25, momentum=(0.95, 0.85))
    _, _, moms = _walk(s, 25, "adamw")
    assert moms[0] == pytest.approx(0.95) and moms[10] == pytest.approx(0.85) and moms[24] == pytest.approx(0.95)


@pytest.mark.parametrize("schedule,n,cls", CASES[:5] + CASES[7:8], ids=lambda v: getattr(v, "policy", str(v)))
def test_state_dict_round_trip(schedule, n, cls):
    """A scheduler restored from state_dict continues with the same values."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = build_scheduler(opt, schedule)
    half = min(n // 2, 3000)
    for _ in range(half):
        opt.step()
        sched.step()
    state = sched.state_dict()
    p2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = torch.optim.SGD([p2], lr=0.1, momentum=0.9)
    sched2 = build_scheduler(opt2, schedule)
    sched2.load_state_dict(state)
    opt2.load_state_dict(opt.state_dict())
    for i in range(half, half + 50):
        assert opt2.param_groups[0]["lr"] == pytest.approx(schedule.lr(i), abs=1e-12)
        opt.step(), sched.step(), opt2.step(), sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


@pytest.mark.parametrize(
    "kwargs,param",
    [
        (dict(policy="triangular", base_lr=0.01, max_lr=0.001, stepsize=10), "max_lr"),
        (dict(policy="triangular", base_lr=0.001, max_lr=0.01, stepsize=0), "stepsize"),
        (dict(policy="triangular", base_lr=0.001, max_lr=0.01, stepsize=-5), "stepsize"),
        (dict(policy="exp_range", base_lr=0.001, max_lr=0.01, stepsize=10, gamma=1.5), "gamma"),
        (dict(policy="exp_range", base_lr=0.001, max_lr=0.01, stepsize=10, gamma=0.0), "gamma"),
        (dict(policy="cosine", base_lr=0.1), "policy"),
        (dict(policy="one_cycle", base_lr=0.1, max_lr=1.0, stepsize=10, total_iterations=15), "total_iterations"),
        (dict(policy="decay", base_lr=0.1, max_lr=1.0, stepsize=10, momentum=(0.95, 0.85)), "momentum"),
        (dict(policy="fixed", base_lr=-1.0), "base_lr"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, param):
    with pytest.raises(ValueError, match=param):
        Schedule(**kwargs)


def test_negative_iterations_rejected():
    with pytest.raises(ValueError, match="iterations"):
        Schedule("fixed", 0.1).table(-1)


def test_one_cycle_defaults_follow_smith():
    s = Schedule("one_cycle", 0.08, 0.8, total_iterations=9277)
    assert s.stepsize == 4004 and s.final_lr == pytest.approx(0.0008)  # 41/95 of 9,277; base/100


def test_caffe_1cycle_replays_every_lr_and_momentum_of_smiths_c4_log(tmp_path):
    """The CLI's CSV against the LR and momentum Smith's Caffe solver printed in the C4 run's log
    (experiments/reference/, with its source): base -> max, max -> 0, then base/1000."""
    import csv

    from reproduce.cli import main

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "c.csv"
    assert main(["schedule", "--policy", "caffe_1cycle", "--base-lr", "0.08", "--max-lr", "0.8", "--stepsize", "4003",
                 "--iterations", "9277", "--momentum", "0.95", "--csv", str(out)]) == 0
    ours = {int(r["iteration"]): r for r in csv.DictReader(out.open())}
    log = list(csv.DictReader((root / "experiments/reference/smith_resnet56_1cycle_bs512.csv").open()))
    assert len(log) >= 40 and len(ours) == 9277
    for row in log:
        it = int(row["iteration"])
        # 6 printed digits, and Caffe's float32 arithmetic: 1 - 3997/4003 in float32 is off by ~6e-8 (times max_lr)
        assert float(ours[it]["lr"]) == pytest.approx(float(row["lr"]), rel=1e-5, abs=1e-7), it
        assert float(ours[it]["momentum"]) == float(row["momentum"]), it
    assert {float(r["lr"]) for r in log if int(r["iteration"]) > 8006} == {8e-05}  # the held tail


def test_caffe_1cycle_cycles_momentum_only_when_given_two_values():
    s = Schedule("caffe_1cycle", 0.08, max_lr=0.8, stepsize=100, momentum=(0.95, 0.85))
    assert [s.momentum_at(i) for i in (0, 50, 100, 150, 200, 300)] == pytest.approx([0.95, 0.9, 0.85, 0.9, 0.95, 0.95])
    assert Schedule("caffe_1cycle", 0.08, max_lr=0.8, stepsize=100, momentum=0.95).momentum_at(100) == 0.95
    assert [s.lr(i) for i in (0, 100, 150, 199, 200, 5000)] == pytest.approx([0.08, 0.8, 0.4, 0.008, 8e-05, 8e-05])
