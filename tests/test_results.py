"""The results store keeps a finished run's metrics gzipped, and reads either form the same."""

import gzip
import json

from reproduce.results import Run, RunDir, write_json


def _run(tmp_path, rows):
    rd = RunDir(tmp_path / "exp" / "r-s0-abc")
    rd.path.mkdir(parents=True)
    write_json(rd.config, {"label": "r", "seed": 0})
    write_json(rd.summary, {"status": "finished"})
    rd.append_metrics(rows)
    return rd


def test_compressed_metrics_read_back_identically_and_deterministically(tmp_path):
    rows = [{"kind": "train", "iteration": i, "train_loss": 2.3 / (i + 1)} for i in range(1, 50)]
    rd = _run(tmp_path, rows)
    plain = Run(rd.path).metrics
    rd.compress_metrics()
    assert not rd.metrics.exists() and rd.metrics_gz.exists()
    assert rd.rows() == rows
    assert Run(rd.path).metrics.equals(plain)
    first = rd.metrics_gz.read_bytes()
    assert json.loads(gzip.decompress(first).decode().splitlines()[0]) == rows[0]
    # storing the same rows again gives the same bytes: re-rendering leaves git clean
    rd.metrics_gz.unlink()
    rd.append_metrics(rows)
    rd.compress_metrics()
    assert rd.metrics_gz.read_bytes() == first


def test_a_run_still_logging_is_read_from_the_plain_file(tmp_path):
    rd = _run(tmp_path, [{"kind": "eval", "iteration": 10, "test_accuracy": 0.5}])
    assert Run(rd.path).evals()["test_accuracy"].tolist() == [0.5]
    assert rd.metrics.exists() and not rd.metrics_gz.exists()


def test_the_launchers_commit_wins_over_a_stale_git_copy(monkeypatch):
    from reproduce.results import git_info

    here = git_info()
    assert len(here["commit"]) == 40 and "source" not in here
    monkeypatch.setenv("CLR_REPRO_COMMIT", "d9fc72133ee5acad799d970aa6f7b3127e1f05cd")
    monkeypatch.setenv("CLR_REPRO_DIRTY", "0")
    assert git_info() == {"commit": "d9fc72133ee5acad799d970aa6f7b3127e1f05cd", "dirty": False,
                          "source": "CLR_REPRO_COMMIT"}
    monkeypatch.delenv("CLR_REPRO_DIRTY")
    assert git_info()["dirty"] is None  # not said: unknown, never guessed


def test_a_run_no_study_file_lists_is_found_and_the_committed_store_has_none(tmp_path):
    """A YAML edit changes a run's id; the folder of its old id would be grouped with the new run
    by label in notebooks and figures. `unlisted_runs` names such folders, and none is committed."""
    from reproduce import studies

    exp = tmp_path / "experiments" / "quick"
    exp.mkdir(parents=True)
    spec = ("profile: quick\nstudy: 06_weight_decay\nseeds: [0]\nout: {out}\ndefaults: {{model: resnet20, iterations: 30}}\n"
            "runs:\n  - {{label: wd1e-4, weight_decay: 1.0e-4}}\n"
            "range_tests:\n  - {{label: rt, iterations: 20, range: {{start_lr: 0.0, end_lr: 3.0, eval_every: 5}}}}\n")
    store = tmp_path / "results"
    (exp / "06_weight_decay.yaml").write_text(spec.format(out=store))
    listed = studies.listed_run_paths(store, tmp_path / "experiments")
    assert len(listed) == 2 and {p.name.split("-s0-")[0] for p in listed} == {"wd1e-4", "rt"}
    for path in listed:
        path.mkdir(parents=True)
        write_json(path / "config.json", {})
    assert studies.unlisted_runs(store, tmp_path / "experiments") == []
    (exp / "06_weight_decay.yaml").write_text(spec.format(out=store).replace("iterations: 30", "iterations: 20"))
    stale = studies.unlisted_runs(store, tmp_path / "experiments")
    assert [p.name.split("-s0-")[0] for p in stale] == ["wd1e-4"]  # the range test's settings did not change

    from reproduce.results import DEFAULT_ROOT
    assert studies.unlisted_runs(DEFAULT_ROOT) == [], "remove these (a YAML no longer lists them), then re-render"
