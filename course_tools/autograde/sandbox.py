"""The grader's side of the sandbox: start it, limit it, talk to it, kill it.

A :class:`Sandbox` is one ``python -m course_tools.autograde.child`` process
per submission, in its own session (so a kill takes its children too), in an
empty temporary directory that is also its HOME, with:

- a memory limit (``RLIMIT_AS``): a memory bomb gets a MemoryError, or dies;
- a file-size limit (``RLIMIT_FSIZE``): it cannot fill the disk;
- a time limit on every wait: setup and each check have a deadline, after
  which the process group is killed;
- read-only files: where Linux lets an unprivileged user make a user and
  mount namespace (``unshare``), the course checkout, the submissions, the
  grades folder and HOME are mounted read-only for the sandbox, so a cell
  that deletes files cannot touch them. Where it does not, the grader says
  so once, and student code runs with the grader's own rights (grade in a
  container then; see the README).

The student's function is reached through a :class:`RemoteFunction`, which a
check calls like the function itself.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle

from course_utils.grading.core import CheckFailed, StudentError

from .wire import WireError, frame_length, header, unpack

__all__ = ["DEFAULT_LIMITS", "Limits", "Sandbox", "SandboxDied", "RemoteFunction"]

from .. import ROOT

# Inside the new namespaces: bind each path onto itself read-only, then start the child.
_CONFINE = ('while [ "$1" != "--" ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" '
            '|| exit 97; shift; done; shift; exec "$@"')
_confinement: bool | None = None


def _confine_prefix(paths) -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--mount", "--", "sh", "-c", _CONFINE, "sh",
            *paths, "--"]


def confinement_available() -> bool:
    """Whether read-only mounts for the sandbox work on this machine (probed once)."""
    global _confinement
    if _confinement is None:
        try:
            probe = subprocess.run(_confine_prefix([tempfile.gettempdir()]) + ["true"],
                                   capture_output=True, timeout=20)
            _confinement = probe.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _confinement = False
    return _confinement


def protected_paths(extra=(), workdir: Path | None = None) -> list[str]:
    """What the sandbox may not change: the course checkout, HOME, and ``extra``.

    A folder that holds the sandbox's own working directory is left writable (a HOME of
    "/" would otherwise make the whole disk, the working directory too, read-only).
    """
    work = Path(workdir or tempfile.gettempdir()).resolve()
    paths = {Path(p).resolve() for p in (ROOT, Path.home(), *extra) if Path(p).exists()}
    return sorted(str(p) for p in paths if p != work and p not in work.parents)


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. setup_s: to run the notebook's cells; check_s: per exercise."""

    setup_s: float = 120.0
    check_s: float = 60.0
    memory_mb: int = 4096
    file_mb: int = 64


DEFAULT_LIMITS = Limits()


class SandboxDied(BaseException):  # noqa: N818 - a BaseException, so run_check lets it through
    """The sandbox stopped answering: timed out, crashed, or broke the protocol.

    ``at_step`` is the program step it was running (during setup), else None.
    """

    def __init__(self, reason: str, at_step: int | None = None):
        super().__init__(reason)
        self.reason, self.at_step = reason, at_step


def _exit_reason(code: int | None, limits: Limits) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() else str(sig)
        if sig == signal.SIGKILL:  # the kernel's OOM killer, or ours after a timeout
            return f"it was killed ({name}; over the {limits.memory_mb} MB memory limit?)"
        if sig == signal.SIGXFSZ:
            return f"it wrote a file over the {limits.file_mb} MB limit"
        return f"it was killed by signal {name}"
    return f"it exited with status {code} (sys.exit or os._exit in your code?)"


class Sandbox:
    """One sandbox process; use as a context manager so it is always killed."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, protect=()):
        self.limits = limits
        self.tmp = tempfile.TemporaryDirectory(prefix="course-sandbox-")
        work = Path(self.tmp.name)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "TMPDIR": str(work),
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(work),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            # the child sets these limits on itself before it imports anything else
            "COURSE_SANDBOX_LIMITS": f"{limits.memory_mb},{limits.file_mb}",
        }
        prefix = _confine_prefix(protected_paths(protect, work)) if confinement_available() else []
        self.proc = subprocess.Popen(
            prefix + [sys.executable, "-m", "course_tools.autograde.child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=work, env=env, start_new_session=True,
        )
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self._step: int | None = None
        self._limit_text = "60 s to start"
        try:
            hello = self._receive(time.monotonic() + 60)
        except SandboxDied as died:
            self.close()
            raise SandboxDied(f"the sandbox did not start: {died.reason}") from None
        if not (isinstance(hello, tuple) and hello[:1] == ("hello",)):
            self.close()
            raise SandboxDied("the sandbox did not start: it answered out of protocol")

    # -- lifetime ---------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._selector.close()
        self.tmp.cleanup()

    def _die(self, reason: str):
        """Kill the sandbox and raise SandboxDied; an empty reason means it closed its end itself."""
        at = self._step
        if not reason:
            try:  # it closed the channel: give it a moment to finish exiting, to say how
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        code = self.proc.poll()
        if code is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        elif not reason:
            reason = _exit_reason(code, self.limits)
        raise SandboxDied(reason or "it stopped", at)

    # -- protocol -----------------------------------------------------------------------------
    def _send(self, obj) -> None:
        data = cloudpickle.dumps(obj)
        try:
            self.proc.stdin.write(header(len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._die("")

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                self._die(f"it did not finish within the time limit ({self._limit_text})")
            chunk = os.read(fd, max(65536, n - len(self._buffer)))
            if not chunk:
                self._die("")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _receive(self, deadline: float):
        try:
            n = frame_length(self._read(8, deadline))
            return unpack(self._read(n, deadline))
        except WireError as err:
            self._die(f"it broke the grader's protocol ({err})")

    # -- requests -------------------------------------------------------------------------------
    def setup(self, steps) -> dict:
        """Run the program; returns {exercise id: {"defined", "error"}}. Raises SandboxDied."""
        self._limit_text = f"{self.limits.setup_s:.0f} s to run the notebook's cells"
        deadline = time.monotonic() + self.limits.setup_s
        self._send({"op": "setup", "steps": steps})
        while True:
            msg = self._receive(deadline)
            if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "at" and isinstance(msg[1], int):
                self._step = msg[1]
            elif isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "ready" and isinstance(msg[1], dict):
                self._step = None
                return msg[1]
            else:
                self._die("it broke the grader's protocol during setup")

    def function(self, exercise_id: str) -> RemoteFunction:
        """The student's function for one exercise, with a fresh time budget for its check."""
        self._limit_text = f"{self.limits.check_s:.0f} s for this exercise's check"
        return RemoteFunction(self, exercise_id, time.monotonic() + self.limits.check_s)

    def call(self, request: dict, deadline: float):
        self._send(request)
        msg = self._receive(deadline)
        if not (isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[0], str)):
            self._die("it broke the grader's protocol")
        kind, payload = msg
        if kind == "raised" and isinstance(payload, dict):
            message = str(payload.get("message", ""))
            if payload.get("not_implemented") is True:
                raise NotImplementedError(message)
            raise StudentError(str(payload.get("type", "an error")), message)
        if kind == "unreadable":
            raise CheckFailed(str(payload)[:500])
        if kind in ("value", "grad"):
            return kind, payload
        self._die("it broke the grader's protocol")


class RemoteFunction:
    """Stands in for the student's function in a check: each call runs in the sandbox.

    Arguments travel by (cloud)pickle, so they may be tensors, numbers, modules or
    functions (the sandbox has ``course_utils`` too); the answer comes back as plain data.
    """

    def __init__(self, sandbox: Sandbox, exercise_id: str, deadline: float):
        self.sandbox, self.exercise_id, self.deadline = sandbox, exercise_id, deadline

    def __call__(self, *args, **kwargs):
        kind, value = self.sandbox.call(
            {"op": "call", "id": self.exercise_id, "args": args, "kwargs": kwargs, "wrt": None}, self.deadline)
        if kind != "value":
            self.sandbox._die("it broke the grader's protocol")
        return value

    def call_with_grad(self, args: tuple, wrt: tuple[int, ...], cotangent=None, output: int | None = None):
        """See ``grading.compare.call_with_grad``; the differentiation happens in the sandbox."""
        kind, payload = self.sandbox.call(
            {"op": "call", "id": self.exercise_id, "args": args, "kwargs": {}, "wrt": tuple(wrt),
             "cotangent": cotangent, "output": output}, self.deadline)
        if kind != "grad" or not isinstance(payload, dict):
            self.sandbox._die("it broke the grader's protocol")
        grads = payload.get("grads")
        if grads is not None and (not isinstance(grads, list) or len(grads) != len(wrt)):
            self.sandbox._die("it broke the grader's protocol")
        return payload.get("value"), None if grads is None else tuple(grads)

