"""The throughput benchmark runs (tiny, on CPU) and writes its JSON; no speed is asserted."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--smoke", "--device", "cpu",
                    "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    d = json.loads(out.read_text())
    assert set(d["pipelines"]) == {"fast", "standard"}
    assert all(p["images_per_s"] > 0 for p in d["pipelines"].values())
    assert d["speedup"] == d["pipelines"]["fast"]["images_per_s"] / d["pipelines"]["standard"]["images_per_s"]
