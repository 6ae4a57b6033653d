"""Bring runs back from a GPU machine: the finished run folders of an archive, checked, into the store.

A loan run by ``experiments/leases/loan.sh`` returns its ``$OUT`` folder: ``results.tgz``, the
benchmark JSONs it measured (``modes*.json``), profiles of the step (``profile-*.json``, each with its
table) and a log per command. Given that folder, ``import-runs`` also files the JSONs beside the
stored ones under dated names (``benchmarks/results/throughput-modes-<date>-<gpu>.json``,
``throughput-b128-…`` for another batch, ``profile-<mode>-…``), which every later ``run-study`` and the
README's performance table read, and the logs as one lease log (``experiments/leases/<date>-<gpu>.log``).

A lent GPU's runs come back as a tarball, and the minutes after a loan are few. What may enter
``experiments/results/`` is a finished run (``summary.json``) whose folder name is its config's id,
whose provenance names a clean commit, the command, the device and the data's checksum, whose
per-image verdicts (where it kept them) add up to its accuracies, and whose data is the data the
stored full-profile runs used. Every other folder is named with its reason and
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

from .evaluation import verdicts_disagree
from .lease import BENCHMARKS
from .results import DEFAULT_ROOT, read_json, run_id, write_atomic

LEFT_BEHIND = ("checkpoint.pt", "checkpoint.tmp")  # a finished run needs neither; they are megabytes
LEASES = Path("experiments/leases")  # what each loan's commands printed
LOAN_ARCHIVE = "results.tgz"  # what loan.sh leaves in $OUT beside its logs and benchmark JSONs
LOAN_STEPS = ("bench", "train")  # loan.sh's two commands, in the order a loan runs them


def loan_archive(source: Path | str) -> Path | None:
    """The results archive of a loan's returned folder (``loan.sh``'s ``$OUT``), else None."""
    path = Path(source) / LOAN_ARCHIVE
    return path if Path(source).is_dir() and path.is_file() else None


def _log_header(folder: Path) -> dict[str, str]:
    """``date``, ``commit`` and ``gpu`` from the loan's logs (``# loan.sh STEP at DATE..., commit C`` and
    ``# gpu: NAME``), the first log that says each."""
    found: dict[str, str] = {}
    for step in LOAN_STEPS:
        log = folder / f"{step}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if m := re.search(r"^# loan\.sh \w+ at (\d{4}-\d\d-\d\d)\S*, commit (\S+)", text, re.M):
            found.setdefault("date", m.group(1))
            found.setdefault("commit", m.group(2))
        if (m := re.search(r"^# gpu: (.*)$", text, re.M)) and m.group(1).strip():  # empty: nvidia-smi said nothing
            found.setdefault("gpu", m.group(1).strip())
    return found


def gpu_slug(name: str) -> str:
    """``h100`` for "NVIDIA H100 80GB HBM3": the model in a GPU's name, as the stored file names give it."""
    m = re.search(r"\b([A-Za-z]+\d+[A-Za-z]?)\b", name.replace("NVIDIA", ""))
    return (m.group(1) if m else re.sub(r"\W+", "-", name).strip("-") or "gpu").lower()


def _free(path: Path) -> Path:
    """``path``, or ``name-2``, ``name-3``... where a file of that name exists (a second loan that day)."""
    out, k = path, 1
    while out.exists():
        k += 1
        out = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return out


def file_loan(folder: Path | str, *, dry_run: bool = False, benchmarks: Path | str = BENCHMARKS,
              leases: Path | str = LEASES) -> list[str]:
    """File a loan's benchmark JSONs (those that timed a step mode) and its logs; a line for each file
    written (``would file`` with ``dry_run``)."""
    folder, lines = Path(folder), []
    head = _log_header(folder)
    day = head.get("date", "unknown-date")
    for src in sorted(folder.glob("modes*.json")):
        bench = read_json(src)
        if not any(m.get("images_per_s") for m in bench.get("modes", [])):
            continue  # stopped before it timed a mode: nothing to estimate from
        kind = "modes" if bench.get("batch_size") == 512 else f"b{bench.get('batch_size')}"
        dest = _free(Path(benchmarks) / f"throughput-{kind}-{day}-{gpu_slug(bench.get('device_name') or head.get('gpu', ''))}.json")
        lines.append(f"{'would file' if dry_run else 'filed'} {src.name} as {dest}")
        if not dry_run:
            write_atomic(dest, src.read_bytes())
    for src in sorted(folder.glob("profile*.json")):  # where a step's time goes (benchmarks/profile_step.py)
        prof = read_json(src)
        if not prof.get("kinds"):
            continue  # stopped before it profiled
        gpu = gpu_slug(prof.get("device_name") or head.get("gpu", ""))
        dest = _free(Path(benchmarks) / f"profile-{prof.get('mode', 'eager')}-{day}-{gpu}.json")
        table = src.with_suffix(".txt")
        lines.append(f"{'would file' if dry_run else 'filed'} {src.name}{' and ' + table.name if table.exists() else ''} "
                     f"as {dest}{' and .txt' if table.exists() else ''}")
        if not dry_run:
            write_atomic(dest, src.read_bytes())
            if table.exists():
                write_atomic(dest.with_suffix(".txt"), table.read_bytes())
    logs = [(step, folder / f"{step}.log") for step in LOAN_STEPS if (folder / f"{step}.log").exists()]
    if logs:
        gpu = head.get("gpu", "an unnamed GPU")
        dest = _free(Path(leases) / f"{day}-{gpu_slug(gpu)}.log")
        lines.append(f"{'would file' if dry_run else 'filed'} {', '.join(p.name for _, p in logs)} as {dest}")
        if not dry_run:
            text = (f"# GPU loan of {day}, {gpu}, commit {head.get('commit', '?')}: what each command of "
                    "experiments/leases/loan.sh printed.\n")
            text += "".join(f"\n## loan.sh {step}\n{p.read_text(errors='replace')}" for step, p in logs)
            write_atomic(dest, text)
    return lines


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
    if problem := verdicts_disagree(summary):
        return "refused", f"its per-image verdicts do not match its summary ({problem})"
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
    kept = ", per-image verdicts" if "test_correct_bits" in summary else ""
    return "import", f"{summary.get('status')}, {prov.get('device_name')}, commit {commit}{kept}"


def import_runs(source: Path | str, into: Path | str = DEFAULT_ROOT, *, dry_run: bool = False,
                allow_dirty: bool = False) -> list[dict]:
    """Check every run folder under ``source`` (a tarball or folder holding ``<study>/<run-id>/``
    folders at any depth) and copy those that pass into ``into``, atomically, without checkpoints.
    Returns one row per run: study, run, verdict, reason."""
    into = Path(into)
    rows = []
    with _opened(loan_archive(source) or Path(source)) as root:
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
