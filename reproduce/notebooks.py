"""``make reproduce``: execute every study notebook with papermill, export HTML, then figures
and CLAIMS.md. Notebooks train through the results cache, so stored runs are only rendered."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm
from traitlets.config import Config

from .figures import make_all
from .progress import PlanProgress, estimate, planned
from .results import DEFAULT_ROOT, command, find_runs, write_atomic
from .studies import STUDIES, load_spec, unlisted_runs
from .train import signals_handled

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def default_profile() -> tuple[str, str]:
    if torch.cuda.is_available():
        return "full", f"CUDA device found ({torch.cuda.get_device_name(0)}): the papers' settings"
    return "quick", "no CUDA device: the quick CPU profile (smoke runs, not a reproduction)"


def executed_dir(profile: str, base: Path = ROOT) -> Path:
    """Full-profile notebooks are the study's record (``notebooks/executed/``); the others go
    to a sub-folder so a CPU smoke run never overwrites them. ``base``: the checkout, or the
    store that ``study --out`` renders into."""
    folder = Path(base) / "notebooks" / "executed"
    return folder if profile == "full" else folder / profile


def _shown(path: Path) -> str:
    """A path as a message gives it: from the checkout's root where it lies inside."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# A kernel being shut down is killed after jupyter_client's shutdown_wait_time (5 s). A run checkpoints
# after the step (and any evaluation) it is in when interrupted, which on a CPU can take longer than that:
# a kill then would lose the steps since its last periodic checkpoint.
PATIENT_KERNEL = Config({"KernelManager": {"shutdown_wait_time": 120.0}})

# Stopping `study`. Its runs train in a notebook kernel, in a process session of its own that neither
# Ctrl-C nor SIGTERM reaches. So the first of either is handed on to the kernel as an interrupt: the run
# there checkpoints at the step it reached and its cell fails, and `render` turns that failure into the
# KeyboardInterrupt that ends `study` with its one-line message. A second signal, or one that comes while
# no kernel runs, stops `study` at once.
_KERNELS: list = []  # the kernel managers of the notebooks executing now
_STOP = {"requested": False}


def _interrupt_kernels() -> bool:
    """SIGINT to each running kernel's process group, as jupyter_client interrupts one (called from a
    signal handler, so no event loop): False where no kernel runs yet."""
    sent = False
    for km in list(_KERNELS):
        prov = getattr(km, "provisioner", None)
        pgid, pid = getattr(prov, "pgid", None), getattr(prov, "pid", None)
        try:
            if pgid:
                os.killpg(pgid, signal.SIGINT)
            elif pid:
                os.kill(pid, signal.SIGINT)
            else:
                continue
            sent = True
        except ProcessLookupError:
            pass
    return sent


@contextmanager
def stops_handed_to_kernels():
    """Ctrl-C and SIGTERM while the notebooks execute: handed to the running kernel first (above)."""

    def on_signal(signum, _frame):
        if _STOP["requested"] or not _interrupt_kernels():
            raise KeyboardInterrupt
        _STOP["requested"] = True

    _STOP["requested"] = False
    try:
        with signals_handled(on_signal, (signal.SIGINT, signal.SIGTERM)):
            yield
    finally:
        _STOP["requested"] = False

VOLATILE_CELL_KEYS = ("execution", "papermill")  # timestamps and durations of each cell


def stable(nb):
    """The notebook without what changes from one rendering of the same results to the next (times,
    durations, the machine's paths, the Python patch version), so re-rendering leaves git clean."""
    pm = nb.metadata.get("papermill")
    if pm is not None:
        nb.metadata["papermill"] = {k: v for k, v in pm.items()
                                    if k in ("parameters", "default_parameters", "version", "exception")}
    nb.metadata.get("language_info", {}).pop("version", None)
    nb.metadata.pop("widgets", None)  # widget state of progress bars
    for cell in nb.cells:
        for k in VOLATILE_CELL_KEYS:
            cell.metadata.pop(k, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill draws a random id for the cell it adds
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_progress(o)]
    return nb


def _is_progress(output) -> bool:
    """tqdm bars and widget views: their text holds speeds and times."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return "it/s]" in output.get("text", "") or "s/it]" in output.get("text", "")
    return "application/vnd.jupyter.widget-view+json" in output.get("data", {})


def render(study: str, profile: str, *, out: str | None = None, dest: Path | None = None,
            parameters: dict | None = None) -> Path:
    """Run one notebook with its profile's parameters (plus overrides) and export HTML beside it."""
    import nbformat
    import papermill as pm
    from jupyter_client.manager import KernelManager
    from nbconvert import HTMLExporter
    from papermill.exceptions import PapermillExecutionError

    params = load_spec(study, profile) | (parameters or {})
    if out:
        params["out"] = str(out)
    dest = Path(dest or executed_dir(profile))
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{study}.ipynb"
    # rendered beside the target and moved into place only when every cell ran: a failure never
    # replaces the committed notebook with a half-executed one (the failed copy is kept, named so)
    partial = dest / f"{study}.failed.ipynb"
    os.environ.setdefault("CLR_REPRO_COMMAND", command())  # what the runs' provenance records, not the kernel's argv
    class Tracked(KernelManager):  # papermill's kernel manager, known here so that a signal can reach its kernel
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            _KERNELS.append(self)

    try:
        pm.execute_notebook(str(NOTEBOOKS / f"{study}.ipynb"), str(partial), parameters=params, cwd=str(ROOT),
                            kernel_name="python3", progress_bar=False, log_output=False, config=PATIENT_KERNEL,
                            kernel_manager_class=Tracked,
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])  # no TCP / shutdown chatter
    except (PapermillExecutionError, KeyboardInterrupt) as e:
        if isinstance(e, PapermillExecutionError) and not _STOP["requested"]:
            raise  # a failure: the partly executed copy stays, named so
        partial.unlink(missing_ok=True)  # stopped, not failed
        raise KeyboardInterrupt from None
    finally:
        _KERNELS.clear()  # one notebook executes at a time
    nb = stable(nbformat.read(partial, as_version=4))
    nbformat.write(nb, partial)
    os.replace(partial, target)
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    write_atomic(target.with_suffix(".html"), html)
    return target


CPU_HINT_S = 3 * 3600  # training a plan longer than this on a CPU gets a note on what else to do


def _hours_or_minutes(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 7200 else f"{seconds / 60:.1f} min"


def run_profile(profile: str | None = None, only: list[str] | None = None, out: str | None = None,
              train_missing: bool = True, data: str | None = None) -> int:
    from papermill.exceptions import PapermillExecutionError

    from .claims import (  # here: claims needs scipy, which run-study machines may lack
        write_claims,
        write_readme,
    )

    if profile is None:
        profile, why = default_profile()
    else:
        why = "as requested"
    print(f"profile: {profile} — {why}", flush=True)
    root = out or str(DEFAULT_ROOT)
    # what is rendered from another store goes inside it: the checkout's record shows only its own store
    base = Path(out) if out else ROOT
    t0 = time.perf_counter()
    before = {str(r.path) for r in find_runs(root, profile=profile)}
    studies = [s for s in STUDIES if not only or s in only]
    unknown = set(only or ()) - set(STUDIES)
    if unknown:
        raise ValueError(f"unknown study {sorted(unknown)}: expected some of {', '.join(STUDIES)}")
    missing = planned(profile, studies, root)
    jobs = missing if train_missing else []
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds = estimate(jobs, device) if jobs else {}
    total = sum(seconds.values())
    print(f"plan: {len(jobs)} run(s) to train (about {_hours_or_minutes(total)} of training, timed on "
          f"this machine), {len(studies)} notebook(s) to render; stored runs are loaded, not re-run", flush=True)
    if device == "cpu" and total > CPU_HINT_S:
        print("note: that is a GPU's work (ResNet-56's runs above all: docs/gpu.md). Ctrl-C stops it and keeps every "
              "step; `--no-train` renders the notebooks, figures and CLAIMS.md from the stored runs alone, and "
              "`--only STUDY` trains one study", flush=True)
    stale = unlisted_runs(root)
    if stale:  # notebooks, figures and CLAIMS.md group stored runs by label: these would join their label's runs
        print(f"warning: {len(stale)} stored run folder(s) that no study file lists (a YAML changed their settings "
              f"since they ran) would be shown beside the runs it lists: remove them ({', '.join(map(str, stale[:3]))}"
              f"{', ...' if len(stale) > 3 else ''})", flush=True)
    with PlanProgress(jobs, seconds, len(studies), desc=f"{profile} profile") as bar:
        for study in studies:
            if _STOP["requested"]:  # a stop handed to a kernel whose notebook then finished: none after it
                raise KeyboardInterrupt
            bar.working_on(f"notebook {study}")
            try:
                # --no-train matters only where runs are missing; elsewhere the notebook is the same as
                # make reproduce's, so it is rendered the same (and re-rendering leaves git clean)
                no_train = not train_missing and any(j.file == study for j in missing)
                params = ({"train_missing": False} if no_train else {}) | ({"data": data} if data else {})
                path = render(study, profile, out=out, dest=executed_dir(profile, base), parameters=params or None)
            except PapermillExecutionError as e:
                failed = executed_dir(profile, base) / f"{study}.failed.ipynb"
                if e.ename == "DataError":  # no data, no download: the one line that says what to do
                    tqdm.write(f"error: {e.evalue}", file=sys.stderr)  # on its own line, above the bar
                    return 2
                tqdm.write(f"\nnotebook {study} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
                           f"(the partly executed copy is {_shown(failed)}; the last good notebook is "
                           "untouched)", file=sys.stderr)
                return 1
            bar.rendered()
            tqdm.write(f"executed {_shown(path)} (+ .html)")
    for path in make_all(root, base / "figures"):
        tqdm.write(f"figure {_shown(path)}")
    claims = write_claims(root, base / "CLAIMS.md")
    if not out:
        write_readme(root, ROOT / "README.md")  # its results-at-a-glance table
    after = {str(r.path) for r in find_runs(root, profile=profile)}
    used = len(after)
    figures = base / "figures" if profile == "full" else base / "figures" / profile
    print(f"done in {time.perf_counter() - t0:.0f} s: {len(after - before)} run(s) trained, "
          f"{used - len(after - before)} loaded from the store ({root}).\n"
          f"Look at {_shown(claims)} (paper against ours), {_shown(executed_dir(profile, base))}/ (the notebooks) "
          f"and {_shown(figures)}/ (PNG and PDF).")
    return 0
