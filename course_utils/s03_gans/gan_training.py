r"""Training GANs on 2-D targets: alternating updates, targets, and how to judge the result.

Taught in notebook ``03_gans`` (slides "Training GANs": alternate optimisation of
:math:`D_\phi` and :math:`g_\theta`, oscillation, mode collapse). One trainer,
:class:`AdversarialTrainer`, serves every GAN of the notebook (the plain GAN, the LSGAN,
the conditional GAN, CycleGAN) and the GAN Lab widget: it alternates one Adam step on the
discriminators' loss with one Adam step on the generators' loss.

Samples are float32 tensors of shape (n, 2); generators map noise z ~ N(0, I_q) (and, for a
conditional GAN, a one-hot label) to points.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.nets import mlp
from ..core.threads import one_thread
from ..data.mixtures import GaussianMixture
from ..data.toy2d import labelled_ring, ring_of_gaussians
from .gan import discriminator_loss, generator_loss, lsgan_losses

__all__ = [
    "AdversarialTrainer",
    "GANRun",
    "LOSSES",
    "ModeCoverage",
    "gan_loss_fns",
    "gan_step",
    "labelled_ring",
    "mlp",
    "mode_coverage",
    "one_hot",
    "ring_of_gaussians",
    "sample_generator",
    "sample_labelled",
    "CGANRun",
    "train_cgan_2d",
    "train_gan_2d",
]

Loss = Literal["minimax", "nonsaturating", "least_squares"]
#: The generator losses a 2-D GAN can train with (the GAN Lab widget's choices).
LOSSES: tuple[str, ...] = ("minimax", "nonsaturating", "least_squares")


# --- targets -------------------------------------------------------------------------------


def sample_labelled(mixture: GaussianMixture, component_labels: Tensor, n: int,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """n samples of a labelled mixture: points (n, d) float32 and their labels (n,) int64."""
    k = torch.multinomial(mixture.weights, n, replacement=True, generator=generator)
    eps = torch.randn(n, mixture.dim, generator=generator, dtype=torch.float64)
    x = mixture.means[k] + mixture.variances[k].sqrt()[:, None] * eps
    return x.float(), component_labels[k]


def one_hot(labels: Tensor, n_labels: int) -> Tensor:
    """Labels (n,) -> float32 one-hot codes (n, n_labels)."""
    return F.one_hot(labels.long(), n_labels).float()


# --- networks ------------------------------------------------------------------------------


# --- the alternating trainer ---------------------------------------------------------------


def _params(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]


@dataclass
class AdversarialTrainer:
    r"""Alternating Adam updates (slide "Training GANs"): one step on D, then one on g.

    .. math::
        \phi \leftarrow \mathrm{Adam}(\phi, \nabla_\phi \mathcal L_D), \qquad
        \theta \leftarrow \mathrm{Adam}(\theta, \nabla_\theta \mathcal L_g)

    Attributes:
        discriminators, generators: the modules each loss trains.
        d_loss: ``d_loss() -> scalar``: draws its own batch; the fakes should be detached.
        g_loss: ``g_loss() -> scalar``: draws fresh noise and scores the fakes with D.
        lr_d, lr_g, betas: Adam's settings (betas (0.5, 0.999) is the DCGAN choice).
        d_steps: discriminator steps per generator step.
        history: {"d": [...], "g": [...]} losses of every step taken.
    """

    discriminators: list[nn.Module]
    generators: list[nn.Module]
    d_loss: Callable[[], Tensor]
    g_loss: Callable[[], Tensor]
    lr_d: float = 1e-3
    lr_g: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1
    history: dict = field(default_factory=lambda: {"d": [], "g": []})

    def __post_init__(self):
        for name, lr in (("lr_d", self.lr_d), ("lr_g", self.lr_g)):
            if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
                raise ValueError(f"{name} must be a positive finite learning rate, got {lr!r}")
        if self.d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {self.d_steps}")
        # foreach: one fused update over all parameters, ~15 % faster for these tiny networks on a CPU
        self.opt_d = torch.optim.Adam(_params(self.discriminators), lr=self.lr_d, betas=self.betas, foreach=True)
        self.opt_g = torch.optim.Adam(_params(self.generators), lr=self.lr_g, betas=self.betas, foreach=True)

    def set_lr(self, lr_d: float, lr_g: float) -> None:
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        self.lr_d, self.lr_g = lr_d, lr_g

    def _take(self, loss_fn, optimizer, key: str) -> float:
        loss = loss_fn()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the {key.upper()} loss became {value}: try a smaller learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.history[key].append(value)
        return value

    def step_d(self) -> float:
        """One Adam step on the discriminators' loss; returns the loss."""
        return self._take(self.d_loss, self.opt_d, "d")

    def step_g(self) -> float:
        """One Adam step on the generators' loss (D's gradients are discarded); returns the loss."""
        return self._take(self.g_loss, self.opt_g, "g")

    def step(self, n: int = 1) -> None:
        """n alternating iterations: ``d_steps`` D steps, then one g step."""
        with one_thread():
            for _ in range(n):
                for _ in range(self.d_steps):
                    self.step_d()
                self.step_g()

    def train(self, steps: int, progress: bool = True, desc: str = "GAN", every: int = 0,
              callback: Callable[[int], None] | None = None, max_seconds: float | None = None,
              decay: bool = False) -> float:
        """Run ``steps`` iterations with a tqdm bar; ``callback(step)`` every ``every`` steps.

        ``decay``: lower both learning rates linearly to 0 over the run (the game then settles instead of
        circling). Stops early if ``max_seconds`` would be exceeded. Returns the training seconds.
        """
        from tqdm.auto import tqdm

        start = time.perf_counter()
        done = 0
        lr_d, lr_g = self.lr_d, self.lr_g
        with tqdm(total=steps, desc=desc, disable=not progress, file=sys.stderr, leave=False) as bar:
            while done < steps:
                if decay:
                    frac = 1.0 - done / steps
                    if max_seconds is not None and done:
                        frac = min(frac, 1.0 - (time.perf_counter() - start) / max_seconds)
                    self.set_lr(lr_d * max(frac, 0.02), lr_g * max(frac, 0.02))
                chunk = min(25, steps - done)
                if every:
                    chunk = min(chunk, every - done % every)
                self.step(chunk)
                done += chunk
                bar.update(chunk)
                bar.set_postfix(d=f"{self.history['d'][-1]:.3f}", g=f"{self.history['g'][-1]:.3f}", refresh=False)
                if callback is not None and every and done % every == 0:
                    callback(done)
                elapsed = time.perf_counter() - start
                if max_seconds is not None and elapsed * (done + chunk) / done > max_seconds:
                    break
        return time.perf_counter() - start


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, x_real: Tensor, z: Tensor) -> tuple[float, float]:
    r"""One alternating GAN iteration (slide "practical training algorithm"): a D step, then a g step.

    1. Discriminator: :math:`\phi \leftarrow \phi - \eta_D \nabla_\phi \mathcal L_D`, with
       :math:`\mathcal L_D = -\frac1m \sum_i \log D(x_i) - \frac1{m'} \sum_j \log(1 - D(g(z_j)))`
       (:func:`~.gan.discriminator_loss`). The fakes are detached: this step must not leave a gradient
       in g (or g's gradients must be zeroed before g's own step).
    2. Generator: :math:`\theta \leftarrow \theta - \eta_g \nabla_\theta \mathcal L_g`, with the
       non-saturating :math:`\mathcal L_g = -\frac1{m'} \sum_j \log D(g(z_j))` scored by the UPDATED D
       (fresh D outputs, not the ones computed before D's step); D's parameters do not move.

    Each optimiser's gradients are zeroed before its backward pass.

    Args:
        generator: g, maps z (m', q) to points (m', n).
        discriminator: D, maps points (k, n) to logits (k, 1) or (k,).
        opt_g, opt_d: optimisers over g's and D's parameters.
        x_real: a real batch, shape (m, n).
        z: a noise batch, shape (m', q).

    Returns:
        ``(loss_d, loss_g)`` as floats: D's loss before its step, g's loss (with the updated D) before its step.

    Graded in exercise 3.6 (notebook ``03_gans``).
    """
    fake = generator(z)
    loss_d = discriminator_loss(discriminator(x_real), discriminator(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = generator_loss(discriminator(fake), "nonsaturating")
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return float(loss_d.detach()), float(loss_g.detach())


def gan_loss_fns(generator: nn.Module, discriminator: nn.Module, real: Callable[[int], Tensor],
                 loss: Loss = "nonsaturating", batch: int = 256, z_dim: int = 2,
                 noise: torch.Generator | None = None, lsgan_abc: tuple[float, float, float] = (0.0, 1.0, 1.0)):
    """The (d_loss, g_loss) closures of a 2-D GAN, for :class:`AdversarialTrainer`.

    ``loss``: "minimax" and "nonsaturating" train D by binary cross-entropy
    (:func:`~.gan.discriminator_loss`) and g by :func:`~.gan.generator_loss`;
    "least_squares" uses :func:`~.gan.lsgan_losses` with ``lsgan_abc`` = (a, b, c).
    ``real(n)`` draws n real points (n, 2).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")

    def z(n):
        return torch.randn(n, z_dim, generator=noise)

    def d_loss():
        x, fake = real(batch), generator(z(batch)).detach()
        if loss == "least_squares":
            return lsgan_losses(discriminator(x), discriminator(fake), *lsgan_abc).discriminator
        return discriminator_loss(discriminator(x), discriminator(fake))

    def g_loss():
        scores = discriminator(generator(z(batch)))
        if loss == "least_squares":
            a, b, c = lsgan_abc
            return ((scores - c) ** 2).mean()
        return generator_loss(scores, loss)

    return d_loss, g_loss


# --- judging a 2-D model -------------------------------------------------------------------


@dataclass(frozen=True)
class ModeCoverage:
    """How a sample spreads over the target's modes.

    Attributes:
        covered: modes that received at least ``min_fraction`` of their fair share of samples.
        counts: samples within ``3 std`` of each mode, shape (K,).
        high_quality: the fraction of samples within ``3 std`` of some mode.
    """

    covered: int
    counts: Tensor
    high_quality: float


def mode_coverage(samples: Tensor, target: GaussianMixture, min_fraction: float = 0.25) -> ModeCoverage:
    """Count the modes of an isotropic mixture that ``samples`` (n, d) cover (Srivastava et al. 2017 style)."""
    x = samples.detach().to(torch.float64)
    dist = torch.cdist(x, target.means)
    nearest = dist.argmin(1)
    near = dist.min(1).values <= 3 * target.variances[nearest].sqrt()
    counts = torch.bincount(nearest[near], minlength=len(target.weights))
    fair = target.weights * len(x)
    covered = int((counts >= min_fraction * fair).sum())
    return ModeCoverage(covered, counts, float(near.double().mean()))


@torch.no_grad()
def sample_generator(generator: nn.Module, n: int, z_dim: int = 2, seed: int = 0,
                     labels: Tensor | None = None, n_labels: int = 0) -> Tensor:
    """n samples (n, 2) of a trained generator from seeded noise (with one-hot labels for a cGAN)."""
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    if labels is not None:
        z = torch.cat([z, one_hot(labels, n_labels)], dim=1)
    return generator(z)


@dataclass
class GANRun:
    """A trained 2-D GAN and the record of its training.

    Attributes:
        generator, discriminator: the trained networks.
        trainer: the :class:`AdversarialTrainer` (its ``history`` holds the losses).
        snapshots: {step: samples (n, 2) from the fixed noise ``fixed_z``}.
        fixed_z: the noise batch the snapshots follow.
        seconds: training wall time.
        z_dim: noise dimension.
    """

    generator: nn.Module
    discriminator: nn.Module
    trainer: AdversarialTrainer
    snapshots: dict
    fixed_z: Tensor
    seconds: float
    z_dim: int

    def sample(self, n: int, seed: int = 0) -> Tensor:
        return sample_generator(self.generator, n, self.z_dim, seed)


def train_gan_2d(target: GaussianMixture, loss: Loss = "nonsaturating", steps: int = 1500, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.5, 0.999), width: int = 64, z_dim: int = 2, batch: int = 256,
                 seed: int = 0, snapshot_every: int = 0, n_snapshot: int = 512, progress: bool = True,
                 max_seconds: float | None = None, lsgan_abc: tuple[float, float, float] = (0.0, 1.0, 1.0),
                 d_steps: int = 1, desc: str | None = None, decay: bool = True) -> GANRun:
    """Train a GAN (MLP generator and discriminator) on a 2-D mixture with alternating Adam updates.

    Everything random (initial weights, data, noise) follows ``seed``, so a run reproduces.
    Snapshots every ``snapshot_every`` steps map a fixed noise batch through the generator. ``decay``
    lowers the learning rate linearly to (almost) 0 by the last step (or by ``max_seconds``).
    """
    torch.manual_seed(seed)
    g_net, d_net = mlp(z_dim, 2, width), mlp(2, 1, width)
    data_gen = torch.Generator().manual_seed(seed + 1)
    noise = torch.Generator().manual_seed(seed + 2)
    fixed_z = torch.randn(n_snapshot, z_dim, generator=torch.Generator().manual_seed(seed + 3))
    d_loss, g_loss = gan_loss_fns(g_net, d_net, lambda n: target.sample(n, data_gen).float(), loss, batch,
                                  z_dim, noise, lsgan_abc)
    trainer = AdversarialTrainer([d_net], [g_net], d_loss, g_loss, lr, lr, betas, d_steps)
    snapshots = {}

    def snap(step):
        with torch.no_grad():
            snapshots[step] = g_net(fixed_z).clone()

    snap(0)
    seconds = trainer.train(steps, progress, desc or f"GAN ({loss})", snapshot_every, snap if snapshot_every else None,
                            max_seconds, decay)
    snap(len(trainer.history["g"]))
    return GANRun(g_net, d_net, trainer, snapshots, fixed_z, seconds, z_dim)


@dataclass
class CGANRun:
    """A trained conditional GAN (Mirza 2014): g(z | y) and D(x | y), y one-hot of ``n_labels``."""

    generator: nn.Module
    discriminator: nn.Module
    trainer: AdversarialTrainer
    n_labels: int
    z_dim: int
    seconds: float

    def sample(self, label: int, n: int, seed: int = 0) -> Tensor:
        """n samples (n, 2) of g(z | y = label)."""
        return sample_generator(self.generator, n, self.z_dim, seed, torch.full((n,), int(label)), self.n_labels)


def train_cgan_2d(mixture: GaussianMixture, component_labels: Tensor, steps: int = 1500, lr: float = 1e-3,
                  width: int = 64, z_dim: int = 2, batch: int = 128, seed: int = 0, progress: bool = True,
                  max_seconds: float | None = None) -> CGANRun:
    r"""Conditional GAN: both networks see the label y (concatenated as a one-hot code).

    .. math::
        \min_g \max_D\ E_{x, y}[\log D(x | y)] + E_{z, y}[\log(1 - D(g(z | y) | y))]

    trained with the binary cross-entropy for D and the non-saturating loss for g.
    """
    n_labels = int(component_labels.max()) + 1
    torch.manual_seed(seed)
    g_net, d_net = mlp(z_dim + n_labels, 2, width), mlp(2 + n_labels, 1, width)
    data_gen = torch.Generator().manual_seed(seed + 1)
    noise = torch.Generator().manual_seed(seed + 2)

    def fakes():
        x, y = sample_labelled(mixture, component_labels, batch, data_gen)
        code = one_hot(y, n_labels)
        z = torch.randn(batch, z_dim, generator=noise)
        return x, code, g_net(torch.cat([z, code], 1))

    def d_loss():
        x, code, fake = fakes()
        return discriminator_loss(d_net(torch.cat([x, code], 1)), d_net(torch.cat([fake.detach(), code], 1)))

    def g_loss():
        _, code, fake = fakes()
        return generator_loss(d_net(torch.cat([fake, code], 1)))

    trainer = AdversarialTrainer([d_net], [g_net], d_loss, g_loss, lr, lr)
    seconds = trainer.train(steps, progress, "conditional GAN", max_seconds=max_seconds)
    return CGANRun(g_net, d_net, trainer, n_labels, z_dim, seconds)
