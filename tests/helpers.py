"""Helpers shared by the test files (pytest puts tests/ on the path): grading both ways, demo controls and models."""

from __future__ import annotations

import functools
import importlib
import math
import pkgutil
from contextlib import contextmanager

from course_utils.grading import Result, exercises, get, run_check

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def grade(ex_id: str, fn) -> Result:
    return run_check(get(ex_id), fn)


def assert_passes(ex_id: str, fn) -> Result:
    """``fn`` earns every point of exercise ``ex_id``, with no message."""
    r = grade(ex_id, fn)
    assert r.status == "passed", r.line()
    assert r.points == r.max_points == get(ex_id).points > 0
    assert r.message == ""
    return r


def assert_fails(ex_id: str, fn, hint: str | None = None) -> Result:
    """``fn`` earns nothing and is told why (``hint``: a phrase the message must contain)."""
    r = grade(ex_id, fn)
    assert r.status == "failed", r.line()
    assert r.points == 0
    assert r.message, "a failure must say what went wrong"
    if hint is not None:
        assert hint in r.message, r.message
    return r


def require_sandbox() -> None:
    """Skip the test when the grader's bubblewrap sandbox cannot start here, saying how to get one;
    fail instead where the environment variable CI is set (``.ci/run`` installs bubblewrap)."""
    import os

    import pytest

    from course_tools.autograde.sandbox import INSTALL_HINT, sandbox_available

    ok, why = sandbox_available()
    if not ok:
        message = f"the grader's sandbox cannot start here: {why}. {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def listening_port():
    """A server on 127.0.0.1 that accepts (and closes) connections while the block runs; yields its port."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


#: How many grading secrets every check is tried under (checks take milliseconds; see test_every_exercise).
SECRETS = 200


@contextmanager
def grading_secret(secret, student: str = "student"):
    """Checks draw the hidden inputs the class grader would give ``student`` under ``secret``."""
    from course_utils.grading.compare import for_student, set_hidden_salt

    set_hidden_salt(secret)
    try:
        with for_student(student):
            yield
    finally:
        set_hidden_salt(0)


def assert_passes_for_secrets(ex_id: str, fn, n: int = SECRETS) -> None:
    """``fn`` earns full marks under ``n`` grading secrets (an instructor may pick any secret)."""
    failed = []
    for k in range(n):
        with grading_secret(f"secret-{k}", f"student-{k % 7}"):
            r = grade(ex_id, fn)
        if r.status != "passed":
            failed.append((k, r.message))
    assert not failed, f"{len(failed)} of {n} secrets fail a correct answer, e.g. {failed[:3]}"


def assert_fails_for_secrets(ex_id: str, fn, n: int = 20, hint: str | None = None) -> None:
    """``fn`` earns nothing under ``n`` grading secrets (and, with ``hint``, is told so each time)."""
    for k in range(n):
        with grading_secret(f"secret-{k}", f"student-{k % 7}"):
            assert_fails(ex_id, fn, hint)


def other_value(control):
    """A value of a demo control in range and different from the current one."""
    if hasattr(control, "options") and control.options:
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        return next(v for v in values if v != control.value)
    if isinstance(control.value, bool):
        return not control.value
    low, high = control.min, control.max
    if hasattr(control, "base"):  # a FloatLogSlider: min and max are exponents of base
        exponent = math.log(control.value, control.base)
        fraction = 0.7 if exponent < (low + high) / 2 else 0.2
        return float(control.base ** (low + fraction * (high - low)))
    fraction = 0.7 if control.value < (low + high) / 2 else 0.2
    target = low + fraction * (high - low)
    return int(round(target)) if isinstance(control.value, int) else float(target)


def png(d) -> bytes:
    """A demo's current PNG (ipywidgets 8 stores Image.value as a memoryview)."""
    return bytes(d.image.value)


def widget_modules() -> list:
    """Every section's widgets module, and the modules inside the ones that are packages."""
    from course_utils.core.registry import discover

    modules = []
    for name in discover("widgets"):
        module = importlib.import_module(name)
        modules.append(module)
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            modules.append(importlib.import_module(f"{name}.{info.name}"))
    return modules


@contextmanager
def small_demo_models(fraction: int = 5):
    """Cut ``DEMO_STEPS`` to 1/``fraction`` in every widgets module with it and ``clear_demo_cache``; restore on exit.

    Found by attribute, not by a list. With a fifth, the diffusion demos' 2-D model trains 80 steps, not 400.
    Yields the modules changed.
    """
    knobs = [m for m in widget_modules() if hasattr(m, "DEMO_STEPS") and hasattr(m, "clear_demo_cache")]
    saved = {m: dict(m.DEMO_STEPS) for m in knobs}
    try:
        for m in knobs:
            m.DEMO_STEPS.update({k: max(1, v // fraction) for k, v in m.DEMO_STEPS.items()})
            m.clear_demo_cache()
        yield knobs
    finally:
        for m in knobs:
            m.DEMO_STEPS.update(saved[m])
            m.clear_demo_cache()


@contextmanager
def torch_state_kept():
    """Restore torch's default dtype, thread count and global random state after the block."""
    import torch

    dtype, threads, rng = torch.get_default_dtype(), torch.get_num_threads(), torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)
        torch.random.set_rng_state(rng)


@functools.cache
def course_solutions(section: str) -> dict:
    """The course's own solution of each exercise of ``section``: exercise id -> the function its cell defines.

    Built the way the class grader builds a student's notebook (course_tools.autograde.submission.program):
    the provided cells the exercise cells need, then the exercise cells, here with their solutions, run
    in this process (torch's global state restored after).
    """
    from course_tools.autograde.submission import program
    from course_tools.build import find_sources

    (source,) = find_sources(prefix=section)
    cells = [c for c in source.read().cells if c.cell_type == "code"]
    regions = {c.metadata["exercise"]: c.source for c in cells if c.metadata.get("exercise")}
    namespace: dict = {"__name__": f"course_solutions_{section}"}
    with torch_state_kept():
        for step in program(section, regions):
            exec(compile(step.code, f"<section {section}, {step.kind} cell>", "exec"), namespace)  # noqa: S102
    return {e.id: namespace[e.function] for e in exercises(section)}
