"""The command line: outputs, files, and bad input as one line with exit status 2."""

import subprocess
import sys

import pytest

from reproduce.cli import main


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "reproduce", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("schedule", "stepsize", "train", "range-test"):
        assert cmd in out


def test_schedule_prints_csv(capsys):
    assert main(["schedule", "--policy", "triangular2", "--base-lr", "0.001", "--max-lr", "0.006",
                 "--stepsize", "2000", "--iterations", "10000"]) == 0
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


def test_stepsize_cli(capsys):
    assert main(["stepsize", "--images", "1281167", "--batch-size", "256", "--epochs-per-step", "6"]) == 0
    out = capsys.readouterr().out
    assert "iterations per epoch: 5005" in out and "stepsize: 30030" in out
    assert main(["stepsize", "--table"]) == 0
    assert "GoogLeNet" in capsys.readouterr().out
