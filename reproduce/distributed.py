"""Data parallelism under ``torchrun``: the few collective helpers the engine needs.

``torchrun --nproc_per_node N -m reproduce train ...`` starts N processes with WORLD_SIZE, RANK
and LOCAL_RANK set; :func:`init` joins them (NCCL on GPUs, gloo on CPUs). The batch size stays
the *global* batch (the papers' total batch size), split evenly across ranks; every rank holds
the same weights, steps the same schedule, and only rank 0 writes files.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and os.environ.get("CLR_REPRO_BACKEND", "") != "gloo"
        if use_nccl:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if use_nccl else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def local_device(device: str) -> str:
    """``cuda`` becomes this process's GPU (``cuda:LOCAL_RANK``) under torchrun."""
    if device == "cuda" and dist.is_initialized():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def all_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of ``t`` over ranks (in place); a no-op in one process."""
    if world_size() > 1:
        dist.all_reduce(t)
        t /= world_size()
    return t


def any_rank(flag: bool, device: str) -> bool:
    """True if ``flag`` is set on any rank: all ranks stop (or checkpoint) together."""
    if world_size() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
