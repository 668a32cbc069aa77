"""The sandbox process: runs a student's exercise cells and calls their functions.

Started by :class:`course_tools.autograde.sandbox.Sandbox` as
``python -m course_tools.autograde.child`` inside a bubblewrap sandbox (or,
with ``--unsandboxed``, without one), in an empty private directory, as an
unprivileged user, under time, memory, file-size and process limits (the
latter three set here, first thing, from ``COURSE_SANDBOX_LIMITS``). It
speaks the protocol of :mod:`.wire` on file
descriptors it copies from stdin and stdout before any student code runs;
the student's own prints go to a bounded buffer, and file descriptors 0-2 to
/dev/null.

Nothing here is trusted: the student's code may patch this module, torch or
``course_utils``. It can only change the answers it sends, and the grader
compares those answers with references it computes in its own process.

Requests (pickles), answers (:func:`.wire.pack`):

- ``{"op": "setup", "steps": [Step, ...]}``: run the program. Answers
  ``("at", i)`` before step i, then ``("ready", {exercise id: {"defined": bool,
  "error": str | None}})``.
- ``{"op": "call", "id", "args", "kwargs", "wrt", "grads"}``: call the exercise's
  function, its module arguments given back their parameters' ``.grad`` (pickling
  drops them), and differentiate, when ``wrt`` is a tuple (see
  ``grading.compare.call_with_grad``). Answers ``("value", plain)``,
  ``("grad", {"value", "grads"})``, ``("state", {"value", "after"})`` when the
  request has ``"state": True`` (see ``grading.compare.call_with_state``),
  ``("raised", {"type", "message", "not_implemented"})``, or ``("unreadable",
  message)`` for a return value that is not plain data (see
  :func:`.wire.to_wire`) or a function that called the exercise's reference
  answer (watched by ``grading.core.reference_guard`` during every call).
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import traceback

OUTPUT_LIMIT = 20_000


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first OUTPUT_LIMIT characters and drops the rest."""

    def __init__(self):
        self.kept: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self.size < OUTPUT_LIMIT:
            self.kept.append(s[: OUTPUT_LIMIT - self.size])
            self.size += len(self.kept[-1])
        return len(s)


def _read_frame(stream) -> bytes:
    from .wire import frame_length

    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    n = frame_length(head)
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _describe(err: BaseException) -> str:
    """One line: the exception and, for a syntax error, where it is."""
    if isinstance(err, SyntaxError):
        return f"SyntaxError: {err.msg} (line {err.lineno} of the cell)"
    return "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()[-1][:500]


class Child:
    def __init__(self, proto_in, proto_out):
        self.proto_in, self.proto_out = proto_in, proto_out
        self.functions: dict[str, object] = {}
        self.shell = None
        # bound before any student code runs, so a cell that patches these modules does not change them here
        from course_utils.grading.compare import call_with_grad, call_with_state
        from course_utils.grading.core import get, reference_guard, reference_message

        self.tools = (call_with_grad, call_with_state, get, reference_guard, reference_message)

    def send(self, obj) -> None:
        from .wire import header, pack

        data = pack(obj)
        self.proto_out.write(header(len(data)) + data)
        self.proto_out.flush()

    def run_cell(self, code: str) -> str | None:
        """Run one cell like a notebook would; returns the error line, or None."""
        result = self.shell.run_cell(code, store_history=False, silent=True)
        err = result.error_before_exec or result.error_in_exec
        return _describe(err) if err is not None else None

    def setup(self, steps) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.shell.showtraceback = lambda *a, **k: None  # errors are read from the result, never shown
        status = {}
        for i, step in enumerate(steps):
            self.send(("at", i))
            error = self.run_cell(step.code)
            if step.kind == "exercise":
                fn = self.shell.user_ns.get(step.function)
                self.functions[step.exercise] = fn
                status[step.exercise] = {"defined": callable(fn), "error": error}
        self.send(("ready", status))

    def call(self, request: dict):
        call_with_grad, call_with_state, get, reference_guard, reference_message = self.tools
        from .wire import NotPlain, to_wire

        fn = self.functions.get(request["id"])
        try:
            reference = get(request["id"]).reference
        except KeyError:  # an id the course does not register (the sandbox's own tests use such)
            reference = None
        _restore_grads(request)
        guard = reference_guard(reference)
        try:
            with guard:
                if request.get("wrt") is not None:
                    value, grads = call_with_grad(fn, *request["args"], wrt=tuple(request["wrt"]),
                                                  cotangent=request.get("cotangent"), output=request.get("output"))
                    answer = ("grad", {"value": to_wire(value),
                                       "grads": None if grads is None else [to_wire(g) for g in grads]})
                elif request.get("state"):
                    value, after = call_with_state(fn, *request["args"], **request.get("kwargs", {}))
                    answer = ("state", {"value": to_wire(value), "after": [to_wire(a) for a in after]})
                else:
                    answer = ("value", to_wire(fn(*request["args"], **request.get("kwargs", {}))))
        except NotPlain as err:
            answer = ("unreadable", str(err))
        except BaseException as err:  # noqa: BLE001 - SystemExit too: it is the student's answer
            answer = ("raised", {"type": type(err).__name__, "message": str(err)[:1000],
                                 "not_implemented": _not_implemented(err)})
        if guard.seen:
            answer = ("unreadable", reference_message(reference))
        elif guard.tampered:
            answer = ("unreadable", "your function switched off the interpreter's profiler (sys.setprofile), "
                                    "which the grader uses to watch for calls of the reference answer")
        self.send(answer)

    def serve(self) -> None:
        while True:
            try:
                request = pickle.loads(_read_frame(self.proto_in))
            except EOFError:
                return
            if request["op"] == "setup":
                self.setup(request["steps"])
            elif request["op"] == "call":
                self.call(request)


def _restore_grads(request: dict) -> None:
    """Give the module arguments back the gradients their parameters had in the grader (pickling drops them)."""
    values = [*request.get("args", ()), *request.get("kwargs", {}).values()]
    for value, grads in zip(values, request.get("grads") or (), strict=False):
        if grads is not None:
            for param, grad in zip(value.parameters(), grads, strict=False):
                param.grad = grad


def _not_implemented(err: BaseException | None) -> bool:
    while err is not None:
        if isinstance(err, NotImplementedError):
            return True
        err = err.__cause__ or err.__context__
    return False


def _limit_self() -> None:
    """Memory, file-size, process and core-dump limits, from COURSE_SANDBOX_LIMITS="memory_mb,file_mb,processes".

    ``processes`` (RLIMIT_NPROC, threads included) is 0 for none: it counts every process of the
    user, so the grader sets it only where that user is the sandbox's own (see ``sandbox._command``).
    """
    import resource

    memory_mb, file_mb, processes = (
        [int(x) for x in os.environ.get("COURSE_SANDBOX_LIMITS", "4096,64").split(",")] + [0])[:3]
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if processes > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def main() -> None:
    _limit_self()
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = io.StringIO("")
    sys.stdout = sys.stderr = BoundedText()
    import torch

    torch.set_num_threads(1)
    import course_utils.grading  # noqa: F401 - imported before any student code, like the notebook's cell

    child = Child(proto_in, proto_out)
    child.send(("hello", os.getpid()))
    child.serve()


if __name__ == "__main__":
    main()
