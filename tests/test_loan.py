"""The prepared loan (experiments/leases/loan.sh): what a lent GPU runs, unedited, checked here first.

A loan has no time for a typo: its benchmark lines must parse, its targets must name runs the study
files list, its queue must plan, and a machine released between the two calls must be caught before
anything trains."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from reproduce.lease import parse_target
from reproduce.studies import expand, read_spec

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "leases" / "loan.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))


def _loan(tmp_path, *args, dry=True, **env):
    env = os.environ | {"OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "CLR_REPRO_COMMIT": "abc1234",
                        "LOAN_BENCH": str(tmp_path / "bench"), "LOAN_DATA": str(tmp_path / "cifar10"),
                        "LOAN_DRY": "1" if dry else "0", "OMP_NUM_THREADS": "1"} | env
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _targets() -> list[str]:
    block = re.search(r"^TARGETS=\((.*?)^\)", SCRIPT.read_text(), re.S | re.M).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_target_of_the_loan_names_runs_a_study_file_lists():
    """A label no study file has would cost a loan; C6's step baseline is among them (item 7 of the queue)."""
    targets = _targets()
    assert any("step-baseline" in t for t in targets) and any("C1-resnet56-linear" in t for t in targets)
    for target in targets:
        file, picks = parse_target(target)
        known = {(cfg.label, str(cfg.seed)) for cfg, _ in expand(read_spec(str(ROOT / file)))}
        for pick in picks or []:
            label, _, seed = pick.partition("@")
            assert any(k[0] == label and seed in ("", k[1]) for k in known), (target, pick, sorted(known))


def test_the_dry_loan_prints_benchmark_lines_the_benchmark_accepts(tmp_path):
    from throughput import parser

    r = _loan(tmp_path, "bench", ".stage/part1")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [shlex.split(x.removeprefix("would run: ")) for x in r.stdout.splitlines() if x.startswith("would run: ")]
    assert len(lines) == 4
    *lines, eager, fast = lines
    from profile_step import parser as profile_parser

    for words, mode, name, limit in ((eager, "eager", "profile-eager.json", 60),
                                     (fast, "cudagraphs+fused", "profile-cudagraphs.json", 100)):
        assert words[:5] == ["timeout", "-s", "TERM", "-k", "10"] and int(words[5]) <= limit
        p = profile_parser().parse_args(words[words.index("benchmarks/profile_step.py") + 1:])
        assert (p.mode, p.model, p.batch_size, Path(p.out)) == (mode, "resnet56", 512, tmp_path / "out" / name)
        assert p.unless_profiled  # a GPU profiled by an earlier loan spends these seconds training
    parsed = []
    for words in lines:
        assert words[:5] == ["timeout", "-s", "TERM", "-k", "10"] and int(words[5]) <= 150  # bounded, killed if need be
        args = parser().parse_args(words[words.index("benchmarks/throughput.py") + 1:])
        assert args.unless_timed and args.modes == ["cudagraphs+fused"] and not args.standard
        assert Path(args.out).parent == tmp_path / "out"
        parsed.append(args)
    assert [a.batch_size for a in parsed] == [512, 128]  # C4's batch, then C6's
    assert parsed[0].concurrency == [2]
    assert (tmp_path / "out" / "bench.log").read_text() == r.stdout  # the log comes back whole
    assert not (tmp_path / "bench").exists()  # a dry run copies nothing


def test_the_dry_loan_plans_every_target_in_the_order_the_script_lists_them(tmp_path):
    """Against an empty store every target is missing, so the plan names each run the loan could train."""
    r = _loan(tmp_path, "train", ".stage/part2", "540", LOAN_STORE=str(tmp_path / "empty"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "limit 520 s" in r.stdout and "nothing was trained" in r.stdout
    assert (tmp_path / "out" / "train.log").read_text() == r.stdout
    planned = re.findall(r"^would (?:start|skip) +(\S+ s\d+)", r.stdout, re.M)
    expected = []
    for target in _targets():
        file, picks = parse_target(target)
        runs = [cfg for cfg, _ in expand(read_spec(str(ROOT / file)))]
        for pick in picks or dict.fromkeys(c.label for c in runs):
            label, _, seed = pick.partition("@")
            expected += [f"{c.label} s{c.seed}" for c in runs if c.label == label and seed in ("", str(c.seed))]
    assert planned == list(dict.fromkeys(expected)), r.stdout
    first_pass = planned[:planned.index("one_cycle-smith-net s0") + 1]
    assert not any(x.endswith(("s1", "s2")) and not x.startswith("one_cycle s") for x in first_pass)  # seeds 1+ last
    assert not (tmp_path / "empty").exists()  # a plan writes nothing


@pytest.mark.parametrize(("args", "env", "says"), [
    ((), {}, "step='' is invalid: expected bench PART or train PART SECONDS"),
    (("go", "x"), {}, "step='go' is invalid"),
    (("train", "x"), {}, "train takes two arguments"),
    (("train", "x", "561"), {}, "SECONDS='561' is invalid: expected a whole number from 60 to 560"),
    (("train", "x", "9m"), {}, "SECONDS='9m' is invalid"),
    (("bench", "x"), {"CLR_REPRO_COMMIT": ""}, "CLR_REPRO_COMMIT is unset"),
    (("bench", "x"), {"LOAN_DRY": "0"}, "part='x' is invalid: expected a staged part holding unpack_cifar10.py"),
])
def test_the_loan_refuses_bad_input_in_one_line(tmp_path, args, env, says):
    r = _loan(tmp_path, *args, **env)
    assert r.returncode == 2, r.stdout + r.stderr
    last = (r.stdout + r.stderr).strip().splitlines()[-1]
    assert last.startswith("loan.sh: ") and says in last, last


def test_a_machine_released_between_the_calls_is_caught_before_training(tmp_path):
    """Call 2 on a fresh machine finds only its own part: it says so instead of training on what is there
    (a test set without its JPEG twin would give runs import-runs refuses)."""
    part = tmp_path / "part2"
    part.mkdir()
    (part / "unpack_cifar10.py").write_text("import sys\nsys.exit(0)\n")  # unpacks nothing, as on a released machine
    (tmp_path / "cifar10").mkdir()
    for shard in ("data_batch_4", "data_batch_5", "test_batch"):
        (tmp_path / "cifar10" / f"{shard}.npz").write_bytes(b"")
    r = _loan(tmp_path, "train", str(part), "540", dry=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "lacks data_batch_1.npz" in r.stdout and "stage again" in r.stdout
    assert "plan:" not in r.stdout  # run-study never started
