"""The grader's side of the sandbox: start it, limit it, talk to it, kill it.

A :class:`Sandbox` is one ``python -m course_tools.autograde.child`` process
per submission, started by bubblewrap (``bwrap``), deny by default:

- files: only ``/usr`` (and the ``/bin``, ``/lib``, ``/lib64`` links),
  ``/etc/ld.so.cache``, the Python environment (``sys.base_prefix``,
  ``sys.prefix``) and, of the checkout, ``course_utils/`` and ``course_tools/``,
  all read-only; writable, an empty private folder (its working directory,
  HOME and TMPDIR, deleted on close) and a private 64 MB ``/tmp``. Not
  ``solutions/``, the submissions, the grades, HOME or anything else;
- namespaces: its own network (no network), PID (it sees only itself), IPC,
  UTS and cgroup namespaces, a new session, and death with the grader;
- user: as root, bwrap builds the namespaces and mounts, then ``setpriv``
  drops to an unprivileged user id from :data:`UID_POOL`, one per live sandbox
  (so RLIMIT_NPROC, which counts all of a user's processes, counts the
  sandbox's own), with no capabilities and ``no_new_privs``; as another user,
  bwrap runs as that user in a user namespace of its own;
- environment: ``--clearenv``, then only the variables :func:`_command` sets;
- limits, which the child sets on itself before anything else: memory
  (``RLIMIT_AS``), file size (``RLIMIT_FSIZE``), no core dumps, processes and
  threads (``RLIMIT_NPROC``, :attr:`Limits.processes`); and a deadline on every
  wait (setup, each check), after which the sandbox is killed. Closing kills
  bwrap's pid 1, which ends its whole PID namespace.

:func:`sandbox_available` starts one sandbox, once, to say whether this
machine can (Linux, bubblewrap, user namespaces or root). Where it cannot,
:class:`Sandbox` raises :class:`SandboxUnavailable`, whose message says how to
get one, unless it is created with ``unsandboxed=True`` (``--unsandboxed``):
then the child runs without bwrap, with the same limits (the process limit
only for a grader that is not root), and the gradebook records it.

The student's function is reached through a :class:`RemoteFunction`, which a
check calls like the function itself.
"""

from __future__ import annotations

import collections
import fcntl
import functools
import os
import pwd
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle

from course_utils.grading.core import CheckFailed, StudentError

from .wire import WireError, frame_length, header, unpack

__all__ = ["DEFAULT_LIMITS", "Limits", "Sandbox", "SandboxDied", "SandboxUnavailable", "RemoteFunction",
           "sandbox_available", "sandbox_name"]

from .. import ROOT

#: An environment variable that names the bwrap to use (a test points it at a missing file).
BWRAP_ENV = "COURSE_BWRAP"
#: What the gradebook records for a run without the sandbox.
UNSANDBOXED = "none (--unsandboxed)"
#: What an instructor without a working sandbox is told to do.
INSTALL_HINT = (
    "Student code is run in a bubblewrap sandbox, which needs Linux, bubblewrap (Debian/Ubuntu: "
    "`sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`) and either unprivileged user "
    "namespaces or a grader running as root. On macOS or Windows, grade inside a Linux container (e.g. started "
    "with `docker run --privileged`) or a Linux VM. To grade without the sandbox anyway (student code then runs "
    "with your rights, and the gradebook says so), pass --unsandboxed (make grade ... UNSANDBOXED=1).")
#: The user ids sandboxes run as when the grader is root: one per live sandbox, so that RLIMIT_NPROC,
#: which counts every process of a user, counts the sandbox's own (ids with an /etc/passwd entry are skipped).
UID_POOL = range(60001, 61001)


class SandboxUnavailable(RuntimeError):
    """No sandbox can start on this machine (and grading was not asked to run without one)."""

    def __init__(self, why: str):
        super().__init__(f"no sandbox to grade in: {why}.\n{INSTALL_HINT}")
        self.why = why


def _bwrap() -> str | None:
    path = os.environ.get(BWRAP_ENV) or shutil.which("bwrap")
    return path if path and os.access(path, os.X_OK) else None


@functools.cache
def _bwrap_version(bwrap: str) -> tuple[int, ...]:
    """bwrap's version, e.g. (0, 8, 0); (0,) when it does not say."""
    try:
        said = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    numbers = said.split()[-1].split(".") if said.split() else []
    return tuple(int(n) for n in numbers if n.isdigit()) or (0,)


def _tasks_of(uid: int) -> int:
    """How many processes (threads included) the user has, which is what RLIMIT_NPROC counts."""
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    n += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return n


class _UidPool:
    """Free user ids for sandboxes, taken and given back by threads (and, by lock files, by other graders)."""

    def __init__(self, uids: range):
        self._mutex = threading.Lock()
        self._free = collections.deque(uids)
        self._locks: dict[int, int] = {}

    @staticmethod
    def _lock(uid: int) -> int | None:
        """A lock on ``uid`` against other grader processes: a file descriptor, -1 (no lock folder), or None (taken)."""
        folder = Path(tempfile.gettempdir()) / "course-sandbox-uids"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            st = folder.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
                return -1
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return -1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def take(self) -> int:
        with self._mutex:
            for _ in range(len(self._free)):
                uid = self._free.popleft()
                try:
                    pwd.getpwuid(uid)
                    continue  # a real account: never used, never given back
                except KeyError:
                    pass
                fd = self._lock(uid)
                if fd is not None:
                    self._locks[uid] = fd
                    return uid
                self._free.append(uid)
        raise SandboxDied(f"no free user id for another sandbox ({UID_POOL.start}-{UID_POOL.stop - 1} all in use)")

    def give(self, uid: int) -> None:
        """Back to the pool once none of its processes is left (else it stays out of use)."""
        deadline = time.monotonic() + 5
        while (left := _tasks_of(uid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._mutex:
            fd = self._locks.pop(uid, -1)
            if left:
                return
            if fd >= 0:
                os.close(fd)
            self._free.append(uid)


_UIDS = _UidPool(UID_POOL)


def _mounts(work: str, version: tuple[int, ...]) -> list[str]:
    """bwrap's options for the file system: the system, the Python environment, the course package, ``work``."""
    args, bound, made = [], [], {"/"}

    def visible(path: str) -> bool:
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound)

    def parents(path: str) -> None:  # folders bwrap would otherwise create mode 0700 (untraversable)
        for parent in reversed(Path(path).parents):
            if str(parent) not in made and not visible(str(parent)):
                args.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(str(parent))

    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args.extend(["--symlink", os.readlink(top), top])
        elif os.path.isdir(top):
            args.extend(["--ro-bind", top, top])
            bound.append(top)
    for path in ("/etc/ld.so.cache",):
        if os.path.exists(path):
            parents(path)
            args.extend(["--ro-bind", path, path])
    size = ["--size", str(64 * 2**20)] if version >= (0, 7) else []  # --size came in bubblewrap 0.7
    args.extend(["--proc", "/proc", "--dev", "/dev", "--perms", "1777", *size, "--tmpfs", "/tmp"])
    made.update(("/proc", "/dev", "/tmp"))
    if visible(str(ROOT)):  # a checkout under /usr: hide it, then show only the course package
        args.extend(["--tmpfs", str(ROOT)])
        made.add(str(ROOT))
    python = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix, os.path.realpath(sys.executable)]
    pairs = [(os.path.realpath(p), dest) for p in python for dest in dict.fromkeys((os.path.realpath(p), p))]
    # an environment whose entries link elsewhere (bin -> another venv's bin): the places they link to, too
    linked = [os.path.realpath(e.path) for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix))
              if os.path.isdir(prefix) for e in os.scandir(prefix) if e.is_symlink() and os.path.exists(e.path)]
    pairs += [(target, target) for target in linked]
    pairs += [(str(ROOT / "course_utils"), str(ROOT / "course_utils")),
              (str(ROOT / "course_tools"), str(ROOT / "course_tools"))]
    for src, dest in dict.fromkeys(pairs):
        if not visible(dest) or dest.startswith(str(ROOT) + "/"):
            parents(dest)
            args.extend(["--ro-bind", src, dest])
            bound.append(dest)
    parents(work)
    return args + ["--bind", work, work, "--chdir", work]


def _command(work: str, limits: Limits, bwrap: str | None, uid: int | None, program: list[str]):
    """(argv, env) that run ``program`` in a sandbox whose private folder is ``work``; without bwrap when it is None.

    With bwrap: as root, bwrap builds the namespaces and mounts and ``setpriv`` then drops to ``uid`` with no
    capabilities; otherwise bwrap runs as this user in a user namespace of its own.
    """
    if bwrap is None:
        processes = 0 if os.geteuid() == 0 else _tasks_of(os.getuid()) + limits.processes
    else:
        processes = limits.processes + (uid is None)  # in a user namespace, bwrap's own pid 1 counts too
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") if bwrap is None else
        f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": work,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        # the child sets these limits on itself before it imports anything else
        "COURSE_SANDBOX_LIMITS": f"{limits.memory_mb},{limits.file_mb},{processes}",
    }
    if bwrap is None:
        return program, env
    version = _bwrap_version(bwrap)
    argv = [bwrap]
    if uid is None:  # --disable-userns came in bubblewrap 0.8
        argv += ["--unshare-all", "--unshare-user"] + (["--disable-userns"] if version >= (0, 8) else [])
    else:  # --unshare-all without the user namespace, in which root could not become ``uid``
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv += _mounts(work, version) + ["--"]
    if uid is not None:
        argv += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig=keep"]
    return argv + program, {}


@functools.cache
def sandbox_available() -> tuple[bool, str]:
    """Whether the sandbox starts here: ``(True, "bubblewrap 0.8.0")``, or ``(False, why not)``.

    Probed once per process (``sandbox_available.cache_clear()`` probes again), by starting a
    sandbox that imports the course package and writes to its private folder.
    """
    if not sys.platform.startswith("linux"):
        return False, f"the sandbox needs Linux (bubblewrap), and this is {sys.platform}"
    bwrap = _bwrap()
    if bwrap is None:
        where = os.environ.get(BWRAP_ENV)
        return False, f"bubblewrap is not installed ({where} is not a program)" if where else \
            "bubblewrap is not installed (no `bwrap` on PATH)"
    version = _bwrap_version(bwrap)
    if version == (0,):
        return False, f"{bwrap} --version did not say a bubblewrap version"
    if version < (0, 5):  # --perms, for folders the sandbox's user can traverse, came in 0.5
        return False, f"bubblewrap {'.'.join(map(str, version))} is too old: 0.5 or later is needed"
    uid = None
    try:
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                return False, "setpriv (util-linux) is not installed"
            uid = _UIDS.take()
        with tempfile.TemporaryDirectory(prefix="course-sandbox-") as work:
            if uid is not None:
                os.chown(work, uid, uid)
            argv, env = _command(work, DEFAULT_LIMITS, bwrap, uid, [
                sys.executable, "-c", "import course_tools, pathlib; pathlib.Path('probe').write_text('ok')"])
            probe = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=60)
            wrote = os.path.exists(os.path.join(work, "probe"))
    except (OSError, subprocess.TimeoutExpired, SandboxDied) as err:
        return False, f"bubblewrap did not start a sandbox ({err})"
    finally:
        if uid is not None:
            _UIDS.give(uid)
    if probe.returncode != 0 or not wrote:
        said = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        if "namespace" in said or "Operation not permitted" in said:
            said += "; are unprivileged user namespaces disabled? (grade as root, or enable them)"
        return False, f"bubblewrap did not start a sandbox ({said[:300]})"
    return True, "bubblewrap " + ".".join(map(str, version))


def sandbox_name(unsandboxed: bool = False) -> str:
    """What the gradebook records: ``"bubblewrap 0.8.0"``, or ``"none (--unsandboxed)"`` (``""``: no sandbox here)."""
    if unsandboxed:
        return UNSANDBOXED
    ok, name = sandbox_available()
    return name if ok else ""


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. setup_s: to run the notebook's cells; check_s: per exercise;
    processes: how many processes and threads the sandbox may have at once (RLIMIT_NPROC)."""

    setup_s: float = 120.0
    check_s: float = 60.0
    memory_mb: int = 4096
    file_mb: int = 64
    processes: int = 32


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

    def __init__(self, limits: Limits = DEFAULT_LIMITS, unsandboxed: bool = False):
        """Start the child; ``unsandboxed``: without bubblewrap (only the limits and deadlines hold).

        Raises :class:`SandboxUnavailable` when the sandbox cannot start here and ``unsandboxed`` is
        not set, and :class:`SandboxDied` when the child does not say hello.
        """
        self.limits, self.sandboxed = limits, not unsandboxed
        bwrap = None
        if not unsandboxed:
            ok, why = sandbox_available()
            if not ok:
                raise SandboxUnavailable(why)
            bwrap = _bwrap()
        self.uid = _UIDS.take() if bwrap and os.geteuid() == 0 else None
        self.tmp = tempfile.TemporaryDirectory(prefix="course-sandbox-")
        work = self.tmp.name
        try:
            if self.uid is not None:
                os.chown(work, self.uid, self.uid)
            argv, env = _command(work, limits, bwrap, self.uid,
                                 [sys.executable, "-m", "course_tools.autograde.child"])
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=work, env=env, start_new_session=True,
            )
        except BaseException:
            self.tmp.cleanup()
            if self.uid is not None:
                _UIDS.give(self.uid)
            raise
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

    def _kill(self) -> None:
        """Kill the sandbox and wait for it: bwrap's pid 1 first, whose death ends its whole PID namespace
        before bwrap, waiting for it, exits; then the process group (all there is without bwrap)."""
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            children = []
        for child in children:
            try:  # a pidfd, so a pid reused in the meantime is never signalled
                fd = os.pidfd_open(child)
            except OSError:
                continue
            try:
                with open(f"/proc/{child}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
            finally:
                os.close(fd)
        if self.sandboxed and children:
            try:  # killing bwrap itself now would return before its namespace is empty
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self._kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._selector.close()
        self.tmp.cleanup()
        if self.uid is not None:
            uid, self.uid = self.uid, None
            _UIDS.give(uid)

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
            self._kill()
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
        if request.get("op") == "call":
            request = {**request, "grads": _leftover_grads(request.get("args", ()), request.get("kwargs", {}))}
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
        if kind in ("value", "grad", "state"):
            return kind, payload
        self._die("it broke the grader's protocol")


def _leftover_grads(args: tuple, kwargs: dict) -> list:
    """The ``.grad`` of every parameter of every module argument, in ``parameters()`` order (None elsewhere).

    A parameter's pickle drops its gradient; the sandbox puts these back, so a training step that
    forgets ``zero_grad`` meets the same leftover gradients there as in the notebook.
    """
    import torch

    values = [*args, *kwargs.values()]
    return [[p.grad for p in v.parameters()] if isinstance(v, torch.nn.Module) else None for v in values]


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

    def call_with_state(self, args: tuple, kwargs: dict):
        """See ``grading.compare.call_with_state``; the arguments changed are the sandbox's copies."""
        kind, payload = self.sandbox.call(
            {"op": "call", "id": self.exercise_id, "args": args, "kwargs": kwargs, "wrt": None, "state": True},
            self.deadline)
        if kind != "state" or not isinstance(payload, dict) or not isinstance(payload.get("after"), list) \
                or len(payload["after"]) != len(args):
            self.sandbox._die("it broke the grader's protocol")
        return payload.get("value"), tuple(payload["after"])

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

