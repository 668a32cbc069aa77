"""Comparing a student's output with the reference, and naming the likely mistake.

A check computes the reference output and, beside it, the outputs of the
plausible wrong answers (a missing 1/2, the wrong axis, a sign slip). When the
student's output is wrong and matches one of those, the message says which
mistake it looks like; that is the feedback that teaches.
"""

from __future__ import annotations

import copy
import hashlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor

from .core import CheckFailed, current_exercise

__all__ = ["Mistake", "to_plain_tensor", "expect_close", "clone_args", "generator", "set_hidden_salt",
           "for_student", "hidden_seed", "call_with_grad", "call_with_state", "state_of", "seeded_module",
           "with_leftover_grads", "copy_with_grads", "flat_state"]

# The course's grading secret. The class grader sets it (``--secret``/``--salt``); a student's
# notebook never does, so there every check sees the inputs written in it.
_secret: str = ""
# Whose notebook is being graded: set per student (and per thread) by the class grader.
_student: ContextVar[str] = ContextVar("student", default="")


def set_hidden_salt(secret) -> None:
    """Set the course's grading secret (an int or a string; 0 or "" switch hidden inputs off).

    The grade command calls this; notebooks never do. The secret is hashed into each check's
    seeds (see :func:`hidden_seed`) and never leaves the grader's process.
    """
    global _secret
    _secret = "" if secret in (0, "0", "", None) else str(secret)


@contextmanager
def for_student(student: str):
    """Within the block, checks draw the hidden inputs of ``student`` (the class grader's context)."""
    token = _student.set(str(student))
    try:
        yield
    finally:
        _student.reset(token)


def hidden_seed(seed: int) -> int:
    """The seed a check really uses for its written ``seed``.

    In a notebook (no secret, no student) it is ``seed`` itself. In the class grader it is a
    hash of (secret, student, exercise, seed): each student gets inputs of their own, so an
    output copied from a classmate or hard-coded from feedback fails, and nobody can compute
    them without the secret.
    """
    student, exercise = _student.get(), current_exercise()
    if not _secret and not student:
        return seed
    digest = hashlib.blake2b(f"{_secret}\0{student}\0{exercise}\0{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def generator(seed: int) -> torch.Generator:
    """The fixed-seed generator a check draws its random inputs from (see :func:`hidden_seed`)."""
    return torch.Generator().manual_seed(hidden_seed(seed))


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: what it returns on the check's inputs, and what to say."""

    value: Tensor
    says: str


def to_plain_tensor(x, what: str = "your function") -> Tensor:
    """Copy ``x`` into a plain float64 ``torch.Tensor`` (tensor subclasses are stripped)."""
    if isinstance(x, Tensor) and x.layout != torch.strided:
        raise CheckFailed(f"{what} returned a {x.layout} tensor: return an ordinary (dense) tensor")
    if isinstance(x, Tensor):
        # A subclass's __torch_function__ could lie about its values: switch it off while copying.
        with torch._C.DisableTorchFunctionSubclass():
            t = Tensor.detach(x).as_subclass(Tensor).clone()
    elif isinstance(x, (bool, int, float, list, tuple)) or type(x).__module__ == "numpy":
        try:
            t = torch.as_tensor(x)
        except Exception as err:  # noqa: BLE001
            raise CheckFailed(f"{what} should return a tensor, got {type(x).__name__}") from err
    else:
        # Anything else (an object whose __eq__ always says True, say) is not a result.
        raise CheckFailed(f"{what} should return a tensor, got {type(x).__name__}")
    if t.is_complex():
        raise CheckFailed(f"{what} returned complex numbers")
    return t.to(torch.float64).clone()


def clone_args(*args):
    """Fresh copies of tensor arguments, so a student's in-place edit cannot touch the check's."""
    return tuple(a.clone() if isinstance(a, Tensor) else a for a in args)


def call_with_grad(fn, *args, wrt: tuple[int, ...], cotangent: Tensor | None = None, output: int | None = None):
    """Call ``fn(*args)`` and differentiate its output with respect to ``args[i]``, i in ``wrt``.

    The output differentiated is ``fn(*args)`` itself, or its element ``output`` when
    the function returns a tuple. A scalar output is differentiated directly; any other
    tensor needs ``cotangent`` (same shape), giving the vector-Jacobian product, the
    gradient of ``(out * cotangent).sum()``.

    An argument that is a tensor gets one gradient (None where the output does not depend
    on it); an argument that is a ``torch.nn.Module`` gets a tuple with one gradient per
    parameter, in ``parameters()`` order (so a check can see which parameters a loss term
    trains).

    Returns ``(value, grads)``: ``grads`` is None when the output carries no gradient
    (not a tensor, detached, or not a scalar without a cotangent), else a tuple with one
    entry per index in ``wrt``. The class grader's remote functions do the same in the
    sandbox (see ``course_tools.autograde``), so a check written with this helper runs
    unchanged in the notebook and in grading.
    """
    if hasattr(fn, "call_with_grad"):
        return fn.call_with_grad(args, wrt, cotangent, output)
    args = tuple(
        a.detach().clone().requires_grad_(True) if i in wrt and isinstance(a, Tensor) else a
        for i, a in enumerate(args)
    )
    value = fn(*args)
    out = value[output] if output is not None and isinstance(value, (tuple, list)) else value
    if not isinstance(out, Tensor):
        return value, None
    groups = [list(args[i].parameters()) if isinstance(args[i], torch.nn.Module) else [args[i]] for i in wrt]
    inputs = [t for group in groups for t in group]
    with torch._C.DisableTorchFunctionSubclass():
        plain = out.as_subclass(Tensor)
        if not plain.requires_grad or (cotangent is None and plain.numel() != 1):
            return value, None
        if cotangent is None:
            flat = torch.autograd.grad(plain.reshape(()), inputs, allow_unused=True)
        else:
            flat = torch.autograd.grad(plain, inputs, grad_outputs=cotangent.to(plain.dtype), allow_unused=True)
    grads, k = [], 0
    for i, group in zip(wrt, groups, strict=True):
        chunk = flat[k:k + len(group)]
        k += len(group)
        grads.append(tuple(chunk) if isinstance(args[i], torch.nn.Module) else chunk[0])
    return value, tuple(grads)


def seeded_module(build, g: torch.Generator) -> torch.nn.Module:
    """``build()``'s module with its weights drawn from ``g`` (torch's global random state left alone).

    Linear layers get PyTorch's default range U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
    biases, embeddings N(0, 1): so a check's network follows its hidden seed like its other inputs.
    """
    with torch.random.fork_rng(devices=[]):
        module = build()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Linear):
                bound = 1 / m.in_features ** 0.5
                for p in (m.weight, m.bias):
                    if p is not None:
                        p.copy_((2 * torch.rand(p.shape, generator=g, dtype=torch.float64) - 1) * bound)
            elif isinstance(m, torch.nn.Embedding):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64))
    return module


def with_leftover_grads(module: torch.nn.Module, g: torch.Generator, scale: float = 0.5) -> torch.nn.Module:
    """``module`` with gradients "left over from an earlier step" in every parameter's ``.grad``, drawn from ``g``.

    A training step must zero them first (``optimizer.zero_grad()``); one that forgets applies them
    too, and a check sees it. They are recorded on the module, so :func:`copy_with_grads` can put
    them back on each copy (``copy.deepcopy`` and pickling drop ``.grad``; the class grader's sandbox
    restores them on its side).
    """
    module._leftover = [scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
                        for p in module.parameters()]
    for p, grad in zip(module.parameters(), module._leftover, strict=True):
        p.grad = grad.clone()
    return module


def copy_with_grads(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``module`` with the leftover gradients of :func:`with_leftover_grads` in place."""
    twin = copy.deepcopy(module)
    for p, grad in zip(twin.parameters(), getattr(twin, "_leftover", ()), strict=True):
        p.grad = grad.clone()
    return twin


def flat_state(state: dict) -> Tensor:
    """A module's ``state_dict`` (or :func:`call_with_state`'s reading of it) as one flat float64 vector."""
    return torch.cat([to_plain_tensor(v).flatten() for v in state.values()])


def state_of(x):
    """A plain copy of an argument as it is now: a tensor's values, a module's ``state_dict``
    (parameters and buffers, by name), lists and tuples element by element; None for anything else."""
    if isinstance(x, Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            return Tensor.detach(x).as_subclass(Tensor).clone()
    if isinstance(x, torch.nn.Module):
        return {name: state_of(t) for name, t in x.state_dict(keep_vars=True).items()}
    if isinstance(x, (list, tuple)):
        return type(x)(state_of(v) for v in x)
    return None


def call_with_state(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` and return ``(value, after)``, where ``after[i]`` is
    :func:`state_of` ``args[i]`` after the call.

    A check that must see what a function changes in place (weight clipping updates the
    critic, a sampler must not overwrite its ``x0``) asks for it here. The arguments are
    the function's to change: pass copies (:func:`clone_args`, a fresh module). The class
    grader's remote functions answer the same from the sandbox, where the arguments are
    the sandbox's own copies.
    """
    if hasattr(fn, "call_with_state"):
        return fn.call_with_state(args, kwargs)
    value = fn(*args, **kwargs)
    return value, tuple(state_of(a) for a in args)


def _close(a: Tensor, b: Tensor, rtol: float, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    return bool(torch.allclose(a, b.to(a.dtype), rtol=rtol, atol=atol, equal_nan=True))


def _diagnose(got: Tensor, mistakes: list[Mistake], rtol: float, atol: float) -> str:
    for m in mistakes:
        if _close(got, to_plain_tensor(m.value), rtol, atol):
            return m.says
    return ""


def expect_close(
    got,
    expected,
    *,
    what: str,
    mistakes: list[Mistake] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Raise CheckFailed unless ``got`` matches ``expected`` in shape and value.

    Args:
        got: the student's output.
        expected: the reference output (a tensor or number).
        what: names the case in the message, e.g. "a batch of 64 rows".
        mistakes: plausible wrong answers, tried in order when ``got`` is wrong.
    """
    got = to_plain_tensor(got)
    expected = to_plain_tensor(expected, "the reference")
    if got.shape != expected.shape:
        hint = _diagnose(got, mistakes, rtol, atol)
        msg = f"on {what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        raise CheckFailed(f"{msg}: {hint}" if hint else msg)
    if _close(got, expected, rtol, atol):
        return
    hint = _diagnose(got, mistakes, rtol, atol)
    diff = (got - expected).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
    if expected.ndim == 0:
        detail = f"expected {expected.item():.6g}, got {got.item():.6g}"
    else:
        i = int(diff.flatten().argmax())
        detail = (
            f"values differ from the reference (largest difference {diff.flatten()[i].item():.3g} "
            f"at flat index {i})"
        )
    msg = f"on {what}: {detail}"
    raise CheckFailed(f"{msg}: {hint}" if hint else msg)
