"""The README's API tour runs as written: a renamed function, argument or attribute fails here
before a newcomer meets it. Only the names the tour leaves to the reader (a model, its optimizer,
batches) are supplied, and ``train``'s 25,000 iterations are replaced by a stored C3 run."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import reproduce.train
from reproduce.results import Run, find_runs

ROOT = Path(__file__).resolve().parents[1]


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"^## API tour\n\n```python\n(.*?)^```", readme, re.S | re.M).group(1)


def test_the_readme_api_tour_runs_as_written(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long()

    def batches():
        while True:
            yield x, y

    def accuracy(m: nn.Module) -> float:
        with torch.no_grad():
            return (m(x).argmax(1) == y).float().mean().item()

    stored = find_runs(ROOT / "experiments" / "results", "04_clr_vs_fixed", profile="full", label="triangular2")[0]
    given = {}

    def train(cfg, *args, **kwargs) -> Run:  # the tour's config, checked, answered by a stored run
        given["cfg"] = cfg
        return stored

    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(reproduce.train, "train", train)
    monkeypatch.chdir(ROOT)  # the tour reads the store by its relative path
    ns = {"model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
          "criterion": nn.functional.cross_entropy, "batches": batches(), "accuracy": accuracy}
    exec(compile(_tour(), "README.md (API tour)", "exec"), ns)  # noqa: S102 - the README's own code

    assert ns["s"].lr(2000) == pytest.approx(0.006)  # as the tour's comment says
    assert ns["oc"].lr(4003) == pytest.approx(0.8) and ns["oc"].momentum_at(4003) == pytest.approx(0.8)
    assert len(ns["result"].history) == 500 and ns["result"].history["lr"].iloc[-1] == pytest.approx(3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # restored, as the tour says
    import matplotlib.pyplot as plt

    plt.close("all")  # result.plot()'s figure
    from reproduce.stepsize import iterations_per_epoch

    assert iterations_per_epoch(1_281_167, 256) == 5005  # the tour's comment
    cfg = given["cfg"]
    assert (cfg.model, cfg.iterations, cfg.claim, cfg.lr_schedule.lr(2000)) == ("cifar10_full", 25000, "C3", 0.006)
    d = ns["d"]  # wd1e-4 minus wd1e-5, as `compare` and CLAIMS.md read it
    mean = {label: sum(r["corrected"].value for r in rows) / len(rows) for label, rows in ns["per"].items()}
    assert d.value == pytest.approx(mean["wd1e-4"] - mean["wd1e-5"])  # the verdicts' reading, JPEG-corrected
    assert d.floor > 0 and d.n == min(len(ns["per"]["wd1e-4"]), len(ns["per"]["wd1e-5"]))


def _shell_commands(text: str) -> list[str]:
    """Every ``python -m reproduce`` line of the fenced code blocks, continuation lines joined."""
    lines, fence = [], None  # fence: the open block's language, None outside a block
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
        elif fence in ("", "bash", "sh") and re.search(r"python3? -m reproduce ", line):
            lines.append(line)
    return lines


@pytest.mark.parametrize("doc", ["README.md", "docs/gpu.md"])
def test_every_command_line_the_docs_show_parses(doc, capsys):
    """A flag renamed or a choice dropped fails here, not in a reader's shell (``...`` elides)."""
    import shlex

    from reproduce.cli import build_parser

    commands = _shell_commands((ROOT / doc).read_text())
    assert len(commands) >= 3
    for line in commands:
        words = shlex.split(line, comments=True)
        args = [w for w in words[words.index("reproduce") + 1:] if w != "..."]
        try:
            build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{doc}: {line.strip()}\n{capsys.readouterr().err}")
