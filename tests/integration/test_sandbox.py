"""The sandbox answers calls exactly as the function would in-process, and dies cleanly; and, seen from
inside, it reaches no network, no file of the grader's but the Python environment and the course
package (read-only), no other process, no variable of the grader's, and no more processes than its limit.

Without a working bubblewrap these tests skip, saying how to install it, except where the environment
variable CI is set (``.ci/run`` sets it and installs bubblewrap): there they fail.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import torch
from helpers import listening_port, require_sandbox
from submissions import notebook

from course_tools.autograde import sandbox as sandbox_module
from course_tools.autograde.sandbox import (
    ROOT,
    UNSANDBOXED,
    Limits,
    Sandbox,
    SandboxDied,
    SandboxUnavailable,
    sandbox_available,
)
from course_tools.autograde.submission import Step
from course_utils.grading import CheckFailed, StudentError
from course_utils.grading.compare import call_with_grad, call_with_state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def needs_sandbox():
    """Skip (fail where CI is set) when the bubblewrap sandbox cannot start on this machine."""
    require_sandbox()

CODE = '''
import torch
def f(x, net, w):
    return (net(x) * w).sum(-1)
def lies(x):
    class Eq:
        def __eq__(self, other):
            return True
    return Eq()
def boom(x):
    raise ValueError("no " + str(x))
def todo(x):
    raise NotImplementedError("Exercise 9.9: later")
def step(net, opt):
    net(torch.ones(1, 3)).sum().backward()  # no zero_grad: leftover gradients count
    opt.step()
    return 0
'''


def _f(x, net, w):
    return (net(x) * w).sum(-1)


@pytest.fixture(scope="module")
def box(needs_sandbox):
    with Sandbox(Limits(setup_s=30, check_s=10)) as sandbox:
        names = ("f", "lies", "boom", "todo", "step")
        ready = sandbox.setup([Step("exercise", CODE, name, name) for name in names])
        assert all(ready[name]["defined"] for name in names)
        yield sandbox


def test_remote_gradients_match_in_process_ones_for_tensors_and_module_parameters(box):
    torch.manual_seed(0)
    x, w, net = torch.randn(5, 3), torch.randn(2), torch.nn.Linear(3, 2)
    cot = torch.randn(5)
    local_value, local = call_with_grad(_f, x, net, w, wrt=(0, 1, 2), cotangent=cot)
    remote_value, remote = call_with_grad(box.function("f"), x, net, w, wrt=(0, 1, 2), cotangent=cot)
    assert torch.allclose(remote_value, local_value)
    assert torch.allclose(remote[0], local[0]) and torch.allclose(remote[2], local[2])
    assert len(remote[1]) == 2 and all(torch.allclose(a, b) for a, b in zip(remote[1], local[1], strict=True))


def test_module_arguments_arrive_with_their_leftover_gradients(box):
    """A step that forgets zero_grad meets the same leftover gradients in the sandbox as in the notebook."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    _, (after, _) = call_with_state(box.function("step"), net, opt)
    expected = {name: p.detach() - 0.1 * (p.grad + 1.0) for name, p in net.named_parameters()}
    assert set(after) == set(expected)
    assert all(torch.allclose(after[name], expected[name]) for name in expected)
    clean = torch.nn.Linear(3, 2)
    _, (after, _) = call_with_state(box.function("step"), clean, torch.optim.SGD(clean.parameters(), lr=0.1))
    assert torch.allclose(after["weight"], clean.weight.detach() - 0.1)


def test_a_non_scalar_output_without_cotangent_has_no_gradient(box):
    value, grads = call_with_grad(box.function("f"), torch.randn(4, 3), torch.nn.Linear(3, 2), torch.ones(2),
                                  wrt=(0,))
    assert grads is None and value.shape == (4,)


def test_objects_never_cross_errors_do(box):
    with pytest.raises(CheckFailed, match="got Eq"):
        box.function("lies")(torch.ones(1))
    with pytest.raises(StudentError, match="no 3") as err:
        box.function("boom")(3)
    assert err.value.type_name == "ValueError"
    with pytest.raises(NotImplementedError, match="later"):
        box.function("todo")(1)


def test_a_hanging_cell_is_named_by_its_step(needs_sandbox):
    with Sandbox(Limits(setup_s=3)) as sandbox:
        steps = [Step("provided", "x = 1"), Step("exercise", "while True:\n    pass\n", "1.1", "g")]
        with pytest.raises(SandboxDied) as died:
            sandbox.setup(steps)
    assert died.value.at_step == 1 and "3 s to run the notebook's cells" in died.value.reason


# --- what a cell sees from inside ------------------------------------------------------------------------------

OBSERVE = '''
import os, socket
def observe(port, unreadable, unwritable, host_tmp_marker, grader_pid):
    seen = {"pid": os.getpid(), "uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "grader_pid_visible": os.path.exists(f"/proc/{grader_pid}"), "env": dict(os.environ),
            "checkout": sorted(os.listdir(os.environ["PYTHONPATH"])),
            "caps": [line for line in open("/proc/self/status") if line.startswith(("CapEff", "CapPrm", "NoNewPrivs"))]}
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        seen["connected"] = "yes"
    except OSError as err:
        seen["connected"] = f"no: {err}"
    seen["read"] = {}
    for path in unreadable:
        try:
            with open(path, "rb") as f:
                seen["read"][path] = f.read(100).decode("latin-1")
        except OSError as err:
            seen["read"][path] = None
    seen["wrote"] = {}
    for path in unwritable + [os.path.join(os.getcwd(), "mine.txt"), host_tmp_marker]:
        try:
            with open(path, "w") as f:
                f.write("written by the sandbox")
            seen["wrote"][path] = True
        except OSError:
            seen["wrote"][path] = False
    return seen
'''

FORK = '''
import os, time
def fork_until_refused(marker):
    children = 0
    while children < 500:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                os.execv("/bin/sleep", [marker, "300"])
            finally:
                os._exit(1)
        children += 1
    return children
'''


def _host_processes_named(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def port():
    with listening_port() as port:
        yield port


@pytest.fixture(scope="module")
def inside(needs_sandbox, tmp_path_factory, port):
    """What a cell saw from inside one sandbox, and the things outside it tried to reach."""
    tmp = tmp_path_factory.mktemp("outside")
    classmate = tmp / "class" / "bob" / "01_kl_elbo.ipynb"
    classmate.parent.mkdir(parents=True)
    classmate.write_text('{"cells": "the answers of bob"}')
    secret = tmp / "grading-secret.txt"
    secret.write_text("the grader's secret")
    solution = sorted((ROOT / "solutions").glob("*.ipynb"))[0]
    home_file = Path.home() / f".course-sandbox-test-{uuid.uuid4().hex}"
    try:
        home_file.write_text("a file in the grader's HOME")
    except OSError:
        home_file = None
    host_tmp_marker = f"/tmp/course-sandbox-test-{uuid.uuid4().hex}"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # reachable from here, outside the sandbox
    unreadable = [str(classmate), str(classmate.parent.parent), str(secret), str(solution)] + (
        [str(home_file)] if home_file else [])
    unwritable = [str(ROOT / "course_utils" / "marker.txt"), str(ROOT / "course_tools" / "marker.txt"),
                  str(tmp / "written.txt"), "/usr/marker.txt", str(ROOT / "marker.txt")]
    old = os.environ.get("COURSE_GRADING_SECRET")
    os.environ["COURSE_GRADING_SECRET"] = "do-not-leak-4417"
    try:
        with Sandbox(Limits(setup_s=60, check_s=30)) as sandbox:
            assert sandbox.setup([Step("exercise", OBSERVE, "observe", "observe")])["observe"]["defined"]
            seen = sandbox.function("observe")(port, unreadable, unwritable, host_tmp_marker, os.getpid())
            uid = sandbox.uid
    finally:
        if old is None:
            os.environ.pop("COURSE_GRADING_SECRET")
        else:
            os.environ["COURSE_GRADING_SECRET"] = old
        if home_file:
            home_file.unlink()
    yield {"seen": seen, "tmp": tmp, "unreadable": unreadable, "unwritable": unwritable, "uid": uid,
           "host_tmp_marker": host_tmp_marker, "home_file": home_file}
    Path(host_tmp_marker).unlink(missing_ok=True)


def test_the_network_is_out_of_reach(inside):
    assert inside["seen"]["connected"].startswith("no"), inside["seen"]["connected"]


def test_no_file_of_the_grader_can_be_read(inside):
    """A classmate's notebook and the submissions folder, solutions/, HOME, a secret: none exists inside."""
    read = inside["seen"]["read"]
    assert set(read) == set(inside["unreadable"])
    assert all(v is None for v in read.values()), read
    assert inside["home_file"] is not None or os.environ.get("CI") is None, "HOME was not writable to test it"


def test_only_the_course_package_of_the_checkout_is_there(inside):
    allowed = {"course_utils", "course_tools"}
    if Path(sys.prefix).parent == ROOT:  # a venv inside the checkout (.venv) is bound too
        allowed.add(Path(sys.prefix).name)
    assert set(inside["seen"]["checkout"]) <= allowed, inside["seen"]["checkout"]
    assert "solutions" not in inside["seen"]["checkout"]


def test_nothing_outside_the_private_folder_can_be_written(inside):
    wrote = inside["seen"]["wrote"]
    assert not any(wrote[p] for p in inside["unwritable"]), wrote
    assert all(not Path(p).exists() for p in inside["unwritable"])
    mine = [p for p in wrote if p.endswith("mine.txt")]
    assert wrote[mine[0]], "the sandbox could not write its own folder"
    # its /tmp is its own: what it wrote there is not in the grader's /tmp
    assert wrote[inside["host_tmp_marker"]] and not Path(inside["host_tmp_marker"]).exists()


def test_its_own_pid_namespace_an_unprivileged_user_and_no_capabilities(inside):
    seen = inside["seen"]
    assert seen["pid"] < 10 and max(seen["pids"]) < 50 and not seen["grader_pid_visible"], seen["pids"]
    assert seen["uid"] != 0 and (inside["uid"] is None or seen["uid"] == inside["uid"])
    caps = {line.split(":")[0]: line.split(":")[1].strip() for line in seen["caps"]}
    assert caps == {"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "NoNewPrivs": "1"}, caps


def test_the_environment_holds_only_what_the_grader_set(inside):
    env = inside["seen"]["env"]
    assert "COURSE_GRADING_SECRET" not in env
    assert "do-not-leak-4417" not in json.dumps(env)
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "MPLBACKEND", "MPLCONFIGDIR", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "LANG", "COURSE_SANDBOX_LIMITS",
                        "PWD"}, sorted(env)  # PWD: bwrap sets it to the private folder
    assert env["HOME"] == env["TMPDIR"] == env["PWD"]


def test_no_more_processes_than_the_limit_and_none_outlives_the_sandbox(needs_sandbox):
    limit = 16
    marker = f"course-sandbox-fork-{uuid.uuid4().hex}"
    with Sandbox(Limits(setup_s=60, check_s=30, processes=limit)) as sandbox:
        sandbox.setup([Step("exercise", FORK, "fork", "fork_until_refused")])
        started = sandbox.function("fork")(marker)
        uid = sandbox.uid
        assert _host_processes_named(marker), "its children should be running until it closes"
    assert limit // 2 < started < limit + 2, started
    assert _host_processes_named(marker) == [], "a child of the sandbox outlived it"
    if uid is not None:
        assert sandbox_module._tasks_of(uid) == 0


def test_parallel_sandboxes_get_distinct_user_ids(needs_sandbox):
    if os.geteuid() != 0:
        pytest.skip("only a grader running as root gives its sandboxes user ids of their own")
    taken, errors = [], []

    def take():
        try:
            taken.append(sandbox_module._UIDS.take())
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=take) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors and len(set(taken)) == len(taken) == 40
        assert all(u in sandbox_module.UID_POOL for u in taken)
    finally:
        for uid in taken:
            sandbox_module._UIDS.give(uid)


# --- without bubblewrap ----------------------------------------------------------------------------------------


@pytest.fixture
def no_bwrap(tmp_path, monkeypatch):
    """bwrap pointed at a missing file (here and in subprocesses), the probe forgotten before and after."""
    monkeypatch.setenv(sandbox_module.BWRAP_ENV, str(tmp_path / "no-such-bwrap"))
    sandbox_available.cache_clear()
    yield
    sandbox_available.cache_clear()


def test_without_bwrap_the_probe_says_why_and_no_sandbox_starts(no_bwrap):
    ok, why = sandbox_available()
    assert not ok and "bubblewrap is not installed" in why
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox(Limits(setup_s=30))


def test_without_bwrap_grading_refuses_unless_unsandboxed(no_bwrap, tmp_path):
    subs, out = tmp_path / "class", tmp_path / "grades"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / "01_kl_elbo.ipynb").write_bytes(notebook(solved=("1.1",)))
    grade = [sys.executable, "-m", "course_tools.grade"]
    for args in ([str(subs), "--out", str(out), "--no-progress"], [str(subs / "ann" / "01_kl_elbo.ipynb")]):
        refused = subprocess.run(grade + args, capture_output=True, text=True, cwd=ROOT)
        assert refused.returncode == 2, refused.stderr
        for says in ("bubblewrap is not installed", "apt-get install bubblewrap", "dnf install bubblewrap",
                     "Linux container", "--unsandboxed"):
            assert says in refused.stderr, (says, refused.stderr)
    assert not out.exists()
    ran = subprocess.run(grade + [str(subs), "--out", str(out), "--no-progress", "--unsandboxed"],
                         capture_output=True, text=True, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    assert f"sandbox: {UNSANDBOXED}" in ran.stdout
    with (out / "gradebook.csv").open() as f:
        row = next(csv.DictReader(f))
    assert row["sandbox"] == UNSANDBOXED and row["1.1"] == "1"
    detail = json.loads((out / "grades.json").read_text())
    assert detail["sandbox"] == UNSANDBOXED and detail["students"]["ann"][0]["sandbox"] == UNSANDBOXED
