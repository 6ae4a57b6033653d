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
