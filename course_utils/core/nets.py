r"""The course's small networks: a plain MLP (GAN generators and critics) and time-conditioned MLPs
for flow matching, score matching and diffusion (sections 05-07).

:class:`TimeMLP` maps (x, t[, y]) to a vector like x: a velocity :math:`v_\theta(x, t)`, a score
:math:`s_\theta(x, t)` or a noise prediction :math:`\varepsilon_\theta(x_t, t)`. Time enters through the
sinusoidal embedding of the diffusion papers (the lecture's "time embedding"),

.. math:: \mathrm{emb}(t)_{2i} = \sin(s\,t\,\omega_i),\quad \mathrm{emb}(t)_{2i+1} = \cos(s\,t\,\omega_i),
          \quad \omega_i = \text{max\_period}^{-i / (k/2)},\ i = 0, \dots, k/2 - 1,

with s a scale that maps the course's t in [0, 1] (or a DDPM step t in 1..T, divided by T) onto
the embedding's frequencies. An optional class label y adds a learned embedding; the extra label
index ``n_labels`` means "no label" (the null token of classifier-free guidance).

The forward signature ``model(x (n, d), t (n, 1)) -> (n, d)`` is the vector-field signature of
:mod:`course_utils.core.ode`, so a trained velocity model samples with ``ode.integrate(model, x0)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["TimeMLP", "mlp", "sinusoidal_embedding"]


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0, scale: float = 1000.0) -> Tensor:
    """The sinusoidal time embedding above; t of shape (n,) or (n, 1), returns (n, dim) (dim even)."""
    if dim < 2 or dim % 2:
        raise ValueError(f"the embedding dimension must be even and >= 2, got {dim}")
    t = t.reshape(-1, 1).float() * scale
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = t * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimeMLP(nn.Module):
    """An MLP on [x, emb(t), emb(y)] with SiLU activations; output shape (n, dim) like x.

    Args:
        dim: the data dimension d (2 for toy data, 64 for 8x8 digits).
        width, depth: hidden units per layer and number of hidden layers.
        time_dim: size of the sinusoidal time embedding (0: feed t itself as one input).
        n_labels: number of classes for conditioning (0: unconditional); label n_labels is "no label".
        time_scale: multiplies t before the embedding (1000 for t in [0, 1]).
    """

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3, time_dim: int = 32,
                 n_labels: int = 0, time_scale: float = 1000.0):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1 or time_dim < 0 or n_labels < 0:
            raise ValueError(f"need dim, width, depth >= 1 and time_dim, n_labels >= 0; got "
                             f"{dim}, {width}, {depth}, {time_dim}, {n_labels}")
        self.dim, self.time_dim, self.n_labels, self.time_scale = dim, time_dim, n_labels, time_scale
        self.label_embedding = nn.Embedding(n_labels + 1, width) if n_labels else None
        layers: list[nn.Module] = []
        d_in = dim + (time_dim or 1) + (width if n_labels else 0)
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.SiLU()]
            d_in = width
        layers.append(nn.Linear(d_in, dim))
        self.net = nn.Sequential(*layers)

    def null_labels(self, n: int) -> Tensor:
        """n copies of the "no label" index, shape (n,)."""
        return torch.full((n,), self.n_labels, dtype=torch.long)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """x: (n, dim); t: (n, 1), (n,) or a number; y: labels (n,) in 0..n_labels (None: no label)."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
        emb = (sinusoidal_embedding(t, self.time_dim, scale=self.time_scale) if self.time_dim
               else t.float())
        parts = [x.float(), emb]
        if self.label_embedding is not None:
            y = self.null_labels(x.shape[0]) if y is None else torch.as_tensor(y, dtype=torch.long).reshape(-1)
            if y.shape[0] != x.shape[0] or bool(((y < 0) | (y > self.n_labels)).any()):
                raise ValueError(f"y must hold {x.shape[0]} labels in 0..{self.n_labels} "
                                 f"({self.n_labels} = no label)")
            parts.append(self.label_embedding(y))
        elif y is not None:
            raise ValueError("this network was built with n_labels=0 and takes no label y")
        return self.net(torch.cat(parts, dim=1)).to(x.dtype)


def mlp(n_in: int, n_out: int, width: int = 64, depth: int = 3) -> nn.Sequential:
    """A LeakyReLU(0.2) MLP with ``depth`` hidden layers of ``width`` units (float32)."""
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)
