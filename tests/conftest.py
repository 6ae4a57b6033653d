"""Shared test set-up: one thread per pytest-xdist worker, and for everything it starts (two
workers on two cores would otherwise each spawn two threads and collapse), denormals flushed
as on a real run."""

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # and for the subprocesses and notebook kernels it starts
torch.set_flush_denormal(True)
