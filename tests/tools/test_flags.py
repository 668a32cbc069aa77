"""Flags for the instructor: what in an exercise cell reaches for the grader's machinery (both ways)."""

from __future__ import annotations

import json

import pytest

from course_tools import ROOT
from course_tools.autograde.flags import tampering

REACHING = {
    "switches off the profiler": ("import sys\ndef f(p, q):\n    sys.setprofile(None)\n    return p\n", "profiler"),
    "digs in memory": ("import gc\ndef f(p, q):\n    return gc.get_referrers(p)\n", "memory"),
    "reads a frame": ("import sys\ndef f(p, q):\n    return sys._getframe(1).f_globals['x']\n", "frames"),
    "copies the reference's source": ("import inspect\nfrom course_utils.s01_kl_elbo import divergences\n"
                                      "src = inspect.getsource(divergences.kl_discrete)\n", "source"),
    "rebuilds a function": ("import types\ndef f(g):\n    return types.FunctionType(g.__code__, {})\n", "code object"),
    "imports the grader": ("from course_utils.grading.core import run_check\n", "grading package"),
    "imports the tools": ("import course_tools.autograde.child\n", "instructor's tools"),
    "opens a socket": ("import socket\n", "network"),
    "starts a program": ("from subprocess import run\n", "starts programs"),
    "imports by name": ("m = __import__('ctypes')\n", "__import__"),
}


@pytest.mark.parametrize("case", list(REACHING))
def test_reaching_for_the_grader_is_flagged(case):
    code, says = REACHING[case]
    flags = tampering(code)
    assert flags and any(says in f for f in flags), flags


@pytest.mark.parametrize("code", [
    "import torch\ndef kl_discrete(p, q):\n    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)\n",
    "# sys.setprofile is not called here\ndef f(x):\n    return 'gc.get_objects'\n",  # comments and strings
    "def f(x:\n",  # a syntax error is the grader's to report, not a flag
])
def test_ordinary_answers_are_not_flagged(code):
    assert tampering(code) == []


def test_no_course_solution_is_flagged():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell.get("metadata", {}).get("exercise"):
                assert tampering("".join(cell["source"])) == [], (path.name, cell["metadata"]["exercise"])
