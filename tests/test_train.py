"""The engine: it learns, resumes exactly after SIGKILL/SIGTERM, caches, survives divergence."""

import os
import signal
import subprocess
import sys
import time

import pytest

from reproduce.readings import verdicts
from reproduce.results import RunDir, find_runs, summaries
from reproduce.train import TrainConfig, train

SCHED = {"policy": "triangular", "base_lr": 0.002, "max_lr": 0.02, "stepsize": 50, "momentum": 0.9}


def _cfg(**kw):
    base = dict(model="keras_cnn", data="synthetic:1024", iterations=200, batch_size=32, eval_every=50,
                schedule=SCHED, augment="flip", experiment="unit", progress=False, weight_decay=5e-4)
    return TrainConfig(**(base | kw))


def test_learns_well_above_chance(tmp_path):
    run = train(_cfg(), tmp_path)
    s = run.summary
    assert s["status"] == "finished" and s["iterations_done"] == 200
    assert s["test_accuracy"] > 0.6  # chance is 0.1
    ev = run.evals()
    assert list(ev["iteration"]) == [50, 100, 150, 200]
    tr = run.metrics.query("kind == 'train'")
    assert tr["train_loss"].iloc[-1] < tr["train_loss"].iloc[0]
    assert tr["lr"].max() == pytest.approx(0.02, rel=0.05)
    for key in ("git", "command", "versions", "device_name", "data", "seed"):
        assert key in run.provenance
    assert run.provenance["data"]["train"]["sha256"]
    # the final evaluation's verdict on each test image is kept (every synthetic image is exact: one field)
    right = verdicts(s).all
    assert len(right) == s["test_n_all"] and right.mean() == pytest.approx(s["test_accuracy_all"])
    assert "test_exact_correct_bits" not in s
    assert sorted(p.name for p in run.path.iterdir()) == [  # the checkpoint goes, the metrics are gzipped
        "config.json", "metrics.jsonl.gz", "provenance.json", "summary.json"]


def test_cache_hit_and_force(tmp_path):
    first = train(_cfg(iterations=20, eval_every=10), tmp_path)
    mtime = os.path.getmtime(first.path / "summary.json")
    again = train(_cfg(iterations=20, eval_every=10, device="cpu", checkpoint_every=7), tmp_path)  # non-semantic change
    assert again.path == first.path and os.path.getmtime(again.path / "summary.json") == mtime
    other = train(_cfg(iterations=20, eval_every=10, seed=1), tmp_path)
    assert other.path != first.path
    forced = train(_cfg(iterations=20, eval_every=10), tmp_path, force=True)
    assert os.path.getmtime(forced.path / "summary.json") > mtime
    df = summaries(find_runs(tmp_path, "unit"))
    assert len(df) == 2 and set(df["seed"]) == {0, 1}
    # the run says how long its loop took to its first logged window (what a compile costs, for run-study)
    assert 0 < first.summary["startup_s"] <= first.summary["wall_time_s"]


def test_divergence_ends_cleanly(tmp_path):
    run = train(_cfg(schedule={"policy": "fixed", "base_lr": 1e4}, iterations=60, eval_every=20), tmp_path)
    assert run.summary["status"] == "diverged" and "test_correct_bits" not in run.summary
    assert run.summary["diverged_at_iteration"] <= 60 and run.summary["diverged_at_lr"] == 1e4


CMD = [sys.executable, "-m", "reproduce", "train", "--model", "keras_cnn", "--data", "synthetic:1024",
       "--iterations", "300", "--batch-size", "32", "--policy", "one_cycle", "--base-lr", "0.002", "--max-lr", "0.02",
       "--stepsize", "120", "--momentum", "0.95", "0.85", "--eval-every", "50", "--checkpoint-every", "10",
       "--log-every", "7", "--augment", "crop_flip", "--experiment", "kill", "--no-progress", "--seed", "3"]
ENV = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _rows(out):
    (run,) = find_runs(out, "kill")
    return RunDir(run.path).rows(), run


def _interrupt(out, sig):
    p = subprocess.Popen(CMD + ["--out", str(out)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("kill/*/checkpoint.pt")):
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(sig)
    p.wait(60)
    assert not list(out.glob("kill/*/summary.json")), "the run finished before it was interrupted"
    return p.returncode


@pytest.mark.parametrize("sig,code", [(signal.SIGKILL, -9), (signal.SIGTERM, 130)])
def test_interrupted_run_resumes_to_identical_metrics(tmp_path, sig, code):
    ref = tmp_path / "ref"
    subprocess.run(CMD + ["--out", str(ref)], env=ENV, check=True, capture_output=True)
    expected, ref_run = _rows(ref)
    out = tmp_path / "cut"
    assert _interrupt(out, sig) == code
    r = subprocess.run(CMD + ["--out", str(out), "--resume"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got, run = _rows(out)
    assert got == expected  # every logged loss, lr, momentum and accuracy, bit for bit
    for k in ("test_accuracy", "test_loss", "best_test_accuracy", "iterations_done", "test_correct_bits"):
        assert run.summary[k] == ref_run.summary[k]
    assert not (run.path / "checkpoint.pt").exists()
    # the provenance keeps both stretches: where the resumed one began, and by which command
    first, second = run.provenance["segments"]
    assert first["from_iteration"] == 0 and "--resume" not in first["command"]
    assert 0 < second["from_iteration"] < 300 and second["command"].endswith("--resume")
    assert second["git"] == run.provenance["git"] and ref_run.provenance["segments"][0]["from_iteration"] == 0


def test_bad_config_names_parameter():
    for kw, name in [({"model": "vgg"}, "model"), ({"optimizer": "lion"}, "optimizer"), ({"iterations": 0}, "iterations"),
                     ({"batch_size": -1}, "batch_size"), ({"weight_decay": -1.0}, "weight_decay"),
                     ({"epochs": 3}, "exactly one")]:
        with pytest.raises(ValueError, match=name):
            _cfg(**kw)


def test_cli_errors_are_one_line(tmp_path):
    base = [sys.executable, "-m", "reproduce", "train", "--out", str(tmp_path), "--no-progress"]
    r = subprocess.run(base + ["--data", str(tmp_path / "missing"), "--model", "keras_cnn", "--iterations", "5"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(base + ["--data", "synthetic:64", "--model", "keras_cnn", "--iterations", "5", "--policy",
                               "triangular", "--base-lr", "0.1", "--max-lr", "0.01", "--stepsize", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "max_lr" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(base + ["--data", "synthetic:64", "--model", "keras_cnn", "--iterations", "5", "--resume"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no checkpoint" in r.stderr


def test_range_test_run_is_stored(tmp_path):
    from reproduce.train import range_test

    run = range_test(_cfg(iterations=120, batch_size=64, schedule={"policy": "fixed", "base_lr": 0.01}),
                     start_lr=1e-4, end_lr=3.0, mode="exp", eval_every=10, eval_images=128, root=tmp_path)
    s = run.summary
    assert s["kind"] == "range_test" and s["stopped_early"] and s["stop_lr"] < 3.0
    assert s["peak_accuracy"] > 0.5 and s["suggestions"]["smith_max"] < s["stop_lr"]
    assert (run.metrics["kind"] == "range").all()


def test_a_range_test_stopped_by_a_signal_resumes_to_the_uninterrupted_history(tmp_path, monkeypatch):
    """Before, a range test had no checkpoint: SIGTERM (a lent GPU's deadline, `timeout`) lost every step."""
    import pandas as pd

    import reproduce.range_test as rt
    from reproduce.lease import checkpoint_iteration
    from reproduce.train import Interrupted, range_test

    cfg = _cfg(iterations=120, batch_size=64, schedule={"policy": "fixed", "base_lr": 0.01})
    args = dict(start_lr=1e-4, end_lr=0.05, mode="linear", eval_every=10, eval_images=128)
    ref = range_test(cfg, **args, root=tmp_path / "ref")
    real = rt.range_test_lr

    def signalled_at_57(i, *a):
        if i == 57:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives during step 57, as a real one would
        return real(i, *a)

    monkeypatch.setattr(rt, "range_test_lr", signalled_at_57)
    with pytest.raises(Interrupted, match="at iteration 58/120"):
        range_test(cfg, **args, root=tmp_path / "cut")
    (folder,) = (tmp_path / "cut" / "unit").iterdir()
    assert not (folder / "summary.json").exists()
    assert checkpoint_iteration(folder) == 58  # what run-study's plan counts as done
    monkeypatch.setattr(rt, "range_test_lr", real)
    run = range_test(cfg, **args, root=tmp_path / "cut")
    pd.testing.assert_frame_equal(run.metrics, ref.metrics, check_exact=True)  # losses and accuracies, bit for bit
    assert run.summary["suggestions"] == ref.summary["suggestions"] and run.summary["iterations_done"] == 120
    assert [s["from_iteration"] for s in run.provenance["segments"]] == [0, 58]
    assert not (run.path / "checkpoint.pt").exists()


def test_range_test_command_stopped_by_sigterm_says_so_and_keeps_a_checkpoint(tmp_path):
    cmd = [sys.executable, "-m", "reproduce", "range-test", "--model", "keras_cnn", "--batch-size", "16", "--data",
           "synthetic:256", "--iterations", "1000000", "--device", "cpu", "--no-progress", "--out", str(tmp_path)]
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("adhoc/*/provenance.json")):
        time.sleep(0.02)
    time.sleep(0.5)  # into the steps
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("interrupted: stopped by signal") and "run the same command again" in err
    (folder,) = tmp_path.glob("adhoc/*")
    assert (folder / "checkpoint.pt").exists() and not list(tmp_path.glob("adhoc/.*.lock"))


def test_a_checkpoint_loads_onto_the_cpu_wherever_the_run_trains(tmp_path, monkeypatch):
    """torch.set_rng_state takes a CPU tensor only. A checkpoint loaded with map_location set to the run's
    GPU put the RNG state there and made every resume on a GPU fail, which no CPU machine could show;
    load_state_dict moves the model's and optimizer's tensors to their device itself."""
    import torch

    import reproduce.train as engine

    asked = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: asked.append(k.get("map_location")) or real(*a, **k))
    ck = tmp_path / "checkpoint.pt"
    torch.save({"rng": torch.get_rng_state()}, ck)
    torch.set_rng_state(engine.load_checkpoint(ck)["rng"])
    assert asked == ["cpu"]


def test_a_range_test_steps_in_the_step_mode_and_records_it(tmp_path, monkeypatch):
    """A lent GPU's run-study passes its step mode to range tests too (C1's 5,000 steps): compiled,
    the test reads the losses eager reads, up to inductor's float reordering; a compile that fails
    steps eagerly, and the summary says which way its steps ran (`mode` is the LR ramp's there)."""
    import torch

    from reproduce.train import MODES, range_test, step_mode_of

    cfg = dict(iterations=40, batch_size=64, schedule={"policy": "fixed", "base_lr": 0.01})
    args = dict(start_lr=1e-3, end_lr=0.05, mode="exp", eval_every=10, eval_images=128)
    eager = range_test(_cfg(**cfg), **args, root=tmp_path / "eager")
    real, asked = torch.compile, []
    monkeypatch.setattr(torch, "compile", lambda m, mode=None: asked.append(mode) or real(m, mode=mode))
    compiled = range_test(_cfg(**cfg, **MODES["compile+fused"]), **args, root=tmp_path / "compiled")
    assert asked == [None]  # torch.compile's default mode, as training asks for it
    assert compiled.path.name == eager.path.name  # how steps run is not part of a run's id
    assert step_mode_of(eager.summary) == "eager" and step_mode_of(compiled.summary) == "compile+fused"
    a, b = eager.metrics, compiled.metrics
    assert a["iteration"].tolist() == b["iteration"].tolist() and a["lr"].tolist() == b["lr"].tolist()
    assert b["loss"].iloc[0] == pytest.approx(a["loss"].iloc[0], rel=1e-4)
    # one batch's loss amplifies the rounding differences step by step; the smoothed curve the rules read does not
    assert b["loss"][:10].tolist() == pytest.approx(a["loss"][:10].tolist(), rel=1e-2)
    assert b["smoothed_loss"].tolist() == pytest.approx(a["smoothed_loss"].tolist(), rel=2e-2)

    def broken(*_a, **_k):
        raise RuntimeError("no backend here")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        fell = range_test(_cfg(**cfg, **MODES["cudagraphs+fused"]), **args, root=tmp_path / "fell")
    assert fell.summary["step_mode"]["compile_fell_back"] == "RuntimeError: no backend here"
    assert step_mode_of(fell.summary) == "eager"  # it stepped eagerly, with the fused optimizer it was given
    assert fell.metrics["smoothed_loss"].tolist() == pytest.approx(a["smoothed_loss"].tolist(), rel=2e-2)


def test_shipped_fp16_weights_re_evaluate_to_the_recorded_accuracy(tmp_path, capsys):
    from reproduce.cli import main
    from reproduce.pretrained import evaluate, export

    run = train(_cfg(iterations=60, eval_every=30, save_weights=True), tmp_path)
    dest = export(run.path, tmp_path / "w.fp16.pt")
    assert dest.stat().st_size < (run.path / "model.pt").stat().st_size * 0.6  # half the bytes, plus the config
    r = evaluate(dest, "synthetic:1024", exact_only=False)
    n = r["measured"]["test_n_all"]
    for k in ("test_accuracy", "test_accuracy_all"):  # fp16 weights on the same CPU: at most a prediction or two move
        assert abs(r["measured"][k] - run.summary[k]) * n <= 2, k
    assert main(["evaluate", str(dest), "--data", "synthetic:1024"]) == 0
    assert "recorded" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "nope.pt")]) == 2


@pytest.mark.parametrize("mode", ["fused", "compile+fused"])
def test_each_speed_mode_trains_the_numbers_eager_trains(tmp_path, mode):
    """Modes change how a step runs, not what it computes: same run id, and the same losses and
    accuracies as eager up to float rounding, which training then amplifies. The fused optimizer
    rounds differently (fused multiply-adds): 1e-6 on the first logged window, 1e-4 after 30 steps;
    inductor also reorders float sums: 1e-4 on the first window, 2 % after 30 steps."""
    from reproduce.train import MODES

    cfg = dict(iterations=30, eval_every=15, log_every=5)
    eager = train(_cfg(**cfg), tmp_path / "eager")
    other = train(_cfg(**cfg, **MODES[mode]), tmp_path / mode)
    assert other.path.name == eager.path.name
    assert other.summary["mode"]["fused"] is True and other.summary["mode"]["compile_fell_back"] is None
    a, b = RunDir(eager.path).rows(), RunDir(other.path).rows()
    assert [r["iteration"] for r in a] == [r["iteration"] for r in b]
    for i, (ra, rb) in enumerate(zip(a, b)):
        tol = (1e-6 if i == 0 else 1e-4) if mode == "fused" else 1e-4 if i == 0 else 2e-2
        for k in ("train_loss", "test_loss", "test_accuracy"):
            if k in ra:
                assert rb[k] == pytest.approx(ra[k], rel=tol, abs=tol), (mode, ra["iteration"], k)


def test_a_compile_that_fails_trains_eagerly_with_one_warning(tmp_path, monkeypatch):
    import torch

    def broken(*_a, **_k):
        raise RuntimeError("no backend here")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed, training eagerly instead"):
        run = train(_cfg(iterations=20, eval_every=10, compile=True), tmp_path)
    assert run.summary["status"] == "finished"
    assert run.summary["mode"]["compile_fell_back"] == "RuntimeError: no backend here"


def test_a_compiled_step_serves_one_batch_shape_and_the_partial_batch_runs_eagerly(tmp_path, monkeypatch):
    """1,000 images in batches of 32 leave a batch of 8 each epoch: it must not compile a second
    graph (nor turn every later batch into a dynamic-shape one), so it trains eagerly."""
    import torch

    compiled_sizes = []

    class Recorder(torch.nn.Module):  # stands in for torch.compile's module: records what it is given
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            compiled_sizes.append(x.shape[0])
            return self.m(x)

    monkeypatch.setattr(torch, "compile", lambda m, mode=None: Recorder(m))
    run = train(_cfg(data="synthetic:1000", test_subset=64, iterations=70, eval_every=70, log_every=10,
                     compile=True), tmp_path)
    assert run.summary["status"] == "finished" and run.summary["mode"]["compile_fell_back"] is None
    assert run.provenance["iterations_per_epoch"] == 32 and set(compiled_sizes) == {32}
    assert len(compiled_sizes) == 70 - 2  # iterations 32 and 64 were the partial batches of 8: eager


def test_bn_group_normalises_per_group_and_leaves_other_run_ids_alone(tmp_path):
    from reproduce.results import run_id

    with pytest.raises(ValueError, match="bn_group"):
        _cfg(bn_group=0)
    kw = dict(model="resnet20", iterations=4, eval_every=4, log_every=4, batch_size=32, test_subset=64)
    plain, ghost = _cfg(**kw), _cfg(**kw, bn_group=8)
    d = plain.to_dict()
    assert run_id(d) == run_id({k: v for k, v in d.items() if k != "bn_group"})  # runs stored before the field
    assert run_id(ghost.to_dict()) != run_id(d)
    losses = [train(c, tmp_path).metrics.query("kind == 'train'")["train_loss"].tolist() for c in (plain, ghost)]
    assert losses[0] != losses[1]  # same seed, data and weights: only the BatchNorm statistics differ
