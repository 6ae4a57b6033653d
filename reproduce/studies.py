"""A study = a notebook + one YAML parameter set per profile (``experiments/<profile>/<study>.yaml``).

The YAML is what papermill passes to the notebook's ``parameters`` cell, and what
``python -m reproduce run-study FILE`` runs without a notebook (on a GPU machine without
papermill). Its keys:

- ``profile`` (full | quick | smoke), ``study``, ``seeds``, ``data``, ``device``, ``out``;
- ``defaults``: TrainConfig keys shared by every run;
- ``runs``: a list of TrainConfig overrides, each with a ``label`` (and optional ``seeds``);
- ``range_tests``: the same, plus ``range: {start_lr, end_lr, mode, eval_every, eval_images, diverge}``.

Every run goes through the results cache, so a stored run is loaded, not re-run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .results import Run
from .train import MODES, TrainConfig, range_test, train

STUDIES = (
    "01_schedules",
    "02_stepsize",
    "03_range_tests",
    "04_clr_vs_fixed",
    "05_resnet56_one_cycle",
    "06_weight_decay",
    "07_adam_clr",
)
PROFILES = ("full", "quick", "smoke")
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SPEC_KEYS = ("profile", "study", "seeds", "data", "device", "out", "defaults", "runs", "range_tests", "progress",
             "train_missing", "step_mode")


def load_spec(study: str, profile: str) -> dict[str, Any]:
    """The parameter set of ``study`` for ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(PROFILES)}")
    path = EXPERIMENTS / profile / f"{study}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no parameter set {path} (studies: {', '.join(STUDIES)})")
    return yaml.safe_load(path.read_text()) or {}


def _configs(spec: dict[str, Any], key: str):
    defaults = spec.get("defaults") or {}
    for entry in spec.get(key) or []:
        entry = copy.deepcopy(entry)
        rng = entry.pop("range", None)
        seeds = entry.pop("seeds", None) or spec.get("seeds") or [0]
        for seed in seeds:
            d = copy.deepcopy(defaults) | entry
            d.update(seed=seed, profile=spec.get("profile", "custom"),
                     experiment=spec.get("study", d.get("experiment", "adhoc")))
            for k in ("data", "device"):
                if spec.get(k) is not None:
                    d[k] = spec[k]
            if spec.get("progress") is not None:
                d["progress"] = spec["progress"]
            if spec.get("step_mode") is not None:  # how steps run (run-study --step-mode); never in a run's id
                if spec["step_mode"] not in MODES:
                    raise ValueError(f"step_mode={spec['step_mode']!r} is invalid: expected one of {', '.join(MODES)}")
                d.update(MODES[spec["step_mode"]])
            yield TrainConfig.from_dict(d), rng


def expand(spec: dict[str, Any], only: list[str] | None = None, seeds: list[int] | None = None):
    """Every (config, range-test arguments or None) of ``spec``, filtered by label and seed.

    A filter that matches nothing is an error, not an empty study: ``--seeds 1`` on a run whose
    spec lists only seed 0 used to finish "done in 0.0 s" and look like success.
    """
    every = [(key, cfg, rng) for key in ("runs", "range_tests") for cfg, rng in _configs(spec, key)]
    labels = list(dict.fromkeys(cfg.label for _, cfg, _ in every))
    if only and set(only) - set(labels):
        raise ValueError(f"only: no run labelled {sorted(set(only) - set(labels))} in this study; "
                         f"its labels are {labels}")
    kept = [(key, cfg, rng) for key, cfg, rng in every
            if not (only and cfg.label not in only) and not (seeds is not None and cfg.seed not in seeds)]
    if seeds is not None and every and not kept:
        have = sorted({cfg.seed for _, cfg, _ in every if not only or cfg.label in only})
        raise ValueError(f"seeds: {sorted(seeds)} matches no run of {only or 'this study'}; its seeds are {have} "
                         "(add a seed to the run's `seeds:` list in the YAML to train it)")
    for key, cfg, rng in kept:
        if key == "range_tests" and (not rng or "start_lr" not in rng or "end_lr" not in rng):
            raise ValueError(f"range test {cfg.label!r} needs range: {{start_lr, end_lr}}")
        yield cfg, (rng if key == "range_tests" else None)


def execute(cfg: TrainConfig, rng: dict | None, root: str, *, force: bool = False, cached_only: bool = False):
    """Train or range-test one expanded config; with ``cached_only`` the stored run or None."""
    if rng is not None:
        return range_test(cfg, root=root, force=force, cached_only=cached_only, **rng)
    return train(cfg, root, force=force, cached_only=cached_only)


def run_study(spec: dict[str, Any], *, force: bool = False, only: list[str] | None = None,
              seeds: list[int] | None = None) -> dict[str, list[Run]]:
    """Train (or load) every run of ``spec`` (or those labelled in ``only``); returns
    ``{label: [Run per seed]}``; ``seeds`` keeps only runs of those seeds. With
    ``train_missing: false`` in the spec, only stored runs are returned (render from the cache)."""
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown study key(s) {sorted(unknown)}: expected some of {list(SPEC_KEYS)}")
    root = spec.get("out") or "experiments/results"
    cached_only = spec.get("train_missing") is False
    results: dict[str, list[Run]] = {}
    for cfg, rng in expand(spec, only, seeds):
        run = execute(cfg, rng, root, force=force, cached_only=cached_only)
        if run is not None:
            results.setdefault(cfg.label, []).append(run)
    return results


def missing_runs(spec: dict[str, Any]) -> list[str]:
    """``label (seed)`` of every run of ``spec`` that is not stored."""
    root = spec.get("out") or "experiments/results"
    return [f"{cfg.label} (seed {cfg.seed})" for cfg, rng in expand(spec)
            if execute(cfg, rng, root, cached_only=True) is None]


def banner(profile: str, spec: dict[str, Any] | None = None) -> str:
    """The line a notebook shows first: what kind of result the reader is looking at."""
    missing = missing_runs(spec) if spec else []
    if profile == "full":
        text = "**Profile: full** — the papers' settings; the table below says which device ran each run."
        if missing:
            text += (" **Not yet run** (rendered from the results cache without them): " + ", ".join(missing)
                     + ". Run them with `python -m reproduce run-study experiments/full/<study>.yaml` (a GPU for ResNet-56).")
        return text
    return (f"**Profile: {profile}** — a shrunk smoke run of this study (fewer iterations, less data, smaller "
            "networks) that exercises the pipeline on a CPU. **Its numbers are not a reproduction**; the full-profile "
            "results are in `notebooks/executed/` and `CLAIMS.md`.")
