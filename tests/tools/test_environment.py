"""requirements.txt and environment.yml describe the same pinned environment."""

from __future__ import annotations

import re
import tomllib

import yaml

from course_tools import ROOT


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip().lstrip("- ").strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"not pinned exactly: {line!r}"
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def requirements() -> dict[str, str]:
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def test_every_requirement_is_pinned_and_torch_is_the_cpu_release():
    pins = requirements()
    assert pins["torch"] == "2.13.0"
    assert "torchvision" not in pins


def test_environment_yml_lists_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert _pins(pip_section) == requirements()


def test_package_dependencies_are_all_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = requirements()
    for dep in project["dependencies"]:
        name = re.split(r"[<>=!~ ]", dep, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, f"{name} is not pinned in requirements.txt"
