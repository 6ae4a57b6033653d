"""import-runs: what comes back from a GPU loan enters the store only finished, intact and traceable."""

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from reproduce.cli import main

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "experiments" / "results"
C4 = STORED / "05_resnet56_one_cycle" / "one_cycle-s0-ac875bd027"  # an H100 run of a clean commit
WD = STORED / "06_weight_decay" / "wd1e-4-s0-f492fd5468"  # another, already "stored" in the tests' store
C1 = STORED / "03_range_tests" / "C1-resnet56-exp-s0-658b1e3a89"


def _copy(run: Path, root: Path, name: str | None = None) -> Path:
    dest = root / run.parent.name / (name or run.name)
    shutil.copytree(run, dest)
    return dest


def _edit(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for k in parents:
            node = node[k]
        node[leaf] = value
    path.write_text(json.dumps(data))


@pytest.fixture
def loan(tmp_path):
    """A store holding one full-profile GPU run, and what a loan brought back, as run-study leaves it."""
    store, back = tmp_path / "store", tmp_path / "device" / "results"
    _copy(WD, store)
    c4 = _copy(C4, back)
    (c4 / "checkpoint.pt").write_bytes(b"x" * 1000)  # finished runs keep theirs on the device
    unfinished = _copy(C1, back)
    (unfinished / "summary.json").unlink()
    (unfinished / "checkpoint.pt").write_bytes(b"x")
    _copy(WD, back)  # stored already, the same
    archive = tmp_path / "results.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(back, arcname="results")
    return store, archive


def test_finished_runs_enter_the_store_intact_and_the_rest_is_named(loan, capsys):
    store, archive = loan
    assert main(["import-runs", str(archive), "--into", str(store)]) == 3  # one was left out
    out = capsys.readouterr().out
    assert f"import     05_resnet56_one_cycle/{C4.name}: finished, NVIDIA H100 80GB HBM3, commit d9fc721" in out
    assert f"unfinished 03_range_tests/{C1.name}: no summary.json (a checkpoint to resume from)" in out
    assert WD.name not in out and '"stored": 1' in out  # stored already: counted, not listed
    landed = store / C4.parent.name / C4.name
    assert sorted(p.name for p in landed.iterdir()) == sorted(p.name for p in C4.iterdir())  # no checkpoint
    assert all((landed / p.name).read_bytes() == p.read_bytes() for p in C4.iterdir())
    assert not (store / C1.parent.name).exists()
    assert [p.name for p in (store / C4.parent.name).iterdir()] == [C4.name]  # no temporary folder left
    assert main(["import-runs", str(archive), "--into", str(store)]) == 3
    assert '"import": 0, "stored": 2, "unfinished": 1' in capsys.readouterr().out


def test_a_dry_run_copies_nothing(loan, capsys):
    store, archive = loan
    assert main(["import-runs", str(archive), "--into", str(store), "--dry-run"]) == 3
    assert "import     05_resnet56_one_cycle" in capsys.readouterr().out
    assert not (store / C4.parent.name).exists()


@pytest.mark.parametrize("change, reason", [
    ({"provenance.json": {"git.dirty": True, "segments": []}}, "uncommitted changes (git dirty)"),
    ({"provenance.json": {"git.commit": "unknown", "segments": []}}, "its provenance lacks git commit"),
    ({"provenance.json": {"device_name": None}}, "its provenance lacks device_name"),
    ({"provenance.json": {"data.train.sha256": "0" * 64}}, "its train data (sha256 000000000000) is not the stored"),
    ({"summary.json": {"wall_time_s": None}}, "its provenance lacks wall time"),
    ({"config.json": {"seed": 5}}, "its folder name is not its config's id"),
])
def test_a_run_that_cannot_be_traced_is_refused(tmp_path, capsys, change, reason):
    store, back = tmp_path / "store", tmp_path / "back"
    _copy(WD, store)
    run = _copy(C4, back)
    for file, edits in change.items():
        _edit(run / file, **edits)
    assert main(["import-runs", str(back), "--into", str(store)]) == 3
    out = capsys.readouterr().out
    assert out.startswith(f"refused    05_resnet56_one_cycle/{C4.name}: ") and reason in out
    assert not (store / C4.parent.name).exists()


@pytest.mark.parametrize("spoil, reason", [
    (None, None),
    ("flip", "test_correct_bits holds"),  # one image's verdict changed: it no longer adds up to the accuracy
    ("cut", "test_correct_bits: 1336 characters of verdict bits cannot hold exactly 10000 images"),
])
def test_per_image_verdicts_come_in_only_when_they_add_up_to_the_recorded_accuracy(tmp_path, capsys, spoil, reason):
    import numpy as np

    from reproduce.evaluation import pack_verdicts

    store, back = tmp_path / "store", tmp_path / "back"
    _copy(WD, store)
    run = _copy(C4, back)
    summary = json.loads((run / "summary.json").read_text())
    right = np.arange(10_000) < round(summary["test_accuracy_all"] * 10_000)
    if spoil == "flip":
        right[0] = False
    bits = pack_verdicts(right[:8000] if spoil == "cut" else right)
    _edit(run / "summary.json", test_correct_bits=bits, test_n_all=10_000)
    code = main(["import-runs", str(back), "--into", str(store)])
    out = capsys.readouterr().out
    if reason is None:
        assert code == 0 and out.startswith("import ") and "commit d9fc721, per-image verdicts" in out
    else:
        assert code == 3 and "refused" in out and "its per-image verdicts do not match its summary" in out and reason in out


def test_a_dirty_run_comes_in_only_when_asked_and_says_so(tmp_path, capsys):
    store, back = tmp_path / "store", tmp_path / "back"
    _edit(_copy(C4, back) / "provenance.json", **{"git.dirty": True, "segments": []})
    assert main(["import-runs", str(back), "--into", str(store), "--allow-dirty"]) == 0
    assert "commit d9fc721 (dirty)" in capsys.readouterr().out


def test_a_stored_run_is_never_overwritten(tmp_path, capsys):
    store, back = tmp_path / "store", tmp_path / "back"
    stored = _copy(C4, store)
    _edit(_copy(C4, back) / "summary.json", test_accuracy=0.99)
    before = (stored / "summary.json").read_bytes()
    assert main(["import-runs", str(back), "--into", str(store)]) == 3
    assert "a different run of the same id is stored" in capsys.readouterr().out
    assert (stored / "summary.json").read_bytes() == before


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.tgz", "expected a results archive (.tgz/.tar) or folder"),
    (lambda p: (p / "x.tgz").write_text("not a tar") and p / "x.tgz", "expected a tar archive"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "it holds no run folder"),
])
def test_bad_sources_are_one_line(tmp_path, capsys, make, message):
    assert main(["import-runs", str(make(tmp_path)), "--into", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _loan_folder(tmp_path, archive, modes: dict, log_gpu="NVIDIA H200") -> Path:
    """What loan.sh leaves in $OUT: the archive, the benchmark JSONs it measured and a log per command."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(archive, out / "results.tgz")
    for name, bench in modes.items():
        (out / name).write_text(json.dumps(bench))
    (out / "bench.log").write_text(f"# loan.sh bench at 2026-12-08T10:00:00Z, commit abc1234\n# gpu: {log_gpu}\nbench\n")
    (out / "train.log").write_text(f"# loan.sh train at 2026-12-08T10:04:00Z, commit abc1234\n# gpu: {log_gpu}\nruns\n")
    return out


def test_a_loans_folder_brings_its_runs_benchmarks_and_logs_home(loan, tmp_path, capsys, monkeypatch):
    """Given loan.sh's returned folder, the runs are imported from its archive, each benchmark JSON that
    timed a mode is filed under a dated name run-study reads (another batch apart; one that timed nothing
    is left), and the logs become one lease log; a second loan that day never overwrites the first."""
    store, archive = loan
    timed = json.loads((ROOT / "benchmarks" / "results" / "throughput-modes-2026-11-26-h200.json").read_text())
    out = _loan_folder(tmp_path, archive, {"modes.json": timed, "modes128.json": timed | {"batch_size": 128},
                                           "modes_empty.json": timed | {"modes": []}})
    profile = {"benchmark": "profile_step", "mode": "eager", "device_name": "NVIDIA H200",
               "kinds": {"convolution": {"share": 0.7, "s_per_step": 0.007}, "other": {"share": 0.3, "s_per_step": 0.003}}}
    (out / "profile-eager.json").write_text(json.dumps(profile))
    (out / "profile-eager.txt").write_text("Name  Self CUDA\n")
    (out / "profile-stopped.json").write_text(json.dumps(profile | {"kinds": {}}))  # killed before it profiled
    monkeypatch.chdir(tmp_path)
    assert main(["import-runs", str(out), "--into", str(store), "--dry-run"]) == 3
    said = capsys.readouterr().out
    assert "would file modes.json as benchmarks/results/throughput-modes-2026-12-08-h200.json" in said
    assert not (tmp_path / "benchmarks").exists() and not (store / C4.parent.name).exists()
    assert main(["import-runs", str(out), "--into", str(store)]) == 3  # the unfinished C1 run stays out
    said = capsys.readouterr().out
    assert (store / C4.parent.name / C4.name / "summary.json").exists()
    filed = tmp_path / "benchmarks" / "results"
    assert sorted(p.name for p in filed.iterdir()) == ["profile-eager-2026-12-08-h200.json",
                                                      "profile-eager-2026-12-08-h200.txt",
                                                      "throughput-b128-2026-12-08-h200.json",
                                                      "throughput-modes-2026-12-08-h200.json"]
    assert json.loads((filed / "profile-eager-2026-12-08-h200.json").read_text()) == profile
    assert json.loads((filed / "throughput-modes-2026-12-08-h200.json").read_text()) == timed
    log = (tmp_path / "experiments" / "leases" / "2026-12-08-h200.log").read_text()
    assert log.startswith("# GPU loan of 2026-12-08, NVIDIA H200, commit abc1234")
    assert log.index("## loan.sh bench") < log.index("bench\n") < log.index("## loan.sh train") < log.index("runs\n")
    assert "next: python benchmarks/throughput.py --readme" in said
    main(["import-runs", str(out), "--into", str(store)])
    assert (filed / "throughput-modes-2026-12-08-h200-2.json").exists()
    assert (tmp_path / "experiments" / "leases" / "2026-12-08-h200-2.log").exists()


def test_gpu_names_give_the_stored_file_names():
    from reproduce.import_runs import gpu_slug

    assert [gpu_slug(n) for n in ("NVIDIA H100 80GB HBM3", "NVIDIA H200", "NVIDIA A100-SXM4-80GB")] == \
        ["h100", "h200", "a100"]
