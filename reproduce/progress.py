"""One progress bar over everything ``make reproduce`` will do, with an ETA.

Notebooks train their runs inside kernels whose output the terminal never sees, so the bar
watches the results store instead: a planned run's own metrics file says how far it is (its last
logged iteration), its summary that it has finished. Each run weighs its estimated seconds —
its iterations and evaluations times the seconds per step of its model and batch size, timed on
this machine in a few steps before the plan starts — so the first ETA is already in this
machine's seconds, and tqdm's running rate corrects it as the real pace shows.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .lease import Job
from .results import RunDir, last_iteration
from .studies import expand, load_spec

RENDER_S = 10.0  # what one notebook's rendering weighs on the bar (kernel start, figures, HTML)


def finished(path: Path) -> bool:
    return RunDir(path).finished()


def planned(profile: str, studies: list[str], root: str) -> list[Job]:
    """The runs of these studies' ``profile`` that the store does not hold finished, in order."""
    jobs = []
    for study in studies:
        spec = load_spec(study, profile) | {"out": root}
        jobs += [Job(study, cfg, range_args, root=root) for cfg, range_args in expand(spec)]
    return [j for j in jobs if not finished(j.path)]


def seconds_per_step(model: str, batch_size: int, device: str = "cpu", steps: int = 3) -> float:
    """One training step of ``model`` on a random batch, timed here (after one warm-up step)."""
    from . import models

    torch.set_flush_denormal(True)  # as the engine does
    m = models.build(model, 10).to(device)
    opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    for i in range(steps + 1):
        if i == 1:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def estimate(jobs: list[Job], device: str = "cpu") -> dict[int, float]:
    """Estimated seconds of each job (by index): steps plus evaluations (a test image ~1/3 of a step's)."""
    per_step = {key: seconds_per_step(*key, device=device)
                for key in dict.fromkeys((j.cfg.model, j.cfg.batch_size) for j in jobs)}
    out = {}
    for i, j in enumerate(jobs):
        s = per_step[(j.cfg.model, j.cfg.batch_size)]
        test_images = j.cfg.test_subset or 10_000
        out[i] = s * (j.iterations + j.evaluations * test_images / j.cfg.batch_size / 3)
    return out


class PlanProgress:
    """``with PlanProgress(jobs, seconds, notebooks) as p: ... p.rendered()`` — one bar over the
    estimated seconds of every planned run and notebook, refreshed from the store every second."""

    def __init__(self, jobs: list[Job], seconds: dict[int, float], notebooks: int, desc: str = "reproduce") -> None:
        self.jobs, self.seconds, self.notebooks = jobs, seconds, notebooks
        self.total = sum(seconds.values()) + RENDER_S * notebooks
        self.done_notebooks = 0
        self.bar = tqdm(total=round(self.total), desc=desc, unit="s", unit_scale=False,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def progress(self) -> float:
        done = RENDER_S * self.done_notebooks
        for i, j in enumerate(self.jobs):
            w = self.seconds[i]
            done += w if finished(j.path) else w * min(last_iteration(j.path) / max(j.iterations, 1), 1.0)
        return min(done, self.total)

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            self._refresh()

    def _refresh(self) -> None:
        n = round(self.progress())
        if n != self.bar.n:
            self.bar.update(n - self.bar.n)

    def working_on(self, what: str) -> None:
        self.bar.set_postfix_str(what)

    def rendered(self) -> None:
        self.done_notebooks += 1
        self._refresh()

    def __enter__(self) -> PlanProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self._refresh()
        self.bar.close()
