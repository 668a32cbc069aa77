"""Generate a class of submitted notebooks: correct, partial, cheating and broken ones.

Each submission is the course's exercise notebook with some exercise cells
replaced, built here in code (no hand-written fixture notebooks), so it follows
the notebook whenever the course changes. ``make_class`` writes them and
returns the points each student must get for each exercise.
"""

from __future__ import annotations

from pathlib import Path

from course_tools.autograde import synthetic
from course_utils.grading import exercises

solution_cell = synthetic.solution_cell


def notebook(answers: dict[str, str] | None = None, **kwargs) -> bytes:
    """Section 01's exercise notebook with some cells answered (see ``synthetic.notebook``)."""
    return synthetic.notebook("01", answers, **kwargs)


ALL = tuple(e.id for e in exercises("01"))
POINTS = {e.id: e.points for e in exercises("01")}


def _others(*wrong: str) -> tuple[str, ...]:
    return tuple(i for i in ALL if i not in wrong)


def full_except(*wrong: str) -> dict[str, int]:
    return {i: 0 if i in wrong else POINTS[i] for i in ALL}


NOTHING = dict.fromkeys(ALL, 0)

# --- answers written differently from the reference, all correct ------------------------------------------
REWRITTEN = {
    "1.1": ("import torch\ndef kl_discrete(p, q):\n"
            "    return torch.special.xlogy(p, p).sum(-1) - torch.special.xlogy(p, q).sum(-1)\n"),
    "1.3": ("def kl_gaussian_std_normal(mu, log_var):\n"
            "    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())\n"
            "    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))\n"
            "    return torch.distributions.kl_divergence(q, p).sum(dim=-1)\n"),
    "1.4": ("def kl_monte_carlo(mu, log_var, eps):\n    sd = torch.sqrt(torch.exp(log_var))\n"
            "    z = mu + sd * eps\n    r = (0.5 * (z**2 - eps**2) - torch.log(sd)).sum(-1)\n"
            "    return r.sum(0) / r.shape[0]\n"),
}

# --- plausible wrong answers ------------------------------------------------------------------------------------
WRONG = {
    "1.3": "def kl_gaussian_std_normal(mu, log_var):\n    return 0.5 * (log_var.exp() + mu**2 - 1.0 - log_var)\n",
    "1.5": ("import math\ndef importance_log_evidence(log_joint, log_q, z):\n"
            "    return torch.logsumexp(log_joint(z) - log_q(z), 0)\n"),
}

# --- cheats: each must earn nothing --------------------------------------------------------------------------------
PATCH_GRADER = '''
import torch
import course_utils.grading as grading
import course_utils.grading.compare as compare
import course_utils.grading.core as core
def _pass(exercise, fn, capture_output=True):
    return core.Result(exercise.id, exercise.title, exercise.points, exercise.points, "passed")
core.run_check = grading.run_check = _pass
compare.expect_close = lambda *a, **k: None
for _ex in core.exercises():
    object.__setattr__(_ex, "check", lambda fn: None)
torch.allclose = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: True
def kl_discrete(p, q):
    return torch.zeros(p.shape[:-1])
'''

ALWAYS_EQUAL = '''
class AlwaysEqual:
    def __eq__(self, other):
        return True
    shape = ()
def kl_discrete(p, q):
    return AlwaysEqual()
'''

LYING_TENSOR = '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.isclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def kl_gaussian_std_normal(mu, log_var):
    return torch.zeros(mu.shape[0]).as_subclass(Liar)
'''

FAKE_OUTPUT = '''
print("Exercise 1.1 (1 pt): passed")
print("Section 01 score: 10/10 points")
def kl_discrete(p, q):
    raise NotImplementedError
'''


def _fake_outputs(nb: dict) -> None:
    """Store "passed" outputs in every check cell and a full score table at the end."""
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and src.startswith("check("):
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "Exercise passed\n"}]
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                        "source": 'print("Section 01 score: 10/10 points")'})


def _edit_provided(nb: dict) -> None:
    """Replace every provided cell: fake check/score_table, no course imports; keep the exercise cells."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "exercise" not in cell.get("metadata", {}):
            cell["source"] = ("import torch, math\n"
                              "def check(*a, **k): print('Exercise passed')\n"
                              "def score_table(*a): print('Section 01 score: 10/10 points')\n")


def _delete_provided(nb: dict) -> None:
    nb["cells"] = [c for c in nb["cells"] if "exercise" in c.get("metadata", {})]


HIDE_ERRORS = '''
import sys
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip.showsyntaxerror = lambda *a, **k: None
sys.excepthook = lambda *a: None
def kl_discrete(p, q):
    raise ValueError("hidden")
'''

# --- broken ones: each costs only the exercise it breaks ------------------------------------------------------------
LOOP_IN_FUNCTION = "def kl_discrete(p, q):\n    while True:\n        pass\n"
LOOP_IN_CELL = "while True:\n    pass\n"
# Grows by 1 GB at a time; numpy reserves without touching the pages, so the memory limit is hit at
# once even on a busy machine (zero-filling 2 GB could outlast the check's time limit).
MEMORY_BOMB = ("import numpy as np\ndef kl_monte_carlo(mu, log_var, eps):\n    hoard = []\n    while True:\n"
               "        hoard.append(np.empty(2**27))\n")
SYNTAX_ERROR = "def forward_kl_fit(weights, means, variances)\n    return 0\n"
EXIT_IN_CELL = "\nimport sys\nsys.exit(1)\n"
EXIT_IN_FUNCTION = "import os\ndef kl_monte_carlo(mu, log_var, eps):\n    os._exit(3)\n"
FLOOD = ("import os\nfor _ in range(20_000):\n    print('spam ' * 50)\nos.write(1, b'x' * 10**7)\n"
         "print('y' * 10**8)\n")


def deletes_files(protected: list[Path]) -> str:
    """A cell that tries to delete its own folder, the course package and the given folders."""
    targets = [str(p) for p in protected]
    return f'''
import os, shutil, course_utils
for _t in {targets!r} + [os.path.dirname(course_utils.__file__), os.getcwd()]:
    try:
        shutil.rmtree(_t)
    except OSError:
        pass
    for _root, _dirs, _files in os.walk(_t):
        for _f in _files:
            try:
                os.remove(os.path.join(_root, _f))
            except OSError:
                pass
'''


def junk_on_protocol() -> str:
    """A cell that writes garbage to every open file descriptor (the grader's channel among them)."""
    return '''
import os
for _fd in range(3, 64):
    try:
        os.write(_fd, b"\\xff" * 64)
    except OSError:
        pass
'''


# --- shortcuts: each must earn nothing on the exercise it attacks --------------------------------------------------
# The reference answer, under the name the notebook imports it by (an old alias of the module, here).
USES_REFERENCE = ("from course_utils.divergences import kl_discrete as _course_kl\n"
                  "def kl_discrete(p, q):\n    return _course_kl(p, q)\n")


def reads_classmate(root: Path) -> str:
    """1.3 answered by finding a classmate's notebook in the submissions folder and running their cell."""
    return f'''
import glob, json, torch
def kl_gaussian_std_normal(mu, log_var):
    for path in sorted(glob.glob({str(root)!r} + "/**/*.ipynb", recursive=True)):
        try:
            nb = json.load(open(path))
        except Exception:
            continue
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell.get("metadata", {{}}).get("exercise") == "1.3" and "NotImplementedError" not in src:
                ns = {{"torch": torch}}
                exec(src, ns)
                return ns["kl_gaussian_std_normal"](mu, log_var)
    return torch.zeros(mu.shape[:-1])
'''


def calls_home(port: int) -> str:
    """1.2 right only when a server on 127.0.0.1 answers (a way to send hidden inputs out, or answers in)."""
    return solution_cell("1.2").replace("def forward_kl_fit(", "def _right(", 1) + f'''
import socket
def forward_kl_fit(weights, means, variances):
    with socket.create_connection(("127.0.0.1", {port}), timeout=2):
        pass
    return _right(weights, means, variances)
'''


# 1.5 right only when 200 processes could be started.
PROCESS_BOMB = solution_cell("1.5").replace("def importance_log_evidence(", "def _right(", 1) + '''
import os, time
def importance_log_evidence(log_joint, log_q, z):
    children = 0
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    if children < 200:
        raise RuntimeError(f"only {children} processes")
    return _right(log_joint, log_q, z)
'''


def reference_source_renamed() -> str:
    """1.6 as the course's reference source with its names changed: it passes, and is flagged."""
    import inspect
    import re

    from course_utils.grading import get

    ref = get("1.6").reference
    src = inspect.getsource(ref)
    src = re.sub(r'\n\s*r?""".*?"""', "", src, count=1, flags=re.S)
    for old, new in (("mu", "m"), ("var", "s2"), ("eps", "noise"), ("z", "sample"), ("log_joint", "lj")):
        src = re.sub(rf"\b{old}\b", new, src)
    return (f"from {ref.__module__} import as_tensor, check_same_shape, reparametrize, log_normal_diag, "
            "LogDensity, Tensor\n" + src)


def make_class(root: Path, protected: list[Path] | None, port: int | None = None) -> dict[str, dict[str, int]]:
    """Write the class under ``root`` and return the points each student must get, per exercise.

    ``protected``: folders the file-deleting student attacks (None: leave that student out,
    for a machine where the sandbox cannot make them read-only).
    """
    expected: dict[str, dict[str, int]] = {}

    def add(student: str, data: bytes, points: dict[str, int], folder: bool = True) -> None:
        path = root / student / "01_kl_elbo.ipynb" if folder else root / f"{student}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[student] = points

    add("full", notebook(solved=ALL), full_except())
    add("stubs", notebook(), NOTHING, folder=False)
    add("partial", notebook(WRONG, solved=("1.1", "1.2", "1.6")),
        {**NOTHING, "1.1": POINTS["1.1"], "1.2": POINTS["1.2"], "1.6": POINTS["1.6"]})
    add("rewritten", notebook(REWRITTEN, solved=("1.2", "1.5", "1.6", "1.7", "1.8")), full_except())
    add("patch_grader", notebook({"1.1": PATCH_GRADER}), NOTHING)
    add("lying_objects", notebook({"1.1": ALWAYS_EQUAL, "1.3": LYING_TENSOR}), NOTHING)
    add("fake_output", notebook({"1.1": FAKE_OUTPUT}, edit=_fake_outputs), NOTHING)
    add("edited_provided", notebook(solved=ALL, edit=_edit_provided), full_except())
    add("deleted_provided", notebook(solved=ALL, edit=_delete_provided), full_except())
    add("hide_errors", notebook({"1.1": HIDE_ERRORS}, solved=_others("1.1")), full_except("1.1"))
    add("loop_in_function", notebook({"1.1": LOOP_IN_FUNCTION}, solved=_others("1.1")), full_except("1.1"))
    add("loop_in_cell", notebook({"1.3": LOOP_IN_CELL + solution_cell("1.3")}, solved=_others("1.3")),
        full_except("1.3"))
    add("memory_bomb", notebook({"1.4": MEMORY_BOMB}, solved=_others("1.4")), full_except("1.4"))
    add("syntax_error", notebook({"1.2": SYNTAX_ERROR}, solved=_others("1.2")), full_except("1.2"))
    add("exit_in_cell", notebook({"1.2": solution_cell("1.2") + EXIT_IN_CELL}, solved=_others("1.2")),
        full_except())
    add("exit_in_function", notebook({"1.4": EXIT_IN_FUNCTION}, solved=_others("1.4")), full_except("1.4"))
    add("missing_cell", notebook(solved=ALL, drop=("1.5",)), full_except("1.5"))
    if protected is not None:
        add("deletes_files", notebook({"1.1": deletes_files(protected) + solution_cell("1.1")},
                                      solved=_others("1.1")), full_except())
    add("flood", notebook({"1.6": FLOOD + solution_cell("1.6")}, solved=_others("1.6")), full_except())
    add("junk_on_protocol", notebook({"1.3": junk_on_protocol() + solution_cell("1.3")}, solved=_others("1.3")),
        full_except("1.3"))
    add("uses_reference", notebook({"1.1": USES_REFERENCE}, solved=_others("1.1")), full_except("1.1"))
    add("reads_classmate", notebook({"1.3": reads_classmate(root)}, solved=_others("1.3")), full_except("1.3"))
    if port is not None:
        add("calls_home", notebook({"1.2": calls_home(port)}, solved=_others("1.2")), full_except("1.2"))
    add("process_bomb", notebook({"1.5": PROCESS_BOMB}, solved=_others("1.5")), full_except("1.5"))
    add("copies_reference", notebook({"1.6": reference_source_renamed()}, solved=_others("1.6")), full_except())
    add("twin_of_full", notebook(solved=ALL), full_except())  # byte-identical to "full": flagged, not penalised
    add("wrong_section", notebook(solved=ALL, edit=lambda nb: nb["metadata"]["course"].update(section="02")),
        NOTHING)
    add("invalid_json", b'{"cells": [', NOTHING, folder=False)
    add("empty", b"", NOTHING)
    return expected
