"""Tests of course_utils.s02_vae.vq: nearest codewords by brute force, gradients by autograd on toy cases."""

import math

import pytest
import torch

from course_utils.data.digits import load_digits_split
from course_utils.s02_vae.vq import (
    VQVAE,
    codebook_usage,
    nearest_codeword,
    perplexity,
    quantize,
    train_vqvae,
    vq_loss,
)

F64 = torch.float64


def test_nearest_codeword_against_brute_force():
    g = torch.Generator().manual_seed(0)
    z, cb = torch.randn(30, 3, generator=g, dtype=F64), torch.randn(7, 3, generator=g, dtype=F64)
    want = [min(range(7), key=lambda k: float(((z[i] - cb[k]) ** 2).sum())) for i in range(30)]
    assert nearest_codeword(z, cb).tolist() == want
    assert nearest_codeword(z.reshape(5, 6, 3), cb).reshape(-1).tolist() == want


def test_straight_through_copies_the_gradient_on_a_toy_case():
    cb = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64, requires_grad=True)
    z_e = torch.tensor([[0.2, 0.1], [0.9, 1.2]], dtype=F64, requires_grad=True)
    z_q, idx = quantize(z_e, cb)
    assert idx.tolist() == [0, 1]
    torch.testing.assert_close(z_q, cb[idx].detach())
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    (z_q * w).sum().backward()
    torch.testing.assert_close(z_e.grad, w)  # dL/dz_e = dL/dz_q
    assert cb.grad is None  # only the codebook term trains the codebook


def test_vq_loss_terms_and_their_gradients_by_autograd():
    g = torch.Generator().manual_seed(1)
    x, x_rec = torch.rand(4, 6, generator=g, dtype=F64), torch.rand(4, 6, generator=g, dtype=F64)
    cb = torch.randn(5, 2, generator=g, dtype=F64, requires_grad=True)
    z_e = torch.randn(4, 3, 2, generator=g, dtype=F64, requires_grad=True)
    idx = nearest_codeword(z_e, cb)
    t = vq_loss(x, x_rec, z_e, cb, idx, beta=0.25)
    sq = ((z_e - cb[idx]) ** 2).sum((1, 2)).mean()
    assert t.recon.item() == pytest.approx(float(((x - x_rec) ** 2).sum() / 4))
    assert t.codebook.item() == pytest.approx(sq.item())
    assert t.commitment.item() == pytest.approx(0.25 * sq.item())
    g_cb = torch.autograd.grad(t.codebook, (z_e, cb), allow_unused=True)
    assert g_cb[0] is None  # sg(z_e): the codebook term never moves the encoder
    want = torch.zeros_like(cb)
    want.index_add_(0, idx.reshape(-1), (2 * (cb[idx] - z_e) / 4).reshape(-1, 2).detach())
    torch.testing.assert_close(g_cb[1], want)
    g_cm = torch.autograd.grad(t.commitment, (z_e, cb), allow_unused=True)
    assert g_cm[1] is None
    torch.testing.assert_close(g_cm[0], (2 * 0.25 * (z_e - cb[idx]) / 4).detach())
    with pytest.raises(ValueError, match="indices"):
        vq_loss(x, x_rec, z_e, cb, idx[:, :2], 0.25)


def test_usage_and_perplexity():
    counts = codebook_usage(torch.tensor([[0, 1], [1, 3]]), 5)
    assert counts.tolist() == [1, 2, 0, 1, 0]
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([7, 0, 0])) == pytest.approx(1.0)
    assert perplexity(torch.tensor([1, 3])) == pytest.approx(math.exp(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75))))


def test_model_shapes_and_a_short_training():
    m = VQVAE(n_positions=3, code_dim=2, n_codes=6, hidden=16)
    x = load_digits_split().x_train[:64]
    x_rec, z_e, idx = m(x)
    assert x_rec.shape == (64, 64) and z_e.shape == (64, 3, 2) and idx.shape == (64, 3)
    assert m.decode_codes(idx[:2]).shape == (2, 64)
    run = train_vqvae(x, n_positions=3, n_codes=6, steps=40, progress=False)
    assert len(run.recon) == 40 and run.recon[-5:].mean() < run.recon[:5].mean()
    assert run.usage(x).sum() == 64 * 3
    assert run.sample(x, 10).shape == (10, 64)
    far = train_vqvae(x, n_codes=16, steps=5, init_from_data=False, init_scale=10.0, progress=False)
    assert (far.usage(x) == 0).sum() > 0  # far codewords are never chosen: dead codes
