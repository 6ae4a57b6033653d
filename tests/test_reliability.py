"""Hostile inputs and concurrent writers: one clean run folder, no silently wrong result, and
every bad input one line naming the parameter, with exit status 2 (never a traceback)."""

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reproduce.cli import main
from reproduce.results import RunDir, RunLock, find_runs
from reproduce.schedules import time_decay
from reproduce.studies import read_spec
from reproduce.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
TINY = ["train", "--model", "keras_cnn", "--data", "synthetic:256", "--batch-size", "32", "--no-progress",
        "--policy", "fixed", "--base-lr", "0.01", "--eval-every", "10"]


def _cfg(**kw):
    return TrainConfig(**({"model": "keras_cnn", "data": "synthetic:256", "iterations": 20, "batch_size": 32,
                           "eval_every": 10, "progress": False, "experiment": "rel"} | kw))


def test_two_identical_runs_at_once_leave_one_clean_folder(tmp_path):
    cmd = [sys.executable, "-m", "reproduce", *TINY, "--iterations", "300", "--out", str(tmp_path)]
    procs = [subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    (run,) = find_runs(tmp_path, "adhoc")
    rows = RunDir(run.path).rows()
    its = [(r["kind"], r["iteration"]) for r in rows]
    assert len(its) == len(set(its))  # no row written twice
    if codes == [0, 2]:  # the usual case: the second writer was refused while the first trained
        err = next(e for (_, e), p in zip(outs, procs) if p.returncode == 2)
        assert len(err.strip().splitlines()) == 1 and "is being written by pid" in err and run.path.name in err
    else:  # the second came after the first finished and found its run stored
        assert codes == [0, 0]
    assert not list(tmp_path.glob("adhoc/.*.lock"))


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = tmp_path / "exp" / "r-s0-abc"
    lock = RunLock(run)
    lock.path.parent.mkdir(parents=True)
    import platform

    lock.path.write_text(json.dumps({"pid": int(dead.stdout), "host": platform.node()}))
    with RunLock(run):
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock.path.exists()
    lock.path.write_text(json.dumps({"pid": os.getppid(), "host": platform.node()}))  # alive: refused
    with pytest.raises(ValueError, match="is being written by pid"):
        RunLock(run).__enter__()


def test_a_torn_last_metrics_line_does_not_block_resume(tmp_path):
    cfg = _cfg(iterations=40, checkpoint_every=20, log_every=5)
    rd = RunDir(tmp_path / "rel" / "x")
    rd.path.mkdir(parents=True)
    rd.metrics.write_text('{"kind": "train", "iteration": 5}\n{"kind": "train", "iteration": 10}\n{"kind": "tr')
    rd.truncate_metrics(10)
    assert [r["iteration"] for r in rd.rows()] == [5, 10]
    rd.metrics.write_text('{"kind": "train", "iteration": 5}\n{"kind": "tr\n{"kind": "train", "iteration": 10}\n')
    with pytest.raises(ValueError, match="line 2 is corrupt"):
        rd.truncate_metrics(10)  # only a torn *last* line is a kill mid-write; anything else is reported
    assert train(cfg, tmp_path).summary["status"] == "finished"


def test_schedule_flags_without_a_policy_are_used_or_refused(tmp_path, capsys):
    assert main([*TINY[:8], "--base-lr", "0.5", "--iterations", "2", "--out", str(tmp_path)]) == 0
    (run,) = find_runs(tmp_path, "adhoc")
    assert run.config["schedule"] == {"policy": "fixed", "base_lr": 0.5}
    capsys.readouterr()
    for flags in (["--max-lr", "0.5"], ["--stepsize", "10"], ["--momentum", "0.95", "0.85"]):
        assert main([*TINY[:8], *flags, "--iterations", "2", "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: policy=None is invalid with --") and len(err.splitlines()) == 1


def test_a_stored_run_is_not_returned_for_other_data_or_missing_weights(tmp_path):
    data = tmp_path / "cifar"
    data.mkdir()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (64, 32, 32, 3), dtype=np.uint8)
    np.savez(data / "test_batch.npz", x=x, y=np.arange(64) % 10)
    for i in range(1, 6):
        np.savez(data / f"data_batch_{i}.npz", x=x, y=np.arange(64) % 10)
    cfg = _cfg(data=str(data), iterations=4, eval_every=2)
    first = train(cfg, tmp_path / "r")
    assert train(cfg, tmp_path / "r").path == first.path  # the same data: the cache answers
    np.savez(data / "data_batch_1.npz", x=x, y=(np.arange(64) + 1) % 10)  # labels changed
    from reproduce.data import _load_cached

    _load_cached.cache_clear()
    with pytest.raises(ValueError, match="differ from those the stored run"):
        train(cfg, tmp_path / "r")
    with pytest.raises(ValueError, match="has no model.pt"):
        train(_cfg(iterations=4, eval_every=2, save_weights=True), tmp_path / "s") and train(
            _cfg(iterations=4, eval_every=2, save_weights=False), tmp_path / "w") and train(
            _cfg(iterations=4, eval_every=2, save_weights=True), tmp_path / "w")


def test_time_decay_is_exact_for_tiny_decays():
    for d in (1e-15, 1e-9, 1e-6, 1e-3):
        lr = 0.1
        for n in range(1, 400):
            if n >= 2:
                lr /= 1 + d * (n - 1)
            assert time_decay(n, 0.1, d) == pytest.approx(lr, rel=1e-8), (d, n)
    assert time_decay(11, 0.1, 1e-15) == pytest.approx(0.1) and time_decay(11, 0.1, 1e-320) == 0.1


def test_images_per_second_counts_the_images_really_trained(tmp_path):
    run = train(_cfg(data="synthetic:64", batch_size=512, iterations=3, eval_every=3), tmp_path)
    s = run.summary
    assert s["train_images"] == 3 * 64  # batch 512 asked, 64 images there
    assert s["train_images_per_s"] == pytest.approx(s["train_images"] / s["train_time_s"])


def test_results_files_are_readable_by_others_like_any_new_file(tmp_path):
    run = train(_cfg(iterations=2, eval_every=2), tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for f in run.path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f.name


@pytest.mark.parametrize("args, parameter", [
    (["--train-subset", "-5"], "train_subset=-5"),
    (["--train-subset", "0"], "train_subset=0"),
    (["--optimizer", "adam", "--nesterov"], "nesterov=True is invalid with optimizer='adam'"),
    (["--epochs", "inf"], "epochs=inf"),
    (["--device", "banana"], "device='banana'"),
    (["--data", "synthetic:0"], "data='synthetic:0'"),
    (["--policy", "one_cycle", "--base-lr", "0", "--max-lr", "1", "--stepsize", "1"], "base_lr=0.0"),
    (["--wrong-flag"], "unrecognized arguments: --wrong-flag"),
])
def test_bad_training_input_is_one_line_naming_it(tmp_path, capsys, args, parameter):
    base = [a for a in TINY if a not in ("--policy", "fixed", "--base-lr", "0.01")]
    if "--data" in args:
        base = [a for i, a in enumerate(base) if a != "--data" and base[i - 1] != "--data"]
    with pytest.raises(SystemExit) if "--wrong-flag" in args else _noop() as e:
        length = [] if "--epochs" in args else ["--iterations", "5"]
        rc = main([*base, *length, "--out", str(tmp_path), *args])
    rc = e.value.code if hasattr(e, "value") else rc
    err = capsys.readouterr().err
    assert rc == 2 and parameter in err and len(err.strip().splitlines()) == 1, err


class _noop:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_bad_data_files_are_one_line_errors(tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(1, 6):
        np.savez(d / f"data_batch_{i}.npz", x=np.zeros((20, 32, 32, 3), np.uint8), y=np.arange(20) % 10)
    (d / "test_batch.npz").write_bytes(b"PK\x03\x04 truncated")  # and no SHA256SUMS to catch it first
    assert main([*TINY, "--data", str(d), "--iterations", "2", "--out", str(tmp_path / "o")]) == 2
    assert "unreadable or corrupt" in capsys.readouterr().err
    x = np.zeros((20, 32, 32, 3), np.uint8)
    for name, y in (("float", np.linspace(0, 9, 20)), ("range", np.arange(20))):
        e = tmp_path / name
        e.mkdir()
        for i in range(1, 6):
            np.savez(e / f"data_batch_{i}.npz", x=x, y=y)
        np.savez(e / "test_batch.npz", x=x, y=np.zeros(20, int))
        assert main([*TINY, "--data", str(e), "--iterations", "2", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "labels in" in err and "invalid" in err and len(err.strip().splitlines()) == 1


def test_disk_problems_are_one_line_errors(tmp_path, capsys):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert main([*TINY, "--iterations", "2", "--out", str(afile)]) == 2
    assert "a_file" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert main([*TINY, "--iterations", "2", "--out", str(ro)]) == 2


def test_schedule_streams_any_length_and_refuses_plots_it_cannot_draw(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["schedule", "--policy", "fixed", "--base-lr", "0.1", "--iterations", "300000", "--csv", str(out)]) == 0
    assert out.read_text().count("\n") == 300_001
    assert main(["schedule", "--policy", "fixed", "--base-lr", "0.1", "--iterations", "2000000000",
                 "--plot", str(tmp_path / "p.png")]) == 2
    assert "iterations=2000000000 is invalid with --plot" in capsys.readouterr().err


def test_stepsize_of_zero_is_refused(capsys):
    assert main(["stepsize", "--images", "50000", "--batch-size", "100", "--epochs-per-step", "0.0001"]) == 2
    assert "epochs_per_step=0.0001 is invalid" in capsys.readouterr().err


STUDY = {"study": "fz", "profile": "smoke", "data": "synthetic:256", "device": "cpu", "seeds": [0],
         "defaults": {"model": "keras_cnn", "iterations": 5, "batch_size": 32,
                      "schedule": {"policy": "fixed", "base_lr": 0.01}},
         "runs": [{"label": "a"}, {"label": "b", "weight_decay": 5e-4}]}


def test_a_study_file_reports_every_problem_with_its_place(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("study: s\nseeds: 3\nruns:\n  - label: a\n    schedule: {policy: fixed, base_lr: '0.1'}\n"
                 "  - label: a\n    weight_decay: 5e-4\n  - {seeds: []}\nrange_tests:\n"
                 "  - label: r\n    range: {start_lr: 0, end_lr: 1, step: 2}\n")
    with pytest.raises(ValueError) as e:
        read_spec(p)
    msg = str(e.value)
    assert "\n" not in msg
    for place in ("seeds: 3 is invalid", "runs[0].schedule.base_lr: '0.1' is a string", "runs[1].label: 'a' is also",
                  "runs[2].label: missing", "runs[2].seeds: [] is invalid", "range_tests[0].range.step: unknown key"):
        assert place in msg
    p.write_text("study: s\ndefaults: {iterations: 5}\nruns:\n  - label: a\n    schedule: {policy: fixed, base_lr: 1e-2}\n"
                 "    weight_decay: 5e-4\n")
    run = read_spec(p)["runs"][0]
    assert run["schedule"]["base_lr"] == 0.01 and run["weight_decay"] == 0.0005  # YAML 1.1 would give strings
    for text, what in (("", "holds nothing"), ("runs: []\n", "runs: none"), ("runs: [\n", "not valid YAML at line 2"),
                       ("runs:\n  a: 1\n", "runs: expected a list")):
        p.write_text(text)
        with pytest.raises(ValueError, match=what):
            read_spec(p)


def _mutations(rng: random.Random):
    """Bad study specs and CLI lines, generated: each breaks one thing a person could get wrong."""
    bad_values = ["abc", -1, 0, 1e309, None, [], {}, "1e-2x", True, -0.5, [1, "a"], {"x": 1}, ""]
    keys = ["iterations", "batch_size", "momentum", "weight_decay", "model", "optimizer", "augment", "normalize",
            "train_subset", "eval_every", "log_every", "checkpoint_every", "epochs", "device", "data", "nope"]
    sched = ["base_lr", "max_lr", "stepsize", "gamma", "policy", "momentum", "total_iterations", "final_lr", "extra"]
    for _ in range(150):
        spec = json.loads(json.dumps(STUDY))
        where = rng.choice(["defaults", "run", "schedule", "top"])
        v = rng.choice(bad_values)
        if where == "defaults":
            spec["defaults"][key := rng.choice(keys)] = v
        elif where == "run":
            spec["runs"][rng.randrange(2)][key := rng.choice(keys + ["seeds", "label", "range"])] = v
        elif where == "schedule":
            spec["defaults"]["schedule"][key := rng.choice(sched)] = v
        else:
            spec[key := rng.choice(["seeds", "runs", "defaults", "study_typo", "range_tests"])] = v
        yield "study", spec, key
    flags = {"--iterations": ["0", "-3", "x", "1e3"], "--batch-size": ["0", "-1", "b"], "--base-lr": ["-1", "nan", "x"],
             "--max-lr": ["-1", "0.001"], "--stepsize": ["0", "-2", "1.5"], "--momentum": ["1.5", "-0.1", "0.9 0.95"],
             "--wd": ["-1", "nan"], "--train-subset": ["0", "-9"], "--epochs": ["0", "inf", "-1"],
             "--eval-every": ["0", "-1"], "--data": ["synthetic:0", "synthetic:-4", "synthetic:x", "/no/such/dir"],
             "--device": ["banana", "cuda:x", "cuda"], "--model": ["resnet57"], "--augment": ["rotate"]}
    for _ in range(150):
        flag = rng.choice(list(flags))
        yield "train", [flag, *rng.choice(flags[flag]).split()], flag


def test_fuzz_bad_inputs_exit_2_with_one_line_and_never_a_traceback(tmp_path, capsys):
    import yaml

    rng = random.Random(1)
    seen = 0
    names = {"--wd": "weight_decay", "--max-lr": "max_lr", "--stepsize": "stepsize", "--base-lr": "base_lr",
             "defaults": "defaults", "runs": "runs"}
    for kind, case, key in _mutations(rng):  # each harmless one trains 5 steps on 256 synthetic images
        if kind == "study":
            p = tmp_path / "s.yaml"
            p.write_text(yaml.safe_dump(case))
            argv = ["run-study", str(p), "--out", str(tmp_path / "o")]
        else:
            base = ["train", "--model", "keras_cnn", "--data", "synthetic:128", "--iterations", "2", "--batch-size", "32",
                    "--policy", "triangular", "--base-lr", "0.01", "--max-lr", "0.05", "--stepsize", "5",
                    "--no-progress", "--out", str(tmp_path / "o")]
            argv = base + case
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
        err = capsys.readouterr().err.strip()
        if rc == 0:  # the mutation happened to be harmless (e.g. a key on a run it does not reach)
            continue
        seen += 1
        assert rc == 2, (case, err)
        assert len(err.splitlines()) == 1 and err.startswith("error:"), (case, err)
        assert "Traceback" not in err
        said = {key, key.lstrip("-").replace("-", "_"), names.get(key, key)}
        assert any(n in err for n in said) or kind == "study" and key in ("defaults", "schedule"), (key, err)
    assert seen >= 200


def test_a_full_disk_during_a_checkpoint_leaves_no_half_file(tmp_path, monkeypatch):
    import errno

    import torch

    from reproduce import train as engine

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"the previous checkpoint")
    monkeypatch.setattr(torch, "save", lambda obj, f: (Path(f).write_bytes(b"half"), full()))
    with pytest.raises(OSError):
        engine._save_checkpoint(target, {})
    assert target.read_bytes() == b"the previous checkpoint" and not target.with_suffix(".tmp").exists()


def test_a_jpeg_test_file_of_the_wrong_length_is_refused(tmp_path, capsys):
    x = np.zeros((20, 32, 32, 3), np.uint8)
    for i in range(1, 6):
        np.savez(tmp_path / f"data_batch_{i}.npz", x=x, y=np.arange(20) % 10)
    np.savez(tmp_path / "test_batch.npz", x=x, y=np.arange(20) % 10, exact=np.arange(20) < 5)
    np.savez(tmp_path / "test_batch_jpeg.npz", x=x[:7], y=np.arange(7) % 10)
    assert main([*TINY, "--data", str(tmp_path), "--iterations", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "test_batch_jpeg.npz is corrupt: expected x uint8 20" in err and len(err.strip().splitlines()) == 1
