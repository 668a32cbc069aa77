"""Tests of course_utils.data.digits: the split, the scaling, the minibatches."""

import pytest
import torch
from sklearn.datasets import load_digits

from course_utils.data.digits import as_images, load_digits_split, minibatches


def test_split_sizes_scaling_and_labels():
    s = load_digits_split()
    assert s.x_train.shape == (1347, 64) and s.x_test.shape == (450, 64)
    assert s.x_train.dtype == torch.float32
    assert float(s.x_train.min()) == 0.0 and float(s.x_train.max()) == 1.0
    assert set(s.y_test.tolist()) == set(range(10))
    raw = load_digits()
    # every digit is a raw image divided by 16, and the two parts together are the whole set
    both = torch.cat([s.x_train, s.x_test]).double() * 16
    assert sorted(map(tuple, both.round().int().tolist())) == sorted(map(tuple, raw.data.astype(int).tolist()))


def test_as_images_and_minibatches():
    s = load_digits_split()
    assert as_images(s.x_test[:3]).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="64"):
        as_images(torch.zeros(3, 63))
    a, b = minibatches(s.x_train, 32, seed=1), minibatches(s.x_train, 32, seed=1)
    first = a()
    assert first.shape == (32, 64)
    torch.testing.assert_close(first, b())
    with pytest.raises(ValueError, match="batch_size"):
        minibatches(s.x_train, 0)
