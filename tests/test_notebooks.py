"""Every study notebook really executes (papermill, smoke parameters, synthetic data), and the
figures and claims table are built from what the runs stored."""

import base64
import io
import re
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from reproduce import claims, figures
from reproduce.notebooks import render
from reproduce.studies import STUDIES, load_spec, run_study


@pytest.mark.parametrize("study", STUDIES)
def test_notebook_executes_with_smoke_parameters(study, tmp_path):
    path = render(study, "smoke", out=str(tmp_path / "results"), dest=tmp_path / "nb")
    nb = nbformat.read(path, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert pngs or study == "02_stepsize"
    # shown as the figure files are stored: 256-colour PNGs, a third of the bytes (reproduce.plots)
    assert all(Image.open(io.BytesIO(base64.b64decode(png))).mode == "P" for png in pngs)
    assert path.with_suffix(".html").stat().st_size > 10_000
    if study not in ("01_schedules", "02_stepsize"):
        text = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
        assert "not a reproduction" in text  # the smoke banner


def test_claims_and_figures_come_from_stored_runs(tmp_path):
    root = tmp_path / "results"
    spec = load_spec("07_adam_clr", "smoke") | {"out": str(root), "profile": "full"}  # pretend: checks the plumbing
    res = run_study(spec)
    md = claims.claims_markdown(root)
    row = next(line for line in md.splitlines() if line.startswith("| C8 |"))
    clr = res["adam-clr"][0].summary["test_accuracy"]
    fixed = res["adam-fixed"][0].summary["test_accuracy"]
    assert f"{100 * clr:.2f} %" in row and f"{100 * fixed:.2f} %" in row
    assert f"CLR minus fixed (every test image exact): {100 * (clr - fixed):+.2f} points" in row  # synthetic data
    assert re.search(r"\*\*inconclusive\*\*", row)  # one seed each: the spread is not measured
    assert "**The rule**, one for every claim" in md
    c9 = next(line for line in md.splitlines() if line.startswith("| C9 |"))
    assert "**reproduced**" in c9 and "5,005" in c9
    c4 = next(line for line in md.splitlines() if line.startswith("| C4 |"))
    assert "not run yet" in c4 and "GPU" in c4 and "missing: one_cycle (seed 0)" in c4
    written = figures.make_all(root, tmp_path / "figs", profiles=("full",))
    names = {p.name for p in written}
    assert {"07_adam_clr_C8.png", "07_adam_clr_C8.pdf", "01_schedules.png"} <= names
    assert "04_clr_vs_fixed_C3.png" not in names  # no runs stored, no figure


def test_render_from_cache_trains_nothing_and_lists_missing(tmp_path):
    from reproduce.studies import banner

    spec = load_spec("07_adam_clr", "smoke") | {"out": str(tmp_path), "profile": "full", "train_missing": False}
    assert run_study(spec) == {}
    assert not list(tmp_path.rglob("metrics.jsonl*"))
    text = banner("full", spec)
    assert "Not yet run" in text and "adam-clr (seed 0)" in text and "adam-range (seed 0)" in text
    assert "`test_accuracy_jpeg_corrected`" in text  # a study of trained runs says which accuracy is judged
    assert "test_accuracy" not in banner("full", spec | {"runs": []})  # range tests alone: no final scores


def test_reproduce_says_what_it_did_and_where_to_look(tmp_path, monkeypatch, capsys):
    import json

    from reproduce import notebooks

    root = tmp_path / "results"

    def store(label):
        d = root / "07_adam_clr" / f"{label}-s0-0000"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"label": label, "seed": 0, "profile": "quick"}))
        (d / "summary.json").write_text(json.dumps({"status": "finished"}))

    store("adam-fixed")  # already in the store
    written = {}
    monkeypatch.setattr(notebooks, "render", lambda study, *a, dest, **k: store("adam-clr") or
                        written.setdefault("notebook", dest / f"{study}.ipynb"))
    monkeypatch.setattr(notebooks, "make_all", lambda store, dest: written.setdefault("figures", dest) and [])
    monkeypatch.setattr(claims, "write_claims", lambda store, dest: written.setdefault("claims", Path(dest)))
    assert notebooks.run_profile(profile="quick", only=["07_adam_clr"], out=str(root)) == 0
    out = capsys.readouterr().out
    assert "1 run(s) trained, 1 loaded from the store" in out
    # rendered from another store: every file inside it, none over the checkout's record
    assert written == {"notebook": root / "notebooks" / "executed" / "quick" / "07_adam_clr.ipynb",
                       "figures": root / "figures", "claims": root / "CLAIMS.md"}
    shown = root.resolve()  # messages give a path outside the checkout whole
    assert f"{shown}/notebooks/executed/quick/ (the notebooks)" in out and f"{shown}/figures/quick/ (PNG" in out
    # the fake stored run's id is no study file's: the plan warns that it would join its label's runs
    assert "warning: 1 stored run folder(s) that no study file lists" in out and "adam-fixed-s0-0000" in out


def test_a_plan_too_long_for_a_cpu_says_so_in_hours_and_what_else_to_do(tmp_path, monkeypatch, capsys):
    """`make reproduce PROFILE=full` on a laptop planned "about 6210.0 min" of ResNet-56 and said no more."""
    from reproduce import notebooks

    monkeypatch.setattr(notebooks.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(notebooks, "render", lambda study, *a, **k: notebooks.executed_dir("quick") / f"{study}.ipynb")
    monkeypatch.setattr(notebooks, "make_all", lambda *a, **k: [])
    monkeypatch.setattr(claims, "write_claims", lambda root, dest: Path(dest))
    for per_run, planned, note in ((6 * 3600.0, "about 18.0 h of training", True),  # three runs
                                   (60.0, "about 3.0 min of training", False)):
        monkeypatch.setattr(notebooks, "estimate", lambda jobs, device, s=per_run: dict.fromkeys(range(len(jobs)), s))
        assert notebooks.run_profile(profile="quick", only=["07_adam_clr"], out=str(tmp_path)) == 0
        lines = capsys.readouterr().out.splitlines()
        assert planned in next(line for line in lines if line.startswith("plan:"))
        assert any(line.startswith("note: that is a GPU's work") and "--no-train" in line for line in lines) is note


def test_a_stop_that_lands_as_a_notebook_finishes_starts_no_further_notebook(tmp_path, monkeypatch):
    """Ctrl-C handed to a kernel whose last cell had just run fails no cell: study must still stop there."""
    from reproduce import notebooks

    rendered = []

    def render(study, profile, **_k):
        rendered.append(study)
        notebooks._STOP["requested"] = True  # the signal came while this notebook was finishing
        return notebooks.executed_dir("smoke") / f"{study}.ipynb"

    monkeypatch.setattr(notebooks, "render", render)
    with notebooks.stops_handed_to_kernels(), pytest.raises(KeyboardInterrupt):
        notebooks.run_profile("smoke", only=["01_schedules", "02_stepsize"], out=str(tmp_path), train_missing=False)
    assert rendered == ["01_schedules"] and notebooks._STOP["requested"] is False  # reset on the way out


def test_a_failed_notebook_never_replaces_the_last_good_one(tmp_path, monkeypatch, capsys):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from reproduce import notebooks

    dest = tmp_path / "nb"
    dest.mkdir()
    good = dest / "07_adam_clr.ipynb"
    good.write_text("the committed record")

    def fails(src, out, **_k):
        Path(out).write_text("half executed")
        raise PapermillExecutionError(3, 3, "load_cifar10()", "DataError", "data=download failed: ... --data PATH", [])

    monkeypatch.setattr(pm, "execute_notebook", fails)
    monkeypatch.setattr(notebooks, "executed_dir", lambda profile, base=None: dest)
    with pytest.raises(PapermillExecutionError):
        notebooks.render("07_adam_clr", "quick", dest=dest)
    assert good.read_text() == "the committed record" and (dest / "07_adam_clr.failed.ipynb").exists()
    assert notebooks.run_profile(profile="quick", only=["07_adam_clr"], out=str(tmp_path / "r")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == ["error: data=download failed: ... --data PATH"]  # the progress bar aside, one line


def test_rendering_twice_gives_the_same_file_and_no_machine_paths(tmp_path):
    """Re-rendering unchanged results must leave git clean: no times, durations, paths or random ids."""
    first = render("02_stepsize", "smoke", out=str(tmp_path / "results"), dest=tmp_path / "a").read_bytes()
    second = render("02_stepsize", "smoke", out=str(tmp_path / "results"), dest=tmp_path / "b").read_bytes()
    assert first == second
    assert b"input_path" not in first and b"start_time" not in first and b"duration" not in first


def test_committed_notebooks_hold_no_machine_paths():
    root = Path(__file__).resolve().parents[1]
    for nb in sorted((root / "notebooks" / "executed").rglob("*.ipynb")):
        text = nb.read_text()
        assert "input_path" not in text and str(root) not in text, nb


def test_no_train_changes_a_notebook_only_where_runs_are_missing(tmp_path, monkeypatch):
    """--no-train renders a study with nothing missing exactly as make reproduce does (git stays clean)."""
    from reproduce import notebooks

    seen = {}

    def render(study, profile, out=None, dest=None, parameters=None):
        seen[study] = parameters
        return notebooks.executed_dir(profile) / f"{study}.ipynb"

    monkeypatch.setattr(notebooks, "render", render)
    monkeypatch.setattr(notebooks, "make_all", lambda *a, **k: [])
    monkeypatch.setattr(claims, "write_claims", lambda root, dest: Path(dest))
    assert notebooks.run_profile("smoke", only=["02_stepsize", "07_adam_clr"], out=str(tmp_path), train_missing=False) == 0
    assert seen == {"02_stepsize": None, "07_adam_clr": {"train_missing": False}}
