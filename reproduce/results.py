"""The results store: one folder per run, written atomically, with provenance.

``experiments/results/<experiment>/<run-id>/`` holds ``config.json`` (what was asked),
``metrics.jsonl`` (one row per logged iteration / evaluation; gzipped to ``metrics.jsonl.gz``
once the run ends, because every GPU call carries the whole tree), ``summary.json`` (the outcome)
and ``provenance.json`` (git commit, command, versions, device, data, seed, wall time; for a
resumed run, each stretch's commit and device under ``segments``). The
run id is a hash of the config's *semantic* fields (not the device, compile flag or
checkpoint interval), so a finished run with the same config and seed is found and reused:
the cache ``make reproduce`` relies on.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_ROOT = Path("experiments/results")
NON_SEMANTIC = ("device", "compile", "fused", "checkpoint_every", "progress", "amp", "channels_last", "out", "save_weights",
                "workers")


# fields added after runs were stored: at their default they stay out of the hash, so old ids hold
LATER_DEFAULTS = {"dataset": "cifar10", "image_size": 224, "bn_group": None}


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file.
    The file gets the permissions any new file gets here (mkstemp's are 0600: a shared results
    store would be unreadable to the other users of its cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(o: Any):
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def run_id(config: dict) -> str:
    """``<label>-s<seed>-<hash>``: readable, and unique per semantic config."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}
    if not str(semantic.get("data") or "").startswith("synthetic"):
        # where CIFAR-10 was read from is provenance, not config: a GPU run staged elsewhere is the same run
        semantic["data"] = None
    digest = hashlib.sha256(json.dumps(semantic, sort_keys=True, default=_jsonable).encode()).hexdigest()[:10]
    label = str(config.get("label") or config.get("model", "run")).replace("/", "_").replace(" ", "_")
    return f"{label}-s{config.get('seed', 0)}-{digest}"


def git_info(cwd: Path | None = None) -> dict:
    """Commit and dirty flag of the code that runs. ``CLR_REPRO_COMMIT`` (and ``CLR_REPRO_DIRTY``
    0/1), set by whoever sends a tree to another machine, win over asking git there: a lent GPU
    machine receives the files but may hold a stale copy of ``.git`` (it named the session's
    first commit, dirty, for runs of a later clean one)."""
    if os.environ.get("CLR_REPRO_COMMIT"):
        dirty = {"0": False, "1": True}.get(os.environ.get("CLR_REPRO_DIRTY", ""))
        return {"commit": os.environ["CLR_REPRO_COMMIT"], "dirty": dirty, "source": "CLR_REPRO_COMMIT"}
    cwd = cwd or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def _program() -> str:
    """How the running command was started, as a person would type it again."""
    name = Path(sys.argv[0]).name
    return f"python -m {Path(sys.argv[0]).parent.name}" if name == "__main__.py" else name


def command() -> str:
    """The command a person typed to start this run. A notebook kernel's own argv
    (``ipykernel_launcher.py -f …json``) says nothing, so ``study`` passes its command to the
    kernels it starts in ``CLR_REPRO_COMMAND``."""
    if os.environ.get("CLR_REPRO_COMMAND"):
        return os.environ["CLR_REPRO_COMMAND"]
    if Path(sys.argv[0]).name == "ipykernel_launcher.py":
        return "a notebook opened by hand (its kernel started the run)"
    return " ".join([_program(), *sys.argv[1:]])


def provenance(device: str, data: dict, seed: int) -> dict:
    import numpy
    import torch
    import torchvision

    return {
        "git": git_info(),
        "command": command(),
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__},
        "device": device,
        "device_name": device_name(device),
        "host": platform.node(),
        "data": data,
        "seed": seed,
        # runs sharing the device, as `run-study --parallel` started them: their speeds are per share
        "parallel_runs": int(os.environ.get("CLR_REPRO_PARALLEL", "1")),
    }


SEGMENT_KEYS = ("git", "command", "device_name", "host")


def resumed_provenance(new: dict, old: dict | None, from_iteration: int) -> dict:
    """Provenance of a run (re)started at ``from_iteration``: the latest start at the top level and
    every stretch in ``segments`` (where it began, commit, command, device, host), so a run resumed
    at another commit or on another machine says so instead of wearing only the last one."""
    past = []
    if old and from_iteration > 0:
        past = old.get("segments") or [{"from_iteration": 0, **{k: old.get(k) for k in SEGMENT_KEYS}}]
        past = [seg for seg in past if seg["from_iteration"] < from_iteration]  # stretches rewound past
    return new | {"segments": [*past, {"from_iteration": from_iteration, **{k: new.get(k) for k in SEGMENT_KEYS}}]}


class RunLocked(ValueError):
    """Another live process is writing this run folder."""


class RunLock:
    """One writer per run folder: ``<run-id>.lock`` beside the folder (so ``--force``, which
    deletes the folder, is covered too) holds the writer's pid and host. A second writer is
    refused with one line naming both; a lock left by a dead process on this host (SIGKILL) is
    taken over. Use as a context manager around everything that writes the folder."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)
        self.path = self.run_path.parent / f".{self.run_path.name}.lock"

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": platform.node()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                owner = self._owner()
                if owner is None:  # being written this instant, or torn: look again
                    time.sleep(0.05)
                    owner = self._owner() or {}
                if owner.get("host") == me["host"] and owner.get("pid") and not self._alive(int(owner["pid"])):
                    self.path.unlink(missing_ok=True)  # its writer is gone (killed): the run resumes from its checkpoint
                    continue
                raise RunLocked(f"run folder {self.run_path} is being written by pid {owner.get('pid', '?')} on "
                                f"{owner.get('host', '?')}: wait for it to finish (or stop it), then run again") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return self
        raise RunLocked(f"run folder {self.run_path}: could not take its lock {self.path}")

    def __exit__(self, *exc) -> None:
        owner = self._owner()
        if owner and owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


class RunDir:
    """One run's folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")  # appended while the run goes on
    metrics_gz = property(lambda self: self.path / "metrics.jsonl.gz")  # what a finished run keeps
    summary = property(lambda self: self.path / "summary.json")
    provenance = property(lambda self: self.path / "provenance.json")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")

    def finished(self) -> bool:
        return self.summary.exists() and read_json(self.summary).get("status") in ("finished", "diverged")

    def append_metrics(self, rows: Iterable[dict]) -> None:
        with open(self.metrics, "a") as f:
            for r in rows:
                f.write(json.dumps(r, default=_jsonable) + "\n")

    def truncate_metrics(self, up_to_iteration: int) -> None:
        """Drop rows logged after the checkpoint a resumed run continues from, and a last line
        torn by a kill mid-write (the checkpoint, not the log, says where the run stands)."""
        if not self.metrics.exists():
            return
        lines = [line for line in self.metrics.read_text().splitlines() if line.strip()]
        keep = []
        for n, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                if n == len(lines):
                    break  # torn last line
                raise ValueError(f"{self.metrics} line {n} is corrupt ({e}); only a torn last line is repaired") from e
            if row["iteration"] <= up_to_iteration:
                keep.append(line)
        write_atomic(self.metrics, "".join(k + "\n" for k in keep))

    def rows(self) -> list[dict]:
        """Every logged row, from whichever form the metrics are in."""
        return [json.loads(line) for line in read_metrics_text(self.path).splitlines() if line.strip()]

    def compress_metrics(self) -> None:
        """metrics.jsonl -> metrics.jsonl.gz (a seventh of the bytes), atomically; byte-identical
        for identical rows (no timestamp in the gzip header), so re-storing a run leaves git clean."""
        if not self.metrics.exists():
            return
        write_atomic(self.metrics_gz, gzip.compress(self.metrics.read_bytes(), compresslevel=9, mtime=0))
        self.metrics.unlink()

    def load(self) -> Run:
        return Run(self.path)


def read_metrics_text(run_path: Path) -> str:
    """A run's metrics as JSON lines: the plain file of a running run, else the gzipped one."""
    plain, packed = Path(run_path) / "metrics.jsonl", Path(run_path) / "metrics.jsonl.gz"
    if plain.exists():
        return plain.read_text()
    if packed.exists():
        return gzip.decompress(packed.read_bytes()).decode()
    return ""


def last_iteration(run_path: Path | str) -> int:
    """The last iteration a running run's metrics file logged (0 before its first line): how far
    it is, read from outside the process that trains it."""
    m = RunDir(Path(run_path)).metrics
    if not m.exists():
        return 0
    with open(m, "rb") as f:
        f.seek(max(0, m.stat().st_size - 4096))
        tail = f.read().decode(errors="ignore").splitlines()
    for line in reversed(tail[1:] if len(tail) > 1 else tail):  # the first may be cut by the seek
        try:
            return int(json.loads(line)["iteration"])
        except (ValueError, KeyError, TypeError):  # a line being written
            continue
    return 0


class Run:
    """A stored run, read back: ``config``, ``summary``, ``provenance``, ``metrics`` (DataFrame)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        d = RunDir(path)
        self.config = read_json(d.config)
        self.summary = read_json(d.summary) if d.summary.exists() else {}
        self.provenance = read_json(d.provenance) if d.provenance.exists() else {}

    @property
    def metrics(self) -> pd.DataFrame:
        text = read_metrics_text(self.path)
        if not text.strip():
            return pd.DataFrame()
        return pd.read_json(io.StringIO(text), lines=True)

    def evals(self) -> pd.DataFrame:
        m = self.metrics
        return m[m["kind"] == "eval"].reset_index(drop=True) if len(m) else m

    def __repr__(self) -> str:
        return f"Run({self.path})"


def find_runs(root: Path | str = DEFAULT_ROOT, experiment: str | None = None, **match: Any) -> list[Run]:
    """Stored runs (with a summary) under ``root``, optionally of one experiment and matching
    config values, e.g. ``find_runs(claim="C4", profile="full")``."""
    root = Path(root)
    pattern = f"{experiment}/*/config.json" if experiment else "*/*/config.json"
    runs = []
    for cfg in sorted(root.glob(pattern)):
        run = Run(cfg.parent)
        if run.summary and all(run.config.get(k) == v for k, v in match.items()):
            runs.append(run)
    return runs


Results = dict[str, list[Run]]


def study_results(root: Path | str, study: str, profile: str) -> Results:
    """Stored runs of one study and profile, grouped by label."""
    out: Results = {}
    for run in find_runs(root, study, profile=profile):
        out.setdefault(run.config.get("label") or run.path.name, []).append(run)
    return out


def summaries(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run: config keys and summary keys side by side (tables in notebooks), with the
    device and the step mode it trained on, and ``test_accuracy_jpeg_corrected``: the reading
    CLAIMS.md's verdicts read (:mod:`reproduce.readings`), where the run's test set was partly JPEG."""
    from .readings import run_readings
    from .train import step_mode_of  # train imports this module

    rows = []
    for r in runs:
        row = {k: v for k, v in r.config.items() if not isinstance(v, dict | list)}
        row.update(r.summary)
        judged = run_readings(r).get("corrected") if r.summary.get("test_accuracy_exact_as_jpeg") is not None else None
        if judged is not None:
            row["test_accuracy_jpeg_corrected"] = judged.value
        row["device_name"] = r.provenance.get("device_name")
        row["step_mode"] = step_mode_of(r.summary)
        row["path"] = str(r.path)
        rows.append(row)
    return pd.DataFrame(rows)
