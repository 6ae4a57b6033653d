"""The range test on a problem whose divergence point is known, and against torch-lr-finder."""

import copy

import pytest
import torch
from torch import nn

from reproduce.range_test import lr_range_test


def _least_squares(seed=0, n=256, d=10):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.3, 2, d, dtype=torch.float64)
    y = x @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    # MSE loss mean((xw - y)^2) has Hessian 2 x^T x / n; full-batch GD diverges for lr > 2 / lambda_max
    lam = torch.linalg.eigvalsh(2 * x.T @ x / n).max().item()
    model = nn.Linear(d, 1, bias=False).double()
    nn.init.zeros_(model.weight)
    return model, [(x, y)], 2 / lam


@pytest.mark.parametrize("mode,start_frac,stop_max", [("linear", 0.0, 2.0), ("exp", 0.01, 3.0)])
def test_stops_after_known_divergence_and_suggests_below(mode, start_frac, stop_max):
    model, batches, crit = _least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.123)
    before = copy.deepcopy(model.state_dict())
    r = lr_range_test(model, opt, nn.MSELoss(), batches, start_lr=start_frac * crit, end_lr=3 * crit,
                      num_iter=400, mode=mode, progress=False)
    assert r.stopped_early
    assert crit < r.stop_lr < stop_max * crit  # never before the true divergence point, soon after
    h = r.history
    assert (h["lr"].diff().dropna() > 0).all()
    # loss falls while lr < crit, and the rules land below the divergence point
    assert h.loc[h["lr"] < 0.9 * crit, "smoothed_loss"].is_monotonic_decreasing
    assert 0.02 * crit < r.suggestions["loss_min_div10"] < crit
    assert r.suggestions["steepest"] < crit
    # the model and optimizer are as they were
    assert torch.equal(model.weight, before["weight"])
    assert opt.param_groups[0]["lr"] == 0.123


@pytest.mark.parametrize("mode", ["linear", "exp"])
def test_reading_the_losses_in_batches_gives_the_per_step_history_and_stop(mode):
    """The losses are read every ``sync_every`` steps (one host sync each), not every step: the rows,
    the accuracy readings and the stop must be those of a per-step read, though the stop now falls
    inside a read (the divergence point is known here) and accuracy is read every 11 steps."""
    out = []
    for sync_every in (1, 13, 50):
        model, batches, crit = _least_squares()
        x, y = batches[0]
        w0 = model.weight.detach().clone()
        opt = torch.optim.SGD(model.parameters(), lr=0.123)
        r = lr_range_test(model, opt, nn.MSELoss(), batches, start_lr=1e-3 * crit, end_lr=3 * crit, num_iter=400,
                          mode=mode, eval_fn=lambda m, x=x, y=y: -nn.functional.mse_loss(m(x), y).item(), eval_every=11,
                          progress=False, sync_every=sync_every)
        assert r.stopped_early and torch.equal(model.weight, w0) and opt.param_groups[0]["lr"] == 0.123
        out.append(r)
    first = out[0]
    assert first.history["iteration"].iloc[-1] % 11 != 0  # the stop is not at a reading: it falls inside a read
    for r in out[1:]:
        assert r.history.equals(first.history) and r.stop_lr == first.stop_lr and r.suggestions == first.suggestions


def test_restores_state_on_exception():
    model, batches, crit = _least_squares()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    w = model.weight.detach().clone()

    def boom(m):
        raise RuntimeError("eval failed")

    with pytest.raises(RuntimeError, match="eval failed"):
        lr_range_test(model, opt, nn.MSELoss(), batches, start_lr=0.0, end_lr=crit, num_iter=20,
                      eval_fn=boom, eval_every=5, progress=False)
    assert torch.equal(model.weight, w) and opt.param_groups[0]["lr"] == 0.5 and not opt.state


def _classification(seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 8, generator=g) * 2
    y = torch.randint(0, 4, (512,), generator=g)
    x = centers[y] + torch.randn(512, 8, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    return model, x, y


def test_accuracy_read_smith_bounds():
    model, x, y = _classification()
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 384, 64)]
    xv, yv = x[384:], y[384:]

    def acc(m):
        return (m(xv).argmax(1) == yv).float().mean().item()

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    r = lr_range_test(model, opt, nn.CrossEntropyLoss(), batches, start_lr=1e-4, end_lr=20.0, num_iter=150,
                      mode="exp", eval_fn=acc, eval_every=5, progress=False)
    a = r.history.dropna(subset=["accuracy"])
    assert a["accuracy"].max() > 0.8 > a["accuracy"].iloc[0]
    s = r.suggestions
    assert s["smith_base"] is not None and s["smith_base"] < s["smith_max"]
    ax = r.plot(paper=(1e-3, 1e-2, "some paper"))
    assert ax.get_xscale() == "log"
    # the paper's bounds are shaded across exactly their LR range and named in the legend
    (band,) = ax.patches
    assert band.get_x() == pytest.approx(1e-3) and band.get_x() + band.get_width() == pytest.approx(1e-2)
    legend = [t.get_text() for a in ax.figure.axes if a.get_legend() for t in a.get_legend().get_texts()]
    assert "some paper: 0.001-0.01" in legend and f"Smith's base (accuracy 10 % up its rise): {s['smith_base']:.3g}" in legend


def test_matches_torch_lr_finder():
    """Same model, data order and exponential schedule: torch-lr-finder records the same LRs and
    the same smoothed losses, and stops at the same iteration."""
    torch_lr_finder = pytest.importorskip("torch_lr_finder")
    model, x, y = _classification(1)
    ds = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=False)
    m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
    o1 = torch.optim.SGD(m1.parameters(), lr=1e-4, momentum=0.9)
    o2 = torch.optim.SGD(m2.parameters(), lr=1e-4, momentum=0.9)
    finder = torch_lr_finder.LRFinder(m1, o1, nn.CrossEntropyLoss(), device="cpu")
    finder.range_test(loader, start_lr=1e-4, end_lr=50, num_iter=120, step_mode="exp", smooth_f=0.05, diverge_th=5)
    ours = lr_range_test(m2, o2, nn.CrossEntropyLoss(), loader, start_lr=1e-4, end_lr=50, num_iter=120,
                         mode="exp", smooth=0.05, diverge=5, progress=False)
    theirs_lr, theirs_loss = finder.history["lr"], finder.history["loss"]
    assert len(theirs_lr) == len(ours.history)
    assert ours.history["lr"].tolist() == pytest.approx(theirs_lr, rel=1e-12)
    assert ours.history["smoothed_loss"].tolist() == pytest.approx(theirs_loss, rel=1e-6)


@pytest.mark.parametrize("kw,name", [
    (dict(mode="cosine"), "mode"), (dict(num_iter=1), "num_iter"), (dict(end_lr=1e-5), "end_lr"),
    (dict(smooth=1.0), "smooth"), (dict(diverge=0.5), "diverge"), (dict(sync_every=0), "sync_every"),
])
def test_bad_arguments(kw, name):
    model, batches, _ = _least_squares()
    args = dict(start_lr=1e-4, end_lr=1.0, num_iter=10) | kw
    with pytest.raises(ValueError, match=name):
        lr_range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(), batches, progress=False, **args)
