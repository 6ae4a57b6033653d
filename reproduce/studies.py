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
import re
from pathlib import Path
from typing import Any

import yaml

from .results import DEFAULT_ROOT, Run
from .train import MODES, TrainConfig, range_test, study_run_dir, train

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


class _Loader(yaml.SafeLoader):
    """PyYAML reads ``1e-2`` and ``5e-4`` (no dot) as strings, YAML 1.1's rule; here they are numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

NUMERIC_KEYS = ("iterations", "epochs", "batch_size", "momentum", "weight_decay", "train_subset", "test_subset",
                "eval_every", "log_every", "checkpoint_every")
RANGE_KEYS = ("start_lr", "end_lr", "mode", "eval_every", "eval_images", "diverge")


def read_spec(path: str | Path, need_runs: bool = True) -> dict[str, Any]:
    """A study file, read and checked: every problem reported at once, each with its place in
    the file (``runs[2].schedule.base_lr``), as one ValueError line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file={str(path)!r} is invalid: no such study file (e.g. experiments/full/05_resnet56_one_cycle.yaml)")
    try:
        spec = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: not valid YAML{where} ({getattr(e, 'problem', None) or e})") from None
    problems = validate_spec(spec, need_runs)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return spec


def validate_spec(spec: Any, need_runs: bool = True) -> list[str]:
    """Every problem of a study spec, each as ``place: what is wrong``; ``need_runs``: a study
    with nothing to train is an error (run-study), not a notebook-only study (01, 02)."""
    if not isinstance(spec, dict):
        return [f"the file holds {type(spec).__name__ if spec is not None else 'nothing'}: expected a mapping "
                "with study, defaults, runs (see experiments/full/)"]
    out = [f"{k}: unknown key (expected some of {', '.join(SPEC_KEYS)})" for k in spec if k not in SPEC_KEYS]
    seeds = spec.get("seeds")
    if "seeds" in spec and not _seed_list(seeds):
        out.append(f"seeds: {seeds!r} is invalid: expected a non-empty list of integers >= 0, e.g. [0, 1]")
    defaults = spec.get("defaults") or {}
    if not isinstance(defaults, dict):
        out.append(f"defaults: expected a mapping of run settings, got {type(defaults).__name__}")
        defaults = {}
    entries = [(key, i, e) for key in ("runs", "range_tests") for i, e in enumerate(_as_list(spec, key, out))]
    if need_runs and not entries and not out:
        out.append("runs: none: expected at least one entry under runs or range_tests")
    labels: dict[str, str] = {}
    for key, i, entry in entries:
        place = f"{key}[{i}]"
        if not isinstance(entry, dict):
            out.append(f"{place}: expected a mapping with a label, got {entry!r}")
            continue
        label = entry.get("label")
        if not isinstance(label, str) or not label:
            out.append(f"{place}.label: missing: every run needs a label")
        elif label in labels:
            out.append(f"{place}.label: {label!r} is also {labels[label]}'s: labels name runs, so they must differ")
        else:
            labels[label] = place
        if "seeds" in entry and not _seed_list(entry["seeds"]):
            out.append(f"{place}.seeds: {entry['seeds']!r} is invalid: expected a non-empty list of integers >= 0")
        range_args = entry.get("range")
        if key == "range_tests":
            if not isinstance(range_args, dict) or "start_lr" not in range_args or "end_lr" not in range_args:
                out.append(f"{place}.range: expected a mapping with start_lr and end_lr")
            else:
                out += [f"{place}.range.{k}: unknown key (expected some of {', '.join(RANGE_KEYS)})"
                        for k in range_args if k not in RANGE_KEYS]
                out += [f"{place}.range.{k}: {range_args[k]!r} is invalid: expected a number"
                        for k in ("start_lr", "end_lr", "diverge") if k in range_args and not _number(range_args[k])]
        elif range_args is not None:
            out.append(f"{place}.range: only range_tests entries take a range")
        d = {k: v for k, v in (defaults | entry).items() if k not in ("seeds", "range")}
        for k, v in (d.get("schedule") or {}).items() if isinstance(d.get("schedule"), dict) else []:
            if isinstance(v, str) and k not in ("policy",):
                out.append(f"{place}.schedule.{k}: {v!r} is a string: expected a number (write it unquoted)")
        for k, v in d.items():
            if isinstance(v, str) and k in NUMERIC_KEYS:
                out.append(f"{place}.{k}: {v!r} is a string: expected a number (write it unquoted)")
        if any(p.startswith((place + ".", place + ":")) for p in out):
            continue
        try:
            TrainConfig.from_dict(d | {"seed": 0})
        except (ValueError, TypeError) as e:
            out.append(f"{place}: {e}")
    return out


def _as_list(spec: dict, key: str, out: list[str]) -> list:
    v = spec.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        out.append(f"{key}: expected a list of runs (each '- label: ...'), got {type(v).__name__}")
        return []
    return v


def _seed_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def load_spec(study: str, profile: str) -> dict[str, Any]:
    """The parameter set of ``study`` for ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: expected one of {', '.join(PROFILES)}")
    path = EXPERIMENTS / profile / f"{study}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no parameter set {path} (studies: {', '.join(STUDIES)})")
    return read_spec(path, need_runs=False)


def _configs(spec: dict[str, Any], key: str):
    defaults = spec.get("defaults") or {}
    for entry in spec.get(key) or []:
        entry = copy.deepcopy(entry)
        range_args = entry.pop("range", None)
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
            yield TrainConfig.from_dict(d), range_args


def expand(spec: dict[str, Any], only: list[str] | None = None, seeds: list[int] | None = None):
    """Every (config, range-test arguments or None) of ``spec``, filtered by label and seed.

    A filter that matches nothing is an error, not an empty study: ``--seeds 1`` on a run whose
    spec lists only seed 0 used to finish "done in 0.0 s" and look like success.
    """
    every = [(key, cfg, range_args) for key in ("runs", "range_tests") for cfg, range_args in _configs(spec, key)]
    labels = list(dict.fromkeys(cfg.label for _, cfg, _ in every))
    if only and set(only) - set(labels):
        raise ValueError(f"only: no run labelled {sorted(set(only) - set(labels))} in this study; "
                         f"its labels are {labels}")
    kept = [(key, cfg, range_args) for key, cfg, range_args in every
            if not (only and cfg.label not in only) and not (seeds is not None and cfg.seed not in seeds)]
    if seeds is not None and every and not kept:
        have = sorted({cfg.seed for _, cfg, _ in every if not only or cfg.label in only})
        raise ValueError(f"seeds: {sorted(seeds)} matches no run of {only or 'this study'}; its seeds are {have} "
                         "(add a seed to the run's `seeds:` list in the YAML to train it)")
    for key, cfg, range_args in kept:
        if key == "range_tests" and (not range_args or "start_lr" not in range_args or "end_lr" not in range_args):
            raise ValueError(f"range test {cfg.label!r} needs range: {{start_lr, end_lr}}")
        yield cfg, (range_args if key == "range_tests" else None)


def execute(cfg: TrainConfig, range_args: dict | None, root: str, *, force: bool = False, cached_only: bool = False):
    """Train or range-test one expanded config; with ``cached_only`` the stored run or None."""
    if range_args is not None:
        return range_test(cfg, root=root, force=force, cached_only=cached_only, **range_args)
    return train(cfg, root, force=force, cached_only=cached_only)


def run_study(spec: dict[str, Any], *, force: bool = False, only: list[str] | None = None,
              seeds: list[int] | None = None) -> dict[str, list[Run]]:
    """Train (or load) every run of ``spec`` (or those labelled in ``only``); returns
    ``{label: [Run per seed]}``; ``seeds`` keeps only runs of those seeds. With
    ``train_missing: false`` in the spec, only stored runs are returned (render from the cache)."""
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown study key(s) {sorted(unknown)}: expected some of {list(SPEC_KEYS)}")
    root = spec.get("out") or str(DEFAULT_ROOT)
    cached_only = spec.get("train_missing") is False
    results: dict[str, list[Run]] = {}
    for cfg, range_args in expand(spec, only, seeds):
        run = execute(cfg, range_args, root, force=force, cached_only=cached_only)
        if run is not None:
            results.setdefault(cfg.label, []).append(run)
    return results


def missing_runs(spec: dict[str, Any]) -> list[str]:
    """``label (seed)`` of every run of ``spec`` that is not stored."""
    root = spec.get("out") or str(DEFAULT_ROOT)
    return [f"{cfg.label} (seed {cfg.seed})" for cfg, range_args in expand(spec)
            if execute(cfg, range_args, root, cached_only=True) is None]


def listed_run_paths(root: Path | str = DEFAULT_ROOT, experiments: Path = EXPERIMENTS) -> set[Path]:
    """Where every run that a study file lists (every profile's, the ImageNet ones too) lives under ``root``."""
    return {study_run_dir(cfg, range_args, root).path for path in sorted(experiments.glob("*/*.yaml"))
            for cfg, range_args in expand(read_spec(path, need_runs=False))}


def unlisted_runs(root: Path | str = DEFAULT_ROOT, experiments: Path = EXPERIMENTS) -> list[Path]:
    """Run folders under ``root`` that no study file lists: left behind when a YAML changed a run's
    settings (its id changed with them). Notebooks and figures group stored runs by label, so such a
    run would be shown beside the one its study now asks for."""
    listed = listed_run_paths(root, experiments)
    return sorted(p.parent for p in Path(root).glob("*/*/config.json") if p.parent not in listed)


NOTEBOOK_PARAMETERS = ("profile", "study", "seeds", "data", "device", "out", "defaults", "runs", "range_tests",
                       "progress", "train_missing")


def notebook_spec(params: dict[str, Any]) -> dict[str, Any]:
    """The spec a study notebook runs, from its parameters (``globals()``): papermill's injected
    YAML, or — a notebook opened by hand, with no runs listed — its profile's YAML file."""
    spec = {k: params[k] for k in NOTEBOOK_PARAMETERS if k in params}
    if not spec.get("runs") and not spec.get("range_tests"):
        spec = load_spec(spec["study"], spec["profile"]) | {k: spec[k] for k in ("progress", "train_missing") if k in spec}
    return spec


def not_run_yet(spec: dict[str, Any]) -> str:
    """What a notebook shows instead of an empty table: this profile's runs that are missing."""
    missing = missing_runs(spec)
    return (f"**Not run yet** in the {spec.get('profile', '')} profile: " + (", ".join(missing) or "no runs listed")
            + ". The other profile's results are never shown in its place.")


def banner(profile: str, spec: dict[str, Any] | None = None) -> str:
    """The line a notebook shows first: what kind of result the reader is looking at."""
    missing = missing_runs(spec) if spec else []
    if profile == "full":
        text = "**Profile: full** — the papers' settings; the table below says which device ran each run."
        if spec and spec.get("runs"):  # trained runs, scored at the end (range tests read their own curves)
            text += (" Its accuracies: `test_accuracy` on the test images with their original pixels (with a 95 % "
                     "Wilson interval), `test_accuracy_all` on all of them (with the offline copy, most are JPEG "
                     "decodes: biased low), `test_accuracy_exact_as_jpeg` on the exact ones in JPEG form, and "
                     "`test_accuracy_jpeg_corrected`, the estimate of the official test set's accuracy that "
                     "CLAIMS.md's verdicts read (README, \"The test set\").")
        if missing:
            text += (" **Not yet run** (rendered from the results cache without them): " + ", ".join(missing)
                     + ". Run them with `python -m reproduce run-study experiments/full/<study>.yaml` (a GPU for ResNet-56).")
        return text
    return (f"**Profile: {profile}** — a shrunk smoke run of this study (fewer iterations, less data, smaller "
            "networks) that exercises the pipeline on a CPU. **Its numbers are not a reproduction**; the full-profile "
            "results are in `notebooks/executed/` and `CLAIMS.md`.")
