"""The byte format between the grader and its sandbox.

Frames are length-prefixed. The grader sends pickles (it trusts itself); the
sandbox answers in ``torch.save`` format, which the grader reads with
``torch.load(weights_only=True)``: that can only build plain tensors, numbers,
strings and containers of them. A student's object can never be unpickled in
the grader, so a tensor subclass that lies, or an object whose ``__eq__``
always says True, cannot reach a check.
"""

from __future__ import annotations

import io
import struct

import torch

__all__ = ["pack", "unpack", "to_wire", "WireError", "MAX_FRAME"]

MAX_FRAME = 256 * 2**20
_HEADER = struct.Struct("!Q")


class WireError(ValueError):
    """A frame that is not what the protocol allows."""


def header(n: int) -> bytes:
    return _HEADER.pack(n)


def frame_length(head: bytes) -> int:
    (n,) = _HEADER.unpack(head)
    if n > MAX_FRAME:
        raise WireError(f"a frame of {n} bytes is over the {MAX_FRAME} byte limit")
    return n


def pack(obj) -> bytes:
    """Sandbox side: serialise an answer (plain data only, see :func:`to_wire`)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def unpack(data: bytes):
    """Grader side: read an answer; refuses anything but plain tensors, numbers and containers."""
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:  # noqa: BLE001 - any malformed answer is the sandbox's fault
        raise WireError(f"unreadable answer from the sandbox ({type(err).__name__})") from None


class NotPlain(TypeError):
    """A return value the grader cannot accept."""


def to_wire(value, depth: int = 0):
    """A plain copy of a function's return value: tensors, numbers, strings, None, and
    tuples, lists and str-keyed dicts of them. Anything else raises :class:`NotPlain`."""
    if depth > 8:
        raise NotPlain("your function returned a value nested more than 8 levels deep")
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.device.type != "cpu":
            raise NotPlain(f"your function returned a {value.layout} tensor on {value.device.type}: "
                           "return an ordinary (dense, CPU) tensor")
        try:
            with torch._C.DisableTorchFunctionSubclass():
                plain = torch.Tensor.detach(value).as_subclass(torch.Tensor).clone()
        except Exception as err:  # noqa: BLE001 - a subclass that cannot even be copied
            raise NotPlain(f"your function returned a tensor the grader cannot copy ({type(err).__name__})") \
                from None
        if type(plain) is not torch.Tensor:
            raise NotPlain("your function returned a tensor the grader cannot copy")
        return plain
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        if value.dtype.kind not in "biuf":
            raise NotPlain(f"your function returned a numpy value of dtype {value.dtype}; return numbers")
        import numpy as np

        try:
            return torch.from_numpy(np.array(value, dtype=value.dtype.newbyteorder("="), copy=True))
        except (TypeError, ValueError) as err:
            raise NotPlain(f"your function returned a numpy value the grader cannot copy ({err})") from None
    if type(value) in (tuple, list):
        items = [to_wire(v, depth + 1) for v in value]
        return tuple(items) if type(value) is tuple else items
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: to_wire(v, depth + 1) for k, v in value.items()}
    raise NotPlain(f"your function should return a tensor, a number, or a tuple or list of them, "
                   f"got {type(value).__name__}")
