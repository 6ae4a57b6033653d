"""The throughput benchmark runs (tiny, on CPU) and writes its JSON; no speed is asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _smoke(out: Path, *args: str) -> dict:
    """The benchmark with its tiny CPU settings (and ``args``), as a user runs it; its JSON."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--smoke", "--device", "cpu",
                    "--out", str(out), *args], check=True, capture_output=True, cwd=ROOT)
    return json.loads(out.read_text())


def test_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.json"
    d = _smoke(out, "--profile-steps", "2", "--concurrency", "2", "--concurrency-mode", "fused")
    assert set(d["pipelines"]) == {"fast", "standard"}
    assert all(p["images_per_s"] > 0 for p in d["pipelines"].values())
    assert d["speedup"] == d["pipelines"]["fast"]["images_per_s"] / d["pipelines"]["standard"]["images_per_s"]
    assert d["cost"]["parameters"] == 122_570 and d["cost"]["train_flops_per_image"] > 3 * 2 * 122_570
    assert "aten::" in out.with_suffix(".profile.txt").read_text()
    prof = d["profile"]  # the eager step's kernels: on a CPU the ATen operators, convolutions among them
    assert prof["steps"] == 2 and prof["kinds"]["convolution"]["share"] > 0
    assert sum(k["share"] for k in prof["kinds"].values()) == pytest.approx(1)
    assert [m["mode"] for m in d["modes"]] == ["eager", "fused"]  # the CPU default; CUDA times every mode
    assert d["modes"][1]["images_per_s"] > 0 and d["modes"][1]["compile_fell_back"] is None
    floor = d["memory_floor"]
    assert floor["floor_images_per_s"] == pytest.approx(
        floor["copy_bandwidth_bytes_per_s"] / (2 * d["cost"]["activation_bytes_per_image_bf16"]))
    assert d["complete"] is True and d["modes"][1]["startup_s"] >= 0
    # two processes timed over the same window in the mode asked for, each reporting its own speed
    eager, one, two = d["concurrency"]
    assert eager == {"processes": 1, "mode": "eager", "images_per_s": d["pipelines"]["fast"]["images_per_s"]}
    assert one == {"processes": 1, "mode": "fused", "images_per_s": d["modes"][1]["images_per_s"]}
    assert two["processes"] == 2 and two["mode"] == "fused" and len(two["per_process"]) == 2
    assert two["images_per_s"] == sum(two["per_process"])


def test_resnet56_cost_matches_its_known_size():
    """ResNet-56 forward is about 125 M multiply-adds (250 MFLOPs) per 32x32 image; training about 3x that."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import cost_per_image

    from reproduce.models import build

    c = cost_per_image(build("resnet56"), "cpu")
    assert 6.5e8 < c["train_flops_per_image"] < 8.5e8
    assert c["parameters"] == 853_018


def test_readme_performance_table_is_the_generated_one():
    """No speed in the README is typed: its table is what the stored benchmark and runs give."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import MARKERS, readme_tables, stored_benches

    benches = stored_benches(ROOT / "benchmarks" / "results" / "throughput.json")
    text = (ROOT / "README.md").read_text()
    section = text[text.index(MARKERS[0]) + len(MARKERS[0]):text.index(MARKERS[1])]
    assert section == "\n" + readme_tables(benches, str(ROOT / "experiments" / "results"))
    for bench in benches:  # every GPU a stored benchmark timed has its own table and a measured C4 run
        table = section.split(f"| {bench['device_name']} (torch")[1].split("\n\n")[0]
        assert "C4 run measured" in table


def test_each_gpu_gets_its_own_readme_table_and_measured_runs_name_their_step_mode(tmp_path):
    """Speeds of one GPU never mix into another's table; a measured C4 run says how its steps ran."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import readme_tables, stored_benches

    from reproduce.train import step_mode_of as step_mode

    stored = json.loads((ROOT / "benchmarks" / "results" / "throughput.json").read_text())
    (tmp_path / "throughput.json").write_text(json.dumps(stored))
    other = {k: stored[k] for k in ("model", "batch_size", "steps", "warmup", "augment", "torch")} | {
        "device_name": "Other GPU", "pipelines": {"fast": {"images_per_s": 40_000.0}},
        "modes": [{"mode": "eager", "images_per_s": 40_000.0},
                  {"mode": "cudagraphs+fused", "images_per_s": 90_000.0, "startup_s": 30.0}],
        "concurrency": [{"processes": 1, "mode": "cudagraphs+fused", "images_per_s": 90_000.0}]}
    (tmp_path / "throughput-modes-2026-12-01.json").write_text(json.dumps(other))
    benches = stored_benches(tmp_path / "throughput.json")
    assert [b["device_name"] for b in benches] == [stored["device_name"], "Other GPU"]
    first, second = readme_tables(benches).split("\n\n")
    assert "90,000" not in first and "cudagraphs+fused" not in first
    assert "| mode cudagraphs+fused (one process) | 90,000 images/s |" in second
    assert "sharing the GPU" not in second  # one process is not a sharing row
    assert "in step mode cudagraphs+fused" in second and "standard pipeline" not in second
    assert step_mode({"mode": {"compile": "reduce-overhead", "fused": True, "compile_fell_back": None}}) == "cudagraphs+fused"
    assert step_mode({"mode": {"compile": True, "fused": True, "compile_fell_back": "BackendCompilerFailed: x"}}) == "eager"
    assert step_mode({}) == "eager" and step_mode({"mode": {"compile": False, "fused": True}}) == "fused"


def test_a_gpus_table_gives_its_newest_profile_of_each_mode(tmp_path, monkeypatch):
    """A loan's step profile (filed by import-runs) adds one row to its GPU's table: the shares by kind
    and how busy the GPU is, from the newest file of that GPU, model and batch (a day's second is -2)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput

    bench = json.loads((ROOT / "benchmarks" / "results" / "throughput.json").read_text())
    prof = {"benchmark": "profile_step", "model": "resnet56", "batch_size": 512, "mode": "eager", "steps": 20,
            "device_name": bench["device_name"], "step_s": 0.0230, "kernel_s_per_step": 0.0115, "busy_fraction": 0.5,
            "kinds": {"convolution": {"share": 0.6}, "batch norm": {"share": 0.395}, "copy": {"share": 0.005}}}
    older = prof | {"busy_fraction": 0.9}
    (tmp_path / "profile-eager-2026-12-08-h100.json").write_text(json.dumps(older))
    (tmp_path / "profile-eager-2026-12-08-h100-2.json").write_text(json.dumps(prof))
    (tmp_path / "profile-eager-2026-12-09-h200.json").write_text(json.dumps(prof | {"device_name": "Other GPU"}))
    found = throughput.stored_profiles(bench, tmp_path)
    assert [(p.name, d["busy_fraction"]) for p, d in found] == [("profile-eager-2026-12-08-h100-2.json", 0.5)]
    monkeypatch.setattr(throughput, "stored_profiles", lambda b: found)
    row = next(x for x in throughput.readme_table(bench).splitlines() if "torch.profiler" in x)
    assert row == ("| where a step's GPU time goes, mode eager (torch.profiler, 20 steps; "
                   "`profile-eager-2026-12-08-h100-2.json`) | convolution 60 %, batch norm 40 %; kernels 11.5 ms "
                   "of a 23.0 ms step (the GPU busy 50 %) |")  # shares under 1 % are left out


def test_the_benchmark_stays_inside_its_time_bound_and_says_what_it_skipped(tmp_path):
    from reproduce.lease import benchmark_speeds

    out = tmp_path / "bench.json"
    d = _smoke(out, "--concurrency", "2", "--max-seconds", "0")
    assert d["modes"][1] == {"mode": "fused", "images_per_s": None, "skipped": "over --max-seconds 0"}
    assert d["concurrency"][1] == {"processes": 2, "mode": "eager", "images_per_s": None,
                                   "skipped": "over --max-seconds 0"}
    assert d["complete"] is True
    assert list(benchmark_speeds(str(out), d["device_name"]).values()) == [{1: d["pipelines"]["fast"]["images_per_s"]}]


def test_readme_quick_profile_line_is_the_measured_one_and_within_what_it_promises():
    """The README's quick-profile duration comes from the stored measurement, and the measurement
    supports the README's "within 10 minutes" (refresh: python benchmarks/quick_profile.py; the machines
    vary, so the line also lists the earlier measurements the JSON keeps)."""
    import json

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from quick_profile import MARKERS, OUT, readme_line

    m = json.loads(OUT.read_text())
    text = (ROOT / "README.md").read_text()
    start = text.index(MARKERS[0]) + len(MARKERS[0])
    assert text[start:text.index(MARKERS[1])] == "\n" + readme_line(m)
    assert "within 10 minutes on 2 CPU cores" in text and m["wall_time_s"] <= 600 and m["runs_trained"] > 0
    assert all(f"min ({h['git']['commit'][:7]})" in text for h in m.get("history", []))


def test_a_benchmark_stopped_midway_keeps_what_it_measured(tmp_path, monkeypatch):
    """A lent GPU's command ends at its timeout: the modes already timed must survive it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput

    def stopped(*_a, **_k):
        raise KeyboardInterrupt  # as if the timeout came while two processes were being timed

    monkeypatch.setattr(throughput, "concurrent", stopped)
    out = tmp_path / "bench.json"
    with pytest.raises(KeyboardInterrupt):
        throughput.main(["--smoke", "--device", "cpu", "--out", str(out), "--concurrency", "2"])
    d = json.loads(out.read_text())
    assert d["complete"] is False
    assert set(d["pipelines"]) == {"fast", "standard"} and d["modes"][1]["mode"] == "fused"
    assert d["modes"][1]["images_per_s"] > 0 and d["concurrency"] == [
        {"processes": 1, "mode": "eager", "images_per_s": d["pipelines"]["fast"]["images_per_s"]}]


def test_a_loans_modes_json_kept_beside_the_benchmark_joins_the_readme_table(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import readme_table, stored_bench

    from reproduce.lease import stored_benchmarks

    stored = json.loads((ROOT / "benchmarks" / "results" / "throughput.json").read_text())
    (tmp_path / "throughput.json").write_text(json.dumps(stored))
    (tmp_path / "quick_profile.json").write_text("{}")  # not a throughput JSON: never read as one
    modes = {k: stored[k] for k in ("model", "batch_size", "device_name", "steps", "warmup", "augment", "torch")} | {
        "pipelines": {"fast": {"images_per_s": 23_000.0}},
        "modes": [{"mode": "eager", "images_per_s": 23_000.0},
                  {"mode": "cudagraphs+fused", "images_per_s": 46_000.0, "startup_s": 70.0}],
        "concurrency": [{"processes": 2, "mode": "cudagraphs+fused", "images_per_s": 50_000.0}]}
    (tmp_path / "throughput-modes-2026-12-01.json").write_text(json.dumps(modes))
    assert [Path(p).name for p in stored_benchmarks(tmp_path)] == ["throughput.json", "throughput-modes-2026-12-01.json"]
    table = readme_table(stored_bench(tmp_path / "throughput.json"))
    assert "| mode cudagraphs+fused (one process) | 46,000 images/s |" in table
    assert "| mode cudagraphs+fused, 2 processes sharing the GPU (together) | 50,000 images/s |" in table
    assert "| fast path: data on the GPU as uint8, bf16, channels_last, cuDNN autotuning, eager | 23,000 images/s |" in table
    assert "standard pipeline: torchvision DataLoader, 12 workers" in table  # kept from the full benchmark


def test_a_gpu_timed_before_is_not_timed_again_with_unless_timed(tmp_path, monkeypatch):
    """A loan's first command may land on a GPU whose modes are stored (skip: its minutes go to
    training) or on a new one (measure): ``--unless-timed`` tells them apart."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput

    import reproduce.lease
    from reproduce.results import device_name

    here = {"model": "keras_cnn", "batch_size": 32, "device_name": device_name("cpu")}
    stored = tmp_path / "results"
    stored.mkdir()
    monkeypatch.setattr(reproduce.lease, "BENCHMARKS", stored)
    out = tmp_path / "bench.json"
    # only eager timed here (as the first H100 loan left it): the modes still need timing
    (stored / "throughput.json").write_text(json.dumps(here | {"modes": [{"mode": "eager", "images_per_s": 9.0}]}))
    (stored / "throughput-modes-x.json").write_text(json.dumps(
        here | {"batch_size": 64, "modes": [{"mode": "fused", "images_per_s": 9.0}]}))  # another batch size
    assert throughput.timed_before("keras_cnn", 32, device_name("cpu")) is None
    d = throughput.main(["--smoke", "--device", "cpu", "--out", str(out), "--unless-timed", "--no-standard",
                         "--concurrency"])
    assert d["modes"][1]["mode"] == "fused" and out.exists()
    out.unlink()
    # timed but never checked against eager's update (as the H200's first timing): time it again
    (stored / "throughput-modes-y.json").write_text(json.dumps(
        here | {"modes": [{"mode": "cudagraphs+fused", "images_per_s": 9.0}]}))
    assert throughput.timed_before("keras_cnn", 32, device_name("cpu")) is None
    (stored / "throughput-modes-y.json").write_text(json.dumps(
        here | {"modes": [{"mode": "fused", "images_per_s": None, "skipped": "over --max-seconds 1"},
                          {"mode": "cudagraphs+fused", "images_per_s": 9.0, "update_drift": 0.01}]}))
    assert throughput.timed_before("keras_cnn", 32, device_name("cpu")) == "throughput-modes-y.json"
    assert throughput.timed_before("keras_cnn", 32, "another GPU") is None
    assert throughput.main(["--smoke", "--device", "cpu", "--out", str(out), "--unless-timed"]) == {}
    assert not out.exists()


def test_every_timed_mode_is_checked_against_eagers_update():
    """The benchmark starts every mode from one seed on the same batches, so the parameters it ends
    with tell whether the mode computed eager's updates; the drift is relative to eager's update."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from throughput import readme_table, update_drift

    start = torch.zeros(4)
    eager = torch.tensor([2.0, 0.0, 0.0, 0.0])
    assert update_drift(eager.clone(), eager, start) == 0.0
    assert update_drift(torch.tensor([1.0, 0.0, 0.0, 0.0]), eager, start) == 0.5  # half the update: a broken mode
    assert update_drift(start, eager, start) == 1.0  # no update at all
    bench = {"model": "resnet56", "batch_size": 512, "augment": "flip", "device_name": "GPU X", "torch": "2",
             "pipelines": {"fast": {"images_per_s": 10.0}},
             "modes": [{"mode": "eager", "images_per_s": 10.0, "update_drift": 0.004},
                       {"mode": "fused", "images_per_s": 11.0, "update_drift": 0.0041}]}
    assert ("| mode fused (one process) | 11 images/s; parameters 0.41 % of the update from eager's "
            "(eager against itself: 0.4 %) |") in readme_table(bench, "/nonexistent")


def test_the_benchmark_records_each_modes_drift_from_eager(tmp_path):
    d = _smoke(tmp_path / "bench.json", "--no-standard", "--concurrency")
    eager, fused = d["modes"]
    assert eager["update_drift"] == 0.0  # eager twice on this CPU: bit for bit
    assert fused["mode"] == "fused" and fused["update_drift"] < 1e-5  # a fused SGD step is the same arithmetic


def test_ghost_bn_benchmark_refuses_a_bad_step_count_in_one_line():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ghost_bn.py"), "--steps", "0", "--device", "cpu"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --steps=0 is invalid: expected an integer >= 1"


def test_quick_profile_keeps_earlier_measurements_newest_first():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from quick_profile import with_history

    def m(commit, s):
        return {"git": {"commit": commit}, "wall_time_s": s, "training_wall_time_s": s / 2, "device_name": "CPU",
                "summary_line": "x"}

    first = with_history(m("a" * 40, 600), None)
    assert "history" not in first
    second = with_history(m("b" * 40, 400), first)
    third = with_history(m("c" * 40, 500), second, keep=1)
    assert [h["wall_time_s"] for h in second["history"]] == [600]
    assert [h["git"]["commit"][0] for h in with_history(m("c" * 40, 500), second)["history"]] == ["b", "a"]
    assert [h["wall_time_s"] for h in third["history"]] == [400] and "summary_line" not in third["history"][0]


def test_the_readme_table_says_what_the_loans_still_owe(tmp_path):
    """The full-profile estimate also counts the runs the store does not hold finished yet, with their
    share of the GPU time: a finished run leaves the count, an unfinished folder does not."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import full_profile_estimate

    from reproduce.lease import Job
    from reproduce.results import write_json
    from reproduce.studies import expand, load_spec

    bench = json.loads((ROOT / "benchmarks" / "results" / "throughput.json").read_text())
    n, seconds, _, _, _, (left, left_s) = full_profile_estimate(bench, str(tmp_path))
    assert left == n and left_s == pytest.approx(seconds)
    cfg, _ = next(c for c in expand(load_spec("06_weight_decay", "full")))
    done = Job("", cfg, None, root=str(tmp_path)).path
    done.mkdir(parents=True)
    write_json(done / "config.json", {})
    assert full_profile_estimate(bench, str(tmp_path))[5][0] == n  # no summary: not finished
    write_json(done / "summary.json", {"status": "finished"})
    left_now, left_s_now = full_profile_estimate(bench, str(tmp_path))[5]
    assert left_now == n - 1 and 0 < left_s_now < left_s


def test_profile_step_says_where_a_step_goes(tmp_path):
    """The profile of one step mode: kernels sorted by time, every kind's share adding up, each named
    kernel of the kind its name says, and the device never busier than the step is long."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from profile_step import kind_of

    out = tmp_path / "profile.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "--smoke", "--device", "cpu",
                    "--mode", "fused", "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    d = json.loads(out.read_text())
    assert (d["model"], d["mode"], d["steps"], d["compile_fell_back"]) == ("keras_cnn", "fused", 3, None)
    assert sum(k["share"] for k in d["kinds"].values()) == pytest.approx(1)
    assert d["kinds"]["convolution"]["share"] > 0.05  # three conv layers forward and backward
    shares = [k["share"] for k in d["kernels"]]
    assert shares == sorted(shares, reverse=True) and all(k["kind"] == kind_of(k["name"]) for k in d["kernels"])
    # on a CPU the operators run inside the profiled steps: never busier than those, the profiler's own time apart
    assert 0 < d["kernel_s_per_step"] and 0 < d["busy_fraction"] <= 1 and d["step_s"] == d["profiled_step_s"]
    assert "aten::" in out.with_suffix(".txt").read_text()


def test_a_gpu_profiled_before_is_not_profiled_again_with_unless_profiled(tmp_path, monkeypatch):
    """A loan's bench profiles each mode once per GPU: a stored profile of this mode, GPU, model and
    batch (with its kernels) skips it; another mode, another GPU or a profile without kernels does not."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import profile_step

    from reproduce.results import device_name

    here = device_name("cpu")
    monkeypatch.setattr(profile_step, "RESULTS", tmp_path)
    stored = {"benchmark": "profile_step", "model": "keras_cnn", "batch_size": 32, "device_name": here, "mode": "fused",
              "kinds": {"convolution": {"share": 1.0, "s_per_step": 0.01}}}
    (tmp_path / "profile-eager-2026-12-08-cpu.json").write_text(json.dumps(stored | {"mode": "eager"}))
    (tmp_path / "profile-fused-2026-12-08-h200.json").write_text(json.dumps(stored | {"device_name": "NVIDIA H200"}))
    (tmp_path / "profile-fused-2026-12-08-cpu-2.json").write_text(json.dumps(stored | {"kinds": {}}))
    (tmp_path / "profile-fused-2026-12-08-b64.json").write_text(json.dumps(stored | {"batch_size": 64}))
    assert profile_step.profiled_before("keras_cnn", 32, "fused", here) is None
    out = tmp_path / "new" / "profile.json"
    args = ["--smoke", "--device", "cpu", "--mode", "fused", "--unless-profiled", "--out", str(out)]
    assert profile_step.main(args)["mode"] == "fused" and out.exists()
    out.unlink()
    (tmp_path / "profile-fused-2026-12-09-cpu.json").write_text(json.dumps(stored))
    assert profile_step.profiled_before("keras_cnn", 32, "fused", here) == "profile-fused-2026-12-09-cpu.json"
    assert profile_step.profiled_before("keras_cnn", 32, "eager", here) == "profile-eager-2026-12-08-cpu.json"
    assert profile_step.main(args) == {} and not out.exists()


@pytest.mark.parametrize("name, kind", [
    ("sm90_xmma_wgrad_implicit_gemm_indexed_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize64x64x64", "convolution"),
    ("void cudnn::bn_fw_tr_1C11_singleread_spec<__nv_bfloat16, 512, 1, 2, 0>", "batch norm"),
    ("triton_red_fused__native_batch_norm_legit_functional_convolution_backward_0", "batch norm"),
    ("void at::native::batch_norm_collect_statistics_channels_last_kernel<...>", "batch norm"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::launch_clamp_scalar", "elementwise"),
    ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedSgdMathFunctor>", "optimizer"),
    ("Memcpy HtoD (Pageable -> Device)", "copy"),
    ("aten::max_pool2d_with_indices", "pooling"),
    ("aten::addmm", "matmul"),
    ("void at::native::reduce_kernel<512, 1>", "other"),
])
def test_kernel_kinds_from_their_names(name, kind):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from profile_step import kind_of

    assert kind_of(name) == kind
