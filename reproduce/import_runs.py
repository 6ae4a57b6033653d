"""Bring runs back from a GPU machine: the finished run folders of an archive, checked, into the store.

A lent GPU's runs come back as a tarball, and the minutes after a loan are few. What may enter
``experiments/results/`` is a finished run (``summary.json``) whose folder name is its config's id,
whose provenance names a clean commit, the command, the device and the data's checksum, and whose
data is the data the stored full-profile runs used. Every other folder is named with its reason and
left out: an unfinished run (its checkpoint stays in the archive, to resume), a folder that differs
from a stored run of the same id (never overwritten), a run of an uncommitted tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .results import DEFAULT_ROOT, read_json, run_id

LEFT_BEHIND = ("checkpoint.pt", "checkpoint.tmp")  # a finished run needs neither; they are megabytes


@contextmanager
def _opened(source: Path):
    """``source`` as a folder: itself, or a tar archive unpacked (data filter: no links out, no devices)."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise FileNotFoundError(f"source={str(source)!r} is invalid: expected a results archive (.tgz/.tar) or folder")
    try:
        tar = tarfile.open(source)
    except tarfile.TarError as e:
        raise ValueError(f"source={str(source)!r} is invalid: expected a tar archive "
                         f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    with tar, tempfile.TemporaryDirectory() as tmp:
        tar.extractall(tmp, filter="data")
        yield Path(tmp)


def _data_sha(prov: dict, split: str) -> str | None:
    return ((prov.get("data") or {}).get(split) or {}).get("sha256")


def _full_cifar10(config: dict) -> bool:
    return config.get("profile") == "full" and config.get("dataset", "cifar10") == "cifar10"


def _stored_data(into: Path) -> dict[str, set[str]]:
    """The train and test checksums of the stored full-profile runs: the data a new one must match."""
    out: dict[str, set[str]] = {"train": set(), "test": set()}
    for cfg in into.glob("*/*/config.json"):
        prov, config = cfg.parent / "provenance.json", read_json(cfg)
        if prov.exists() and _full_cifar10(config):
            p = read_json(prov)
            for split in out:
                if sha := _data_sha(p, split):
                    out[split].add(sha)
    return out


def check(run: Path, into: Path, stored_data: dict[str, set[str]], allow_dirty: bool = False) -> tuple[str, str]:
    """``(verdict, reason)`` for one run folder: ``import``, ``stored``, ``unfinished`` or ``refused``."""
    config = read_json(run / "config.json")
    if run_id(config) != run.name:
        return "refused", f"its folder name is not its config's id ({run_id(config)})"
    target = into / run.parent.name / run.name
    if not (run / "summary.json").exists():
        done = "a checkpoint to resume from" if (run / "checkpoint.pt").exists() else "no checkpoint"
        return "unfinished", f"no summary.json ({done})"
    summary = read_json(run / "summary.json")
    if (target / "summary.json").exists() and read_json(target / "summary.json") == summary:
        return "stored", "stored already"
    prov = read_json(run / "provenance.json") if (run / "provenance.json").exists() else {}
    segments = prov.get("segments") or [prov]
    missing = [k for k in ("command", "device_name", "seed") if prov.get(k) is None]
    missing += [] if all(re.fullmatch(r"[0-9a-f]{7,40}", str((s.get("git") or {}).get("commit"))) for s in segments) \
        else ["git commit"]
    missing += [] if _data_sha(prov, "train") else ["data checksum"]
    missing += [] if summary.get("wall_time_s") is not None else ["wall time"]
    if missing:
        return "refused", f"its provenance lacks {', '.join(missing)}"
    dirty = any((s.get("git") or {}).get("dirty") for s in segments)
    if dirty and not allow_dirty:
        return "refused", ("it ran from a tree with uncommitted changes (git dirty): no commit holds its code "
                           "(--allow-dirty imports it anyway)")
    if _full_cifar10(config):
        for split, known in stored_data.items():
            sha = _data_sha(prov, split)
            if known and sha not in known:
                return "refused", (f"its {split} data (sha256 {str(sha)[:12]}) is not the stored full-profile runs' "
                                   f"({', '.join(sorted(x[:12] for x in known))})")
    if target.exists():
        return "refused", f"a different run of the same id is stored in {target} (not overwritten)"
    commit = segments[-1]["git"]["commit"][:7] + (" (dirty)" if dirty else "")
    return "import", f"{summary.get('status')}, {prov.get('device_name')}, commit {commit}"


def import_runs(source: Path | str, into: Path | str = DEFAULT_ROOT, *, dry_run: bool = False,
                allow_dirty: bool = False) -> list[dict]:
    """Check every run folder under ``source`` (a tarball or folder holding ``<study>/<run-id>/``
    folders at any depth) and copy those that pass into ``into``, atomically, without checkpoints.
    Returns one row per run: study, run, verdict, reason."""
    into = Path(into)
    rows = []
    with _opened(Path(source)) as root:
        runs = sorted({c.parent for c in root.rglob("config.json")})
        if not runs:
            raise ValueError(f"source={str(source)!r} is invalid: it holds no run folder (<study>/<run-id>/config.json)")
        stored = _stored_data(into)
        for run in runs:
            verdict, reason = check(run, into, stored, allow_dirty)
            rows.append({"study": run.parent.name, "run": run.name, "verdict": verdict, "reason": reason})
            if verdict != "import" or dry_run:
                continue
            study = into / run.parent.name
            study.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{run.name}.", dir=study))
            try:
                shutil.copytree(run, tmp, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(*LEFT_BEHIND, "*.lock", "*.tmp"))
                os.replace(tmp, study / run.name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return rows


def report(rows: list[dict]) -> str:
    """A line per run that is new or left out (stored ones only counted), then the counts."""
    lines = [f"{r['verdict']:10s} {r['study']}/{r['run']}: {r['reason']}" for r in rows if r["verdict"] != "stored"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("import", "stored", "unfinished", "refused")}
    lines.append(json.dumps(counts))
    return "\n".join(lines)
