"""run-study under a time limit and N at a time: what fits starts, what is started finishes or
checkpoints, and runs side by side train exactly what they train alone."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reproduce.cli import main
from reproduce.lease import (
    GRACE_S,
    STARTUP_S,
    Estimator,
    Job,
    benchmark_speeds,
    best_mode,
    best_parallel,
    checkpoint_iteration,
    mode_startup_s,
    parse_target,
    step_mode_of,
    stored_seconds_per_iteration,
)
from reproduce.results import RunDir, device_name, find_runs, last_iteration
from reproduce.studies import expand, read_spec
from reproduce.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _spec(tmp_path, iterations=30, seeds=(0, 1), name="study.yaml", **defaults):
    spec = {"profile": "smoke", "study": "lease", "seeds": list(seeds), "data": "synthetic:256", "device": "cpu",
            "progress": False,
            "defaults": {"model": "keras_cnn", "batch_size": 32, "iterations": iterations, "eval_every": 10,
                         "augment": "crop_flip", "schedule": {"policy": "triangular", "base_lr": 0.01, "max_lr": 0.05,
                                                              "stepsize": 10}} | defaults,
            "runs": [{"label": "clr"}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _bench(tmp_path, **more):
    """A benchmark JSON of this CPU: keras_cnn at batch 32, 100 images/s alone (plus ``more`` fields)."""
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"model": "keras_cnn", "batch_size": 32, "device_name": device_name("cpu"),
                                 "pipelines": {"fast": {"images_per_s": 100.0}}} | more))
    return bench


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "reproduce", "run-study", *map(str, args)], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_two_runs_at_once_train_exactly_what_they_train_alone(tmp_path):
    spec = _spec(tmp_path)
    par = _cli(spec, "--parallel", "2", "--out", tmp_path / "par", "--log-dir", tmp_path / "logs")
    assert par.returncode == 0, par.stdout + par.stderr
    assert "2 at a time" in par.stdout and "finished 2" in par.stdout
    seq = _cli(spec, "--out", tmp_path / "seq")  # the plain in-process path, one after the other
    assert seq.returncode == 0, seq.stderr
    for seed in (0, 1):
        (a,) = find_runs(tmp_path / "par", "lease", seed=seed)
        (b,) = find_runs(tmp_path / "seq", "lease", seed=seed)
        assert a.path.name == b.path.name
        assert RunDir(a.path).rows() == RunDir(b.path).rows()
        assert "--only clr --seeds" in a.provenance["command"]  # each child's own command, to rerun it alone
        assert (a.provenance["parallel_runs"], b.provenance["parallel_runs"]) == (2, 1)  # its speed is a share
    again = _cli(spec, "--parallel", "2", "--out", tmp_path / "par", "--log-dir", tmp_path / "logs")
    assert again.returncode == 0 and "0 run(s) to train" in again.stdout and "cached 2" in again.stdout


def test_a_run_that_cannot_finish_in_time_is_not_started(tmp_path, capsys):
    spec = _spec(tmp_path, iterations=200)
    bench = _bench(tmp_path)
    # 200 x 32 images at 100 images/s: ~64 s a run, more than a 60 s limit leaves
    rc = main(["run-study", str(spec), "--time-limit", "60", "--benchmark", str(bench), "--out", str(tmp_path / "r"),
               "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr()
    assert rc == 3 and "does not fit 2" in out.out and "skip  clr s0" in out.out
    assert "run(s) remain" in out.err
    assert not (tmp_path / "r").exists()


def test_a_run_that_fits_only_alone_runs_alone(tmp_path, capsys):
    spec = _spec(tmp_path, iterations=40)
    bench = _bench(tmp_path, concurrency=[{"processes": 2, "images_per_s": 120.0}])
    # 40 x 32 images and 5 evaluations: ~250 s alone at 100 images/s, ~400 s sharing 120 with another; 280 s left
    rc = main(["run-study", str(spec), "--time-limit", "300", "--parallel", "2", "--benchmark", str(bench),
               "--out", str(tmp_path / "r"), "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "alone clr s0" in out and "finished 2" in out and "skip" not in out
    assert "\nqueue (estimated, 2 at a time / alone): clr s0 6.7 min / 4.2 min; clr s1 6.7 min / 4.2 min\n" in out
    starts = [line for line in out.splitlines() if line.startswith(("start", "finished"))]
    assert [x.split()[0] for x in starts] == ["start", "finished", "start", "finished"]  # one at a time
    assert {r.provenance["parallel_runs"] for r in find_runs(tmp_path / "r", "lease")} == {1}


def test_labels_queue_in_the_order_typed(tmp_path, capsys):
    spec = _spec(tmp_path, iterations=200)
    data = yaml.safe_load(spec.read_text())
    data["runs"] = [{"label": "first"}, {"label": "second"}, {"label": "third"}]
    spec.write_text(yaml.safe_dump(data))
    bench = _bench(tmp_path)
    rc = main(["run-study", f"{spec}:third,first", "--time-limit", "60", "--benchmark", str(bench),
               "--out", str(tmp_path / "r"), "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert rc == 3 and "second" not in out
    skipped = [line.split()[1:3] for line in out.splitlines() if line.startswith("skip")]
    assert skipped == [["third", "s0"], ["third", "s1"], ["first", "s0"], ["first", "s1"]]


def test_a_run_longer_than_any_call_runs_a_stretch_per_call_with_stretch(tmp_path, capsys):
    spec = _spec(tmp_path, iterations=200_000, seeds=(0,), checkpoint_every=100_000)
    bench = _bench(tmp_path)  # 100 images/s: 200k iterations of 32 take hours, far beyond any limit
    args = ["run-study", *map(str, [spec, "--time-limit", GRACE_S + 16, "--benchmark", bench, "--out", tmp_path / "r",
                                    "--log-dir", tmp_path / "logs"])]
    assert main(args) == 3
    out = capsys.readouterr().out
    assert "even alone, more than this whole limit" in out and not (tmp_path / "r").exists(), out
    assert main([*args, "--stretch"]) == 3
    out = capsys.readouterr().out
    assert "stretch clr s0" in out and "interrupted 1" in out, out
    (run,) = (tmp_path / "r" / "lease").iterdir()
    assert (run / "checkpoint.pt").exists() and not (run / "summary.json").exists()
    log = (tmp_path / "logs" / f"{run.name}.log").read_text()
    assert "run the same command again to resume" in log
    # the next call estimates what is left, from where the deadline's checkpoint stands
    (cfg, _), = expand(read_spec(str(spec)))
    job = Job(str(spec), cfg, None, root=str(tmp_path / "r"))
    est = Estimator(benchmark_speeds(str(bench), device_name("cpu")))
    full = est(job, 1)
    job.done = checkpoint_iteration(run)
    assert 0 < job.done < 200_000 and 0 < last_iteration(run) <= job.done  # logged every 10, saved where it stopped
    assert est(job, 1) == pytest.approx(STARTUP_S + (full - STARTUP_S) * (200_000 - job.done) / 200_000)


def test_estimates_prefer_this_calls_measurements_then_the_benchmark():
    job = Job("f.yaml", TrainConfig(model="resnet56", batch_size=512, iterations=9277, eval_every=98, device="cpu"),
              None)
    speeds = {("resnet56", 512): {1: 20_000.0, 2: 30_000.0, 3: 31_000.0}}
    est = Estimator(speeds)
    one = est(job, 1)
    images = 9277 * 512 + (9277 // 98 + 1) * 11_017 / 3
    assert one == pytest.approx(STARTUP_S + 1.15 * images / 20_000)
    assert est(job, 2) == pytest.approx(STARTUP_S + 1.15 * images / 15_000)  # each of two gets half of 30k
    est.learn(job, 2, STARTUP_S + 9277 * 0.02)  # measured here: 20 ms an iteration with two at once
    assert est(job, 2) == pytest.approx(STARTUP_S + 1.15 * 9277 * 0.02)
    assert Estimator({})(job, 1) is None
    smith = Job("f.yaml", TrainConfig(model="resnet56_smith", batch_size=512, iterations=9277, eval_every=98,
                                      bn_group=128, device="cpu"), None)
    assert Estimator(speeds)(smith, 1) == pytest.approx(one)  # not timed: estimated as the net of about its cost
    assert Estimator(speeds)(Job("f.yaml", TrainConfig(model="keras_cnn", iterations=10, device="cpu"), None), 1) is None
    assert best_parallel(speeds) == 2  # 3 processes buy 3 % over 2: not worth it
    assert best_parallel({}) == 1
    # a compiled mode's start (from the benchmark) counts in every estimate and in what is learned
    slow = Estimator(speeds, STARTUP_S + 60)
    assert slow(job, 1) == pytest.approx(one + 60)
    slow.learn(job, 1, STARTUP_S + 60 + 9277 * 0.01)
    assert slow(job, 1) == pytest.approx(STARTUP_S + 60 + 1.15 * 9277 * 0.01)
    # a range test trains eagerly whatever the mode: eager's speed, and no compile to wait for
    rt = Job("f.yaml", TrainConfig(model="resnet56", batch_size=512, iterations=1000, device="cpu"),
             {"eval_every": 100})
    fast = Estimator({("resnet56", 512): {1: 40_000.0}}, STARTUP_S + 60, eager=speeds)
    assert fast(rt, 1) == pytest.approx(STARTUP_S + 1.15 * (1000 * 512 + 11 * 11_017 / 3) / 20_000)


def test_a_run_finished_in_this_call_says_what_the_next_of_its_model_costs(tmp_path):
    """A first run pays for compiling; its summary says how long that took (startup_s), so a further run
    of the same model is estimated with the warm start it will have, not the benchmark's cold compile:
    in the H200 loan a 4,900-iteration C7 run took 66 s while the old estimate said 105 s."""
    cfg = TrainConfig(model="resnet56", batch_size=512, iterations=9277, eval_every=98, device="cpu")
    job = Job("f.yaml", cfg, None, root=str(tmp_path))
    job.path.mkdir(parents=True)
    (job.path / "summary.json").write_text(json.dumps({"status": "finished", "wall_time_s": 111.0, "startup_s": 22.0}))
    est = Estimator({("resnet56", 512): {1: 50_000.0}}, STARTUP_S + 47.0)
    est.learn(job, 1, 126.0)  # the child's whole life: 15 s of process start and final writes around the loop
    c7 = Job("f.yaml", TrainConfig(model="resnet56", batch_size=512, iterations=4900, eval_every=98, device="cpu"), None)
    per_it = (111.0 - 22.0) / 9277
    assert est(c7, 1) == pytest.approx(15.0 + 22.0 + 1.15 * per_it * 4900)
    assert est(job, 1) == pytest.approx(37.0 + 1.15 * 89.0)  # the same run again: ~139 s, not 72 + 1.15 * 54
    # a slower start later (a busier machine) never raises it: the quickest start seen is the warm one
    (job.path / "summary.json").write_text(json.dumps({"status": "finished", "wall_time_s": 150.0, "startup_s": 60.0}))
    est.learn(job, 1, 170.0)
    assert est.warm[("resnet56", 512)] == 37.0 and est(c7, 1) == pytest.approx(37.0 + 1.15 * 90.0 / 9277 * 4900)
    other = Job("f.yaml", TrainConfig(model="resnet56", batch_size=128, iterations=4900, device="cpu"), None)
    assert est(other, 1) == Estimator({("resnet56", 512): {1: 50_000.0}}, STARTUP_S + 47.0)(other, 1)  # not learned
    # a resumed run's summary times all its segments, this call only the last: the assumed start-up stands
    resumed = Estimator({}, STARTUP_S + 47.0)
    job.done = 4000
    resumed.learn(job, 1, 126.0)
    assert resumed(c7, 1) == pytest.approx(STARTUP_S + 47.0 + 1.15 * (126.0 - STARTUP_S - 47.0) / 5277 * 4900)


def _stored_run(root, name, *, device="GPU X", mode=None, parallel=1, wall=60.0, iterations=4900,
                status="finished", model="resnet56", batch=512, **cfg):
    run = root / "study" / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": model, "batch_size": batch} | cfg))
    (run / "provenance.json").write_text(json.dumps({"device_name": device, "parallel_runs": parallel}))
    (run / "summary.json").write_text(json.dumps({"status": status, "wall_time_s": wall, "iterations_done": iterations,
                                                  "mode": mode or {"compile": False, "fused": False}}))


def test_a_new_call_learns_this_gpus_speed_from_stored_runs_in_the_same_mode(tmp_path):
    """A loan's second call must not plan with the benchmark's first-compile start-up when the
    store already holds runs this GPU finished in this mode (their wall time includes compiling)."""
    cg = {"compile": "reduce-overhead", "fused": True, "compile_fell_back": None}
    _stored_run(tmp_path, "a", mode=cg, wall=60.0)
    _stored_run(tmp_path, "b", mode=cg, wall=120.0, iterations=9277)
    _stored_run(tmp_path, "c", mode=cg, wall=90.0)
    _stored_run(tmp_path, "d", mode=cg, parallel=2, wall=150.0)
    _stored_run(tmp_path, "other-gpu", mode=cg, device="GPU Y", wall=1.0)
    _stored_run(tmp_path, "eager", wall=2.0)
    _stored_run(tmp_path, "fell-back", mode=cg | {"compile_fell_back": "BackendCompilerFailed: x"}, wall=3.0)
    _stored_run(tmp_path, "range-test", mode=cg, wall=4.0, range_start_lr=0.0001)
    _stored_run(tmp_path, "stopped", mode=cg, wall=5.0, status="running")
    got = stored_seconds_per_iteration([str(tmp_path)], "GPU X", "cudagraphs+fused")
    # the median of 60 / 4900, 120 / 9277 and 90 / 4900 seconds an iteration; two sharing the GPU apart
    assert got == {("resnet56", 512, 1): pytest.approx(120.0 / 9277), ("resnet56", 512, 2): pytest.approx(150.0 / 4900)}
    assert stored_seconds_per_iteration([str(tmp_path)], "GPU X", None) == {
        ("resnet56", 512, 1): pytest.approx(2.5 / 4900)}  # eager, and the run whose compile fell back to eager
    assert stored_seconds_per_iteration([str(tmp_path / "none")], "GPU X", None) == {}
    assert step_mode_of({"mode": "exp"}) == "eager"  # a range test's summary says its LR ramp there
    job = Job("f.yaml", TrainConfig(model="resnet56", batch_size=512, iterations=4900, eval_every=98, device="cpu"), None)
    speeds = {("resnet56", 512): {1: 50_000.0}}
    est = Estimator(speeds, STARTUP_S + 47.0, stored=got)
    # the stored runs' wall time holds their compiling: only the process start is added, not the benchmark's 47 s
    assert est(job, 1) == pytest.approx(STARTUP_S + 1.15 * 4900 * 120.0 / 9277)
    # as in the H200 loan's fourth call (150 s limit, 130 s usable): the benchmark alone says no, the store says yes
    assert Estimator(speeds, STARTUP_S + 47.0)(job, 1) > 150 - GRACE_S > est(job, 1)
    est.learn(job, 1, STARTUP_S + 47.0 + 4900 * 0.01)  # measured in this call: that wins
    assert est(job, 1) == pytest.approx(STARTUP_S + 47.0 + 1.15 * 49.0)
    rt = Job("f.yaml", TrainConfig(model="resnet56", batch_size=512, iterations=4900, device="cpu"), {"eval_every": 100})
    assert Estimator(speeds, STARTUP_S + 47.0, stored=got)(rt, 1) == Estimator(speeds, STARTUP_S + 47.0)(rt, 1)
    # range tests keep their own pace (they read losses and accuracy often): from the stored range test alone
    ranges = stored_seconds_per_iteration([str(tmp_path)], "GPU X", "cudagraphs+fused", range_tests=True)
    assert ranges == {("resnet56", 512, 1): pytest.approx(4.0 / 4900)}
    assert Estimator(speeds, STARTUP_S + 47.0, stored=got, stored_range=ranges)(rt, 1) == pytest.approx(
        STARTUP_S + 1.15 * 4.0)
    assert Estimator(speeds, stored_range=ranges)(job, 1) == Estimator(speeds)(job, 1)  # not for training runs


def test_a_range_test_finished_in_this_call_paces_the_next(tmp_path):
    """C1's linear test runs first in a loan and its further seeds later: the first one's whole wall time
    over the iterations it did (a diverged test stops early) estimates the others, not eager's speed."""
    cfg = TrainConfig(model="resnet56", batch_size=512, iterations=5000, device="cpu")
    first = Job("f.yaml", cfg, {"start_lr": 0.0, "end_lr": 3.0, "eval_every": 100}, root=str(tmp_path))
    first.path.mkdir(parents=True)
    (first.path / "summary.json").write_text(json.dumps({"status": "finished", "iterations_done": 4000}))
    est = Estimator({("resnet56", 512): {1: 50_000.0}})
    before = est(first, 1)
    est.learn(first, 1, STARTUP_S + 40.0)
    assert est(first, 1) == pytest.approx(STARTUP_S + 1.15 * 40.0 / 4000 * 5000)
    assert est(first, 1) < before


def test_a_second_call_starts_the_run_the_stored_ones_say_fits(tmp_path, capsys):
    """End to end on this CPU: the benchmark alone says a run needs ~20 min, more than the limit;
    the first call's finished run says it takes seconds, so the second call starts it."""
    spec = _spec(tmp_path, iterations=20)
    bench = _bench(tmp_path, pipelines={"fast": {"images_per_s": 0.5}})
    out, logs = tmp_path / "r", tmp_path / "logs"
    assert main(["run-study", str(spec), "--seeds", "0", "--out", str(out), "--benchmark", str(bench)]) == 0
    capsys.readouterr()
    rc = main(["run-study", str(spec), "--time-limit", "240", "--benchmark", str(bench), "--out", str(out),
               "--log-dir", str(logs)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert f"and 1 kind(s) of stored run on {device_name('cpu')} in step mode eager" in text
    assert "start clr s1" in text and "finished 1 (clr s1)" in text and "skip" not in text


def test_a_batch_the_benchmark_did_not_time_is_bounded_by_one_it_did():
    """C6 trains at batch 128, the benchmark times 512: a smaller batch takes at least as long per
    step as a larger one's step takes (per-step overhead), so its estimate is that bound, not the
    images/s of the larger batch, which would promise C6 in a quarter of the time it needs."""
    def job(batch):
        return Job("f.yaml", TrainConfig(model="resnet56", batch_size=batch, iterations=64_000, eval_every=1000,
                                         device="cpu"), None)
    evals = 65 * 11_017 / 3
    est = Estimator({("resnet56", 512): {1: 20_000.0}})
    assert est(job(128), 1) == pytest.approx(STARTUP_S + 1.15 * (64_000 * 512 + evals) / 20_000)
    assert est(job(1024), 1) == pytest.approx(STARTUP_S + 1.15 * (64_000 * 1024 + evals) / 20_000)
    both = Estimator({("resnet56", 512): {1: 20_000.0}, ("resnet56", 128): {1: 12_000.0}})
    assert both(job(128), 1) == pytest.approx(STARTUP_S + 1.15 * (64_000 * 128 + evals) / 12_000)
    assert both(job(256), 1) == pytest.approx(STARTUP_S + 1.15 * (64_000 * 512 + evals) / 20_000)


def test_benchmarks_of_two_batch_sizes_each_keep_their_speeds(tmp_path):
    base = {"model": "resnet56", "device_name": "GPU X", "steps": 100, "warmup": 20}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(base | {"batch_size": 512, "pipelines": {"fast": {"images_per_s": 20_000.0}},
                                    "modes": [{"mode": "eager", "images_per_s": 20_000.0},
                                              {"mode": "cudagraphs+fused", "images_per_s": 40_000.0,
                                               "seconds_with_warmup": 61.536, "startup_s": 60.0}]}))
    b.write_text(json.dumps(base | {"batch_size": 128, "pipelines": {"fast": {"images_per_s": 6_000.0}},
                                    "modes": [{"mode": "eager", "images_per_s": 6_000.0},
                                              {"mode": "cudagraphs+fused", "images_per_s": 30_000.0}]}))
    paths = [str(a), str(b)]
    assert benchmark_speeds(paths, "GPU X", "cudagraphs+fused") == {("resnet56", 512): {1: 40_000.0},
                                                                     ("resnet56", 128): {1: 30_000.0}}
    assert best_mode(paths, "GPU X") == "cudagraphs+fused"  # read from the first batch size
    # 120 steps of 512 at 40k images/s take 1.536 s: the other 60 s compiled and captured (the benchmark's startup_s)
    assert mode_startup_s(paths, "GPU X", "cudagraphs+fused") == pytest.approx(60.0)
    assert mode_startup_s(paths, "GPU X", "eager") == 0.0 and mode_startup_s(paths, "GPU Y", "compile") == 0.0


def test_targets_and_benchmarks_from_other_devices(tmp_path):
    assert parse_target("a.yaml:one_cycle,x") == ("a.yaml", ["one_cycle", "x"])
    assert parse_target("a.yaml") == ("a.yaml", None)
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"model": "resnet56", "batch_size": 512, "device_name": "NVIDIA H100 80GB HBM3",
                             "pipelines": {"fast": {"images_per_s": 1.0}},
                             "concurrency": [{"processes": 1, "images_per_s": 1.0}, {"processes": 2, "images_per_s": 3.0}]}))
    assert benchmark_speeds(str(b), "NVIDIA H100 80GB HBM3") == {("resnet56", 512): {1: 1.0, 2: 3.0}}
    assert benchmark_speeds(str(b), "NVIDIA H200") == {}


@pytest.mark.parametrize("args, message", [
    (["--time-limit", "0"], "time-limit=0.0 is invalid"),
    (["--parallel", "two"], "parallel='two' is invalid"),
    (["--as-device", "NVIDIA H200"], "as-device='NVIDIA H200' is invalid here"),  # without --plan: never trains
])
def test_bad_lease_arguments_are_one_line(tmp_path, capsys, args, message):
    assert main(["run-study", str(_spec(tmp_path)), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_mode_auto_takes_the_fastest_mode_that_compiled_on_this_gpu(tmp_path):
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"model": "resnet56", "batch_size": 512, "device_name": "GPU X",
                             "pipelines": {"fast": {"images_per_s": 100.0}},
                             "concurrency": [{"processes": 1, "images_per_s": 100.0},
                                             {"processes": 2, "images_per_s": 150.0}],
                             "modes": [{"mode": "eager", "images_per_s": 100.0},
                                       {"mode": "fused", "images_per_s": 110.0},
                                       {"mode": "compile+fused", "images_per_s": 300.0, "compile_fell_back": "Error"},
                                       {"mode": "cudagraphs+fused", "images_per_s": 200.0},
                                       {"mode": "compile", "images_per_s": None, "skipped": "time"}]}))
    assert best_mode(str(b), "GPU X") == "cudagraphs+fused"  # a mode that fell back measured eager, not itself
    assert best_mode(str(b), "GPU Y") == "auto"  # nothing measured here: leave each run as configured
    # two processes were timed eagerly only: the faster mode is not promised eager's gain from sharing
    assert benchmark_speeds(str(b), "GPU X", "cudagraphs+fused") == {("resnet56", 512): {1: 200.0, 2: 200.0}}
    assert best_parallel(benchmark_speeds(str(b), "GPU X", "cudagraphs+fused")) == 1
    assert benchmark_speeds(str(b), "GPU X", "fused") == {("resnet56", 512): {1: 110.0, 2: 150.0}}


def test_run_study_mode_reaches_every_run_without_changing_its_id(tmp_path):
    spec = _spec(tmp_path, seeds=(0,))
    r = _cli(spec, "--step-mode", "fused", "--parallel", "1", "--out", tmp_path / "r", "--log-dir", tmp_path / "logs")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step mode fused" in r.stdout
    (run,) = find_runs(tmp_path / "r", "lease")
    assert run.config["fused"] is True and run.summary["mode"] == {"compile": False, "fused": True,
                                                                    "compile_fell_back": None}
    plain = _cli(spec, "--out", tmp_path / "r")  # eager, in process: the same run, found in the store
    assert plain.returncode == 0 and str(run.path) in plain.stdout


def test_a_modes_only_benchmark_adds_to_an_earlier_one_of_the_same_gpu(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    base = {"model": "resnet56", "batch_size": 512, "device_name": "GPU X"}
    old.write_text(json.dumps(base | {"pipelines": {"fast": {"images_per_s": 100.0}},
                                      "concurrency": [{"processes": 1, "images_per_s": 100.0},
                                                      {"processes": 2, "images_per_s": 150.0}]}))
    new.write_text(json.dumps(base | {"pipelines": {"fast": {"images_per_s": 110.0}},
                                      "concurrency": [{"processes": 1, "images_per_s": 110.0}],
                                      "modes": [{"mode": "eager", "images_per_s": 110.0},
                                                {"mode": "compile+fused", "images_per_s": 220.0}]}))
    paths = [str(old), str(new)]
    assert best_mode(paths, "GPU X") == "compile+fused"
    assert benchmark_speeds(paths, "GPU X") == {("resnet56", 512): {1: 110.0, 2: 150.0}}
    assert best_parallel(benchmark_speeds(paths, "GPU X")) == 2
    # two processes timed in the mode itself (a later modes benchmark) are taken as measured
    again = tmp_path / "again.json"
    again.write_text(json.dumps(base | {"pipelines": {"fast": {"images_per_s": 110.0}},
                                        "concurrency": [{"processes": 2, "images_per_s": 300.0,
                                                         "mode": "compile+fused"}]}))
    assert benchmark_speeds([*paths, str(again)], "GPU X", "compile+fused") == {("resnet56", 512): {1: 220.0, 2: 300.0}}
    assert benchmark_speeds([*paths, str(again)], "GPU X") == {("resnet56", 512): {1: 110.0, 2: 150.0}}


def test_plan_previews_what_a_call_would_start_and_trains_nothing(tmp_path, capsys):
    """A loan is planned before it starts: --plan prints each missing run's estimate and which would
    start in the limit, trains nothing; --as-device plans with another GPU's measured speeds."""
    spec = _spec(tmp_path, iterations=30)
    # 30 x 32 images and 4 evaluations at 100 images/s, with start-up and margin: ~3.4 min a run; 460 s hold two,
    # one after the other, and not a third
    bench = _bench(tmp_path)
    three = _spec(tmp_path, iterations=30, seeds=(0, 1, 2), name="three.yaml")
    rc = main(["run-study", str(three), "--time-limit", "460", "--benchmark", str(bench), "--out", str(tmp_path / "r"),
               "--plan"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "would start clr s0 at ~0 s, estimate 3.4 min" in out and "would start clr s1 at ~3.4 min" in out
    assert "would skip  clr s2: needs ~3.4 min, ~30 s left" in out  # 460 s less the 20 s grace
    assert "plan only: 2 of 3 run(s) would start in 7.7 min" in out and "nothing was trained" in out
    assert not (tmp_path / "r").exists()
    gpu = tmp_path / "gpu.json"  # the same model timed on a GPU this machine is not: 10x the speed
    gpu.write_text(json.dumps(json.loads(bench.read_text()) | {"device_name": "GPU X",
                                                                "pipelines": {"fast": {"images_per_s": 1000.0}}}))
    rc = main(["run-study", str(spec), "--time-limit", "360", "--benchmark", str(gpu), "--out", str(tmp_path / "r"),
               "--plan", "--as-device", "GPU X"])
    out = capsys.readouterr().out
    assert rc == 0 and "plan only: 2 of 2 run(s) would start" in out and "estimate 43 s" in out, out
    rc = main(["run-study", str(spec), "--benchmark", str(gpu), "--out", str(tmp_path / "r"), "--plan"])
    assert rc == 0 and "unknown length" in capsys.readouterr().out  # this CPU has no measured speed there


def test_a_target_can_take_one_seed_early_and_the_rest_last(tmp_path, capsys):
    """FILE:LABEL@SEED queues that seed where it stands; the label named again later (bare) brings its other
    seeds there, so a loan takes each claim's first run before anyone's further seeds."""
    spec = _spec(tmp_path, iterations=30, seeds=(0, 1, 2))
    other = _spec(tmp_path, iterations=30, seeds=(0,), name="other.yaml")
    other.write_text(other.read_text().replace("label: clr", "label: other"))
    rc = main(["run-study", f"{spec}:clr@0", str(other), f"{spec}:clr", "--benchmark", str(_bench(tmp_path)),
               "--out", str(tmp_path / "r"), "--plan"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.findall(r"^would (?:start|skip) +(\S+ s\d+)", out, re.M) == ["clr s0", "other s0", "clr s1", "clr s2"]
    for bad, says in ((f"{spec}:clr@7", "target=clr@7 is invalid: " + f"{spec} lists seeds [0, 1, 2] for clr"),
                      (f"{spec}:clr@x", "target='clr@x' is invalid: expected LABEL or LABEL@SEED")):
        assert main(["run-study", bad, "--out", str(tmp_path / "r"), "--plan"]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
