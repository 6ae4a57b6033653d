"""Data parallelism: torchrun with 2 CPU processes (gloo) ends with the same weights as one
process with the same global batch, which proves the sharding and the reductions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from reproduce.results import RunDir

ARGS = ["train", "--model", "keras_cnn", "--data", "synthetic:512", "--iterations", "20", "--batch-size", "64",
        "--policy", "triangular", "--base-lr", "0.01", "--max-lr", "0.05", "--stepsize", "5", "--momentum", "0.9",
        "--wd", "5e-4", "--augment", "crop_flip", "--eval-every", "10", "--log-every", "5", "--no-progress",
        "--save-weights", "--experiment", "ddp"]
ENV = os.environ | {"OMP_NUM_THREADS": "1", "CLR_REPRO_BACKEND": "gloo",
                    "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _run(cmd, out):
    subprocess.run(cmd + ARGS + ["--out", str(out)], env=ENV, check=True, capture_output=True, timeout=300)
    (run,) = list(out.glob("ddp/*/"))
    rows = RunDir(run).rows()
    return torch.load(run / "model.pt"), rows, json.loads((run / "provenance.json").read_text())


def test_torchrun_two_processes_match_one(tmp_path):
    one, rows1, _ = _run([sys.executable, "-m", "reproduce"], tmp_path / "one")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "reproduce"]
    two, rows2, prov = _run(torchrun, tmp_path / "two")
    assert prov["processes"] == 2
    assert one.keys() == two.keys()
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5), k
    # rank 0 alone wrote one set of rows, with losses averaged over ranks
    assert [r["iteration"] for r in rows1] == [r["iteration"] for r in rows2]
    for a, b in zip(rows1, rows2):
        for key in ("train_loss", "test_accuracy", "lr"):
            if key in a:
                assert abs(a[key] - b[key]) < 1e-4, (key, a, b)
