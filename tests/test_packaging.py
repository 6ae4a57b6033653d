"""environment.yml installs this package from pyproject.toml, so the two never drift."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_installs_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    py = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    pip_block = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_block == ["-e .[dev]"], "conda must install the package itself, not a second dependency list"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lo = re.match(r">=\s*3\.(\d+)", project["requires-python"]).group(1)
    assert int(py.split("=")[1].split(".")[1]) >= int(lo)
    for pinned in ("torch==", "torchvision=="):
        assert any(d.startswith(pinned) for d in project["dependencies"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and ci.strip().endswith("make test")
