"""The command line: outputs, files, and bad input as one line with exit status 2."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reproduce.cli import main


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "reproduce", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("schedule", "stepsize", "train", "range-test"):
        assert cmd in out


def test_every_option_of_every_command_says_what_it_does():
    """`--help` teaches: an option without a help line shows only its name and metavar."""
    import argparse

    from reproduce.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = {name: [a.option_strings[-1] if a.option_strings else a.dest for a in p._actions
                     if a.help is None and not isinstance(a, argparse._HelpAction)]
              for name, p in sub.choices.items()}
    assert {name: opts for name, opts in silent.items() if opts} == {}
    assert all(sub._choices_actions), "every command has a one-line summary in the top-level --help"
    assert all(a.help for a in sub._choices_actions)


def test_schedule_prints_a_summary_and_every_row_on_request(capsys):
    args = ["schedule", "--policy", "triangular2", "--base-lr", "0.001", "--max-lr", "0.006", "--stepsize", "2000",
            "--iterations", "10000"]
    assert main(args) == 0
    summary = capsys.readouterr().out.splitlines()
    assert summary[0] == "triangular2: 10,000 iterations; base_lr 0.001, max_lr 0.006, stepsize 2000"
    assert len(summary) < 20 and "--csv" in summary[-1]
    assert summary[1] == "lr: lowest 0.001 (iteration 0), highest 0.006 (iteration 2,000)"
    assert any(line.split() == ["2,498", "0.004755"] for line in summary)
    assert main([*args, "--csv", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "iteration,lr,momentum" and len(lines) == 10001
    assert lines[2001].startswith("2000,0.006,")
    assert lines[6001].startswith("6000,0.0035,")


def test_schedule_csv_and_plot(tmp_path):
    csv, png = tmp_path / "s.csv", tmp_path / "s.png"
    assert main(["schedule", "--policy", "one_cycle", "--base-lr", "0.08", "--max-lr", "0.8", "--stepsize", "40",
                 "--iterations", "95", "--momentum", "0.95", "0.8", "--csv", str(csv), "--plot", str(png)]) == 0
    rows = csv.read_text().splitlines()
    assert len(rows) == 96 and rows[41].split(",")[2] == "0.8"
    assert png.stat().st_size > 5000


@pytest.mark.parametrize("args,word", [
    (["--policy", "triangular", "--base-lr", "0.01", "--max-lr", "0.001", "--stepsize", "10"], "max_lr"),
    (["--policy", "triangular", "--base-lr", "0.001", "--max-lr", "0.01", "--stepsize", "0"], "stepsize"),
    (["--policy", "exp_range", "--base-lr", "0.001", "--max-lr", "0.01", "--stepsize", "5", "--gamma", "2"], "gamma"),
    (["--policy", "nope", "--base-lr", "0.001"], "policy"),
])
def test_schedule_bad_input_is_one_line_exit_2(args, word):
    r = subprocess.run([sys.executable, "-m", "reproduce", "schedule", *args, "--iterations", "10"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and word in r.stderr and "Traceback" not in r.stderr


def test_schedule_rows_piped_into_head_end_quietly():
    r = subprocess.run(f"{sys.executable} -m reproduce schedule --policy fixed --base-lr 0.1 --iterations 200000 "
                       "--csv - | head -3", shell=True, capture_output=True, text=True)
    assert r.stdout.splitlines() == ["iteration,lr,momentum", "0,0.1,", "1,0.1,"]
    assert "Error" not in r.stderr and "Traceback" not in r.stderr


def test_stepsize_cli(capsys):
    assert main(["stepsize", "--images", "1281167", "--batch-size", "256", "--epochs-per-step", "6"]) == 0
    out = capsys.readouterr().out
    assert "iterations per epoch: 5005" in out and "stepsize: 30030" in out
    assert main(["stepsize", "--table"]) == 0
    assert "GoogLeNet" in capsys.readouterr().out


def test_run_study_stopped_by_timeout_resumes(tmp_path):
    """`timeout -s TERM` on a time-limited machine: the run checkpoints, says how to resume, and the
    same command finishes it."""
    from reproduce.results import find_runs

    spec = tmp_path / "s.yaml"
    spec.write_text(f"""profile: smoke
study: cut
seeds: [0]
data: synthetic:256
out: {tmp_path / 'results'}
progress: false
defaults: {{model: keras_cnn, batch_size: 32, eval_every: 100, checkpoint_every: 5, log_every: 5}}
runs:
- label: cut
  iterations: 400
  schedule: {{policy: fixed, base_lr: 0.01}}
""")
    cmd = [sys.executable, "-m", "reproduce", "run-study", str(spec)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("results/cut/*/checkpoint.pt")):
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "run the same command again" in err and "Traceback" not in err
    assert not find_runs(tmp_path / "results", "cut")  # not finished, so not in the cache
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (run,) = find_runs(tmp_path / "results", "cut")
    assert run.summary["status"] == "finished" and run.summary["iterations_done"] == 400


@pytest.mark.parametrize("args,word", [
    (["--only", "exp", "--seeds", "1"], "seeds: [1] matches no run of ['exp']; its seeds are [0]"),
    (["--only", "triangle"], "only: no run labelled ['triangle']"),
])
def test_run_study_filter_that_matches_nothing_is_an_error(args, word, tmp_path, capsys):
    """Before, `--seeds 1` on a run listed with seed 0 only printed "done in 0.0 s": nothing trained, no error."""
    spec = tmp_path / "study.yaml"
    spec.write_text(
        "profile: smoke\nstudy: filters\nseeds: [0]\nout: " + str(tmp_path) + "\n"
        "defaults: {model: keras_cnn, iterations: 5}\n"
        "runs:\n"
        "  - {label: fixed, seeds: [0, 1], schedule: {policy: fixed, base_lr: 0.01}}\n"
        "  - {label: exp, schedule: {policy: exp, base_lr: 0.01, gamma: 0.999}}\n"
    )
    assert main(["run-study", str(spec), *args]) == 2
    err = capsys.readouterr().err
    assert word in err and err.count("\n") == 1


def test_ctrl_c_on_study_is_one_line_with_the_resume_hint(monkeypatch, capsys):
    from reproduce import notebooks

    def interrupted(**_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(notebooks, "run_profile", interrupted)
    assert main(["study", "--profile", "quick"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted:") and "run the same command again" in err and len(err.splitlines()) == 1


# `study` on the smoke C8 notebook, its one run made long and never checkpointed on its own: what
# `timeout -s TERM make reproduce` does to a run that trains inside a notebook kernel
LONG_STUDY = """
import sys
from reproduce import notebooks, progress
from reproduce.cli import main

smoke = notebooks.load_spec
def long_run(study, profile):
    spec = smoke(study, profile)
    spec["runs"], spec["range_tests"] = [dict(spec["runs"][0], iterations=1_000_000)], []
    spec["defaults"] = spec["defaults"] | {"checkpoint_every": 1_000_000, "log_every": 1}
    return spec
notebooks.load_spec = progress.load_spec = long_run
sys.exit(main(["study", "--profile", "smoke", "--only", "07_adam_clr", "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_study_stopped_by_sigterm_checkpoints_the_run_in_its_notebook_where_it_stood(tmp_path, sig):
    """Before, SIGTERM ended `study` at once and its kernel with it: the run kept only its last periodic
    checkpoint (here none), its lock stayed behind, and nothing was printed. Ctrl-C (SIGINT) reached the
    kernel only through papermill's clean-up, from wherever the KeyboardInterrupt struck."""
    import torch

    store = tmp_path / "results"
    nb = store / "notebooks" / "executed" / "smoke"  # rendered from another store: inside it
    p = subprocess.Popen([sys.executable, "-c", LONG_STUDY, str(store)], env=os.environ | {"OMP_NUM_THREADS": "1"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics, deadline = None, time.time() + 180
    while time.time() < deadline and p.poll() is None:
        metrics = next(store.glob("07_adam_clr/*/metrics.jsonl"), None)
        if metrics and metrics.read_text().count("\n") >= 20:
            break
        time.sleep(0.1)
    assert p.poll() is None and metrics, "the run never started training"
    p.send_signal(sig)
    _, err = p.communicate(timeout=150)
    assert p.returncode == 130 and "interrupted:" in err and "Traceback" not in err
    run = metrics.parent
    done = [json.loads(line)["iteration"] for line in metrics.read_text().splitlines()]
    assert len(done) >= 20
    ck = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ck["iteration"] == max(done)  # where it stood, not a periodic checkpoint
    assert not list(run.parent.glob(".*.lock")) and not (run / "summary.json").exists()
    assert not list(nb.glob("*.failed.ipynb"))  # stopped, not failed


def test_range_test_with_defaults_says_its_cost_prints_one_line_per_rule_and_stays_out_of_the_record(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "range.png"
    assert main(["range-test", "--model", "keras_cnn", "--batch-size", "16", "--data", "synthetic:256",
                 "--iterations", "40", "--device", "cpu", "--no-progress", "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    assert "range test: 40 iterations of keras_cnn at batch 16, LR 1e-07 -> 10 (exp)" in err
    assert "accuracy on 1,000 held-out images every 2 iterations (21 readings): about" in err
    rules = [line for line in out.splitlines() if line.startswith("suggested LR:")]
    assert len(rules) == 5 and any("loss minimum / 10 (fastai)" in r for r in rules)
    assert all("[loss readings x" in r or "[accuracy " in r or "no reading" in r for r in rules)
    assert plot.exists() and list((tmp_path / "runs" / "adhoc").iterdir())  # ./runs (ignored), not experiments/
    assert not (tmp_path / "experiments").exists()


def test_range_test_needs_both_bounds_or_neither(capsys):
    assert main(["range-test", "--start-lr", "0.001", "--data", "synthetic:64"]) == 2
    assert "give both, or neither" in capsys.readouterr().err


def test_a_range_test_whose_lr_would_fall_is_refused_before_anything_loads(capsys, monkeypatch):
    import reproduce.train_cli as train_cli

    monkeypatch.setattr(train_cli, "range_test", lambda *a, **k: pytest.fail("a falling range test started"))
    assert main(["range-test", "--start-lr", "1", "--end-lr", "0.1", "--data", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: end_lr=0.1 is invalid: expected a finite number > start_lr (1.0): the LR rises")
    assert "range test:" not in err and len(err.strip().splitlines()) == 1  # no plan line before it


@pytest.mark.parametrize("args", [
    ["claims", "--dest", "{tmp}/CLAIMS.md", "--readme", "{tmp}/README.md"],
    ["figures", "--dest", "{tmp}/figures"],
    ["study", "--no-train", "--out"],
])
def test_a_results_store_that_does_not_exist_is_refused_not_rendered_as_nothing_run(tmp_path, capsys, args):
    """A mistyped --results (or --out with --no-train) once rewrote CLAIMS.md and the README's table as if
    no run were stored."""
    args = [x.format(tmp=tmp_path) for x in args]
    store = ["--results", str(tmp_path / "typo")] if args[0] != "study" else [str(tmp_path / "typo")]
    assert main([*args, *store]) == 2
    err = capsys.readouterr().err
    assert f"results='{tmp_path / 'typo'}' is invalid: expected the results store" in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_figures_from_a_folder_without_runs_say_so(tmp_path, capsys):
    """Before, a mistyped store that exists drew the formula figures alone and said nothing."""
    empty, dest = tmp_path / "empty", tmp_path / "figures"
    empty.mkdir()
    assert main(["figures", "--results", str(empty), "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert "warning:" in err and "holds no stored run" in err and "01_pytorch_schedulers.png" in out
    run = empty / "other_study" / "x-s0-0000"  # one run, of a study no figure draws
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"label": "x", "seed": 0}')
    (run / "summary.json").write_text('{"status": "finished"}')
    assert main(["figures", "--results", str(empty), "--dest", str(dest)]) == 0
    assert "warning" not in capsys.readouterr().err
