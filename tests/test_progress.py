"""The one bar of make reproduce: it plans the missing runs, weighs each by its estimated seconds
and reads how far each is from the store (no output of the kernels that train them)."""

import json

import pytest

from reproduce.progress import PlanProgress, estimate, planned, seconds_per_step
from reproduce.results import RunDir


def test_plan_lists_only_missing_runs_and_the_bar_follows_the_store(tmp_path):
    root = str(tmp_path)
    jobs = planned("smoke", ["07_adam_clr"], root)
    assert sorted(j.cfg.label for j in jobs) == ["adam-clr", "adam-fixed", "adam-range"]
    seconds = {i: 10.0 * (i + 1) for i in range(len(jobs))}  # 10, 20, 30 s
    with PlanProgress(jobs, seconds, notebooks=1) as p:
        assert p.total == pytest.approx(60 + 10)  # + one notebook's render weight
        assert p.progress() == 0
        first, second = RunDir(jobs[0].path), RunDir(jobs[1].path)
        first.path.mkdir(parents=True)
        first.summary.write_text(json.dumps({"status": "finished"}))
        second.path.mkdir(parents=True)
        second.metrics.write_text(json.dumps({"kind": "train", "iteration": jobs[1].iterations // 2}) + "\n")
        assert p.progress() == pytest.approx(10 + 20 * (jobs[1].iterations // 2) / jobs[1].iterations)
        p.rendered()
        assert p.progress() == pytest.approx(20 + 20 * (jobs[1].iterations // 2) / jobs[1].iterations)
    left = [j.cfg.label for j in planned("smoke", ["07_adam_clr"], root)]
    assert left == [j.cfg.label for j in jobs[1:]]  # the finished one is planned no more


def test_estimate_times_each_model_once_on_this_machine(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("reproduce.progress.seconds_per_step", lambda model, bs, device="cpu": calls.append(model) or 0.5)
    jobs = planned("smoke", ["07_adam_clr"], str(tmp_path))
    est = estimate(jobs)
    assert calls == ["keras_cnn"]  # one model, one batch size: timed once
    assert all(v >= 0.5 * j.iterations for v, j in zip(est.values(), jobs))  # steps, plus evaluations
    assert seconds_per_step("keras_cnn", 8, steps=1) > 0
