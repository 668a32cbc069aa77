"""One torch thread for small tensors: the course's demos, plots and trainers run inside :func:`one_thread`."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["one_thread"]


@contextmanager
def one_thread():
    """Run torch on one thread inside the block, restoring the setting afterwards.

    The course's networks and demos work on tiny tensors, where the thread pool only adds
    latency: on a 2-core machine a (1024, 2) @ (2, 10) matmul took ~16 ms on 2 threads and
    ~0.3 ms on one, and small MLPs train faster on one thread (much faster on a busy machine).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
