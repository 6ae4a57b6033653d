"""Sweeps through submitit's local executor: two tiny runs become two jobs that write into the
results store; a second sweep finds them stored and submits nothing."""

import pytest
import yaml

from reproduce.results import find_runs
from reproduce.sweep import make_executor, sweep

SPEC = {
    "profile": "smoke", "study": "sweep_test", "data": "synthetic:128", "progress": False,
    "defaults": {"model": "keras_cnn", "batch_size": 32, "iterations": 6, "eval_every": 3, "augment": "none",
                 "schedule": {"policy": "fixed", "base_lr": 0.01}},
    "runs": [{"label": "a", "weight_decay": 1e-4}, {"label": "b", "weight_decay": 1e-3}],
}


def test_local_sweep_runs_two_jobs_then_skips_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = SPEC | {"out": str(tmp_path / "results")}
    results = sweep(spec, "local", folder=tmp_path / "jobs", timeout_min=10)
    assert sorted(r["label"] for r in results) == ["a", "b"]
    assert all(r["status"] == "finished" for r in results)
    stored = find_runs(tmp_path / "results", "sweep_test")
    assert sorted(r.config["weight_decay"] for r in stored) == [1e-4, 1e-3]
    assert sweep(spec, "local", folder=tmp_path / "jobs") == []
    assert "2 run(s) already stored, 0 to run" in capsys.readouterr().out


def test_cli_sweep_and_bad_executor(tmp_path):
    from reproduce.cli import main

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(SPEC | {"out": str(tmp_path / "r"), "runs": SPEC["runs"][:1]}))
    assert main(["sweep", str(f), "--executor", "local", "--folder", str(tmp_path / "jobs")]) == 0
    assert len(find_runs(tmp_path / "r", "sweep_test")) == 1
    with pytest.raises(ValueError, match="executor"):
        make_executor("pbs", tmp_path)


def test_a_slurm_jobs_time_limit_checkpoints_the_run_then_hands_submitit_the_requeue(tmp_path, monkeypatch):
    """submitit signals SIGUSR2 ahead of a Slurm job's time limit and, for a function that is not
    checkpointable, ended the job inside its handler, mid-step. Now the run checkpoints at the step it
    reached first, then submitit's handler (here a stand-in) gets the signal, and the job it requeues
    (checkpoint()) is the same one, which finishes the run."""
    import os
    import signal

    import torch

    from reproduce.schedules import Schedule
    from reproduce.studies import expand
    from reproduce.sweep import run_one
    from reproduce.train import Interrupted

    spec = SPEC | {"out": str(tmp_path), "defaults": SPEC["defaults"] | {"iterations": 60, "log_every": 5}}
    cfg, _ = next(iter(expand(spec, ["a"])))
    real, sent = Schedule.lr, []

    def lr(self, it):  # read at each logging point: the signal comes at the first from iteration 20 on
        if it >= 19 and not sent:
            sent.append(it)
            os.kill(os.getpid(), signal.SIGUSR2)
        return real(self, it)

    handed = []

    def submitit_handler(signum, _frame):  # what submitit's checkpoint_and_try_requeue is handed
        (folder,) = (tmp_path / "sweep_test").iterdir()
        handed.append((signum, torch.load(folder / "checkpoint.pt", weights_only=False)["iteration"]))

    monkeypatch.setattr(Schedule, "lr", lr)
    old = signal.signal(signal.SIGUSR2, submitit_handler)
    try:
        with pytest.raises(Interrupted, match=r"at iteration \d+/60") as stopped:
            run_one(cfg.to_dict(), None, str(tmp_path))
        assert signal.getsignal(signal.SIGUSR2) is submitit_handler  # the run let go of it again
    finally:
        signal.signal(signal.SIGUSR2, old)
    at = int(str(stopped.value).split("at iteration ")[1].split("/")[0])
    assert 20 <= at < 60  # no periodic checkpoint comes before 500: this one is the signal's
    assert handed == [(signal.SIGUSR2, at)]  # handed on after the checkpoint at the step it reached
    monkeypatch.setattr(Schedule, "lr", real)
    again = run_one.checkpoint(cfg.to_dict(), None, str(tmp_path))  # what submitit requeues
    assert again.function is run_one and again.args == (cfg.to_dict(), None, str(tmp_path))
    summary = again.function(*again.args)
    assert summary["status"] == "finished" and summary["iterations_done"] == 60
