"""adain against a direct computation with torch.nn.functional.instance_norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.s03_gans import adain as A


def test_adain_matches_instance_norm():
    g = torch.Generator().manual_seed(0)
    x = 3 + 2 * torch.randn(5, 4, 8, 8, generator=g, dtype=torch.float64)
    y = -1 + 0.5 * torch.randn(5, 4, 6, 7, generator=g, dtype=torch.float64)
    mu_y = y.mean((2, 3), keepdim=True)
    sigma_y = (y.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    expected = sigma_y * F.instance_norm(x, eps=1e-5) + mu_y
    assert torch.allclose(A.adain(x, y), expected, atol=1e-10)


def test_output_takes_the_style_statistics_and_keeps_the_content_pattern():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 3, 8, 8, generator=g), 5 + 3 * torch.randn(2, 3, 8, 8, generator=g)
    out = A.adain(x, y, eps=0.0)
    for a, b in zip(A.instance_stats(out, 0.0), A.instance_stats(y, 0.0), strict=True):
        assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(F.instance_norm(out), F.instance_norm(x), atol=1e-3)
    assert torch.allclose(A.adain(x, x, eps=0.0), x, atol=1e-5)


def test_batch_stats_average_over_the_batch():
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    mu, sigma = A.batch_stats(x, 0.0)
    assert mu.shape == (1, 3, 1, 1)
    assert torch.allclose(mu.flatten(), x.transpose(0, 1).reshape(3, -1).mean(1))
    assert torch.allclose(sigma.flatten(), x.transpose(0, 1).reshape(3, -1).std(1, unbiased=False))


def test_style_of_batch_one_broadcasts_and_bad_shapes_are_refused():
    x, y = torch.randn(3, 2, 4, 4), torch.randn(1, 2, 4, 4)
    assert A.adain(x, y).shape == x.shape
    with pytest.raises(ValueError, match="N, C, H, W"):
        A.adain(torch.randn(2, 4, 4), y)
    with pytest.raises(ValueError, match="channels"):
        A.adain(x, torch.randn(1, 3, 4, 4))


def test_colour_digits_paints_ink_and_paper():
    pixels = torch.zeros(1, 64, dtype=torch.float64)
    pixels[0, 0] = 1.0
    img = A.colour_digits(pixels, (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    assert img.shape == (1, 3, 8, 8)
    assert img[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0] and img[0, :, 1, 1].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="64"):
        A.colour_digits(torch.zeros(1, 63), (1, 1, 1), (0, 0, 0))
