"""``make new-section N=08 SLUG=my_topic TITLE="My topic"``: the skeleton of a new section.

Writes the notebook source, one section folder and one test folder, each file a working example of
its layer, which pass ``make check`` as they are:

- ``notebooks/NN_slug.py``: the jupytext source (title, notation, imports, one exercise, its check,
  one use of the reference, the score table);
- ``course_utils/sNN_slug/``: ``__init__.py``, ``slug.py`` (the reference implementation the notebook
  imports) and ``checks.py`` (the exercise's check, with plausible mistakes named);
- ``tests/sNN_slug/``: ``test_slug.py`` (the reference against NumPy) and ``test_checks.py`` (the
  check tested both ways).

It never overwrites a file: if any exists it stops and writes nothing. It adds the section's row to
the README's syllabus table, and the section, as the newest, to the top of the "Floors" contract in
``.importlinter`` (a section may import the math of the sections before it).
Then: ``make notebooks S=NN`` and ``make check-section S=NN`` (the README's walkthrough).
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

from . import ROOT

__all__ = ["add_to_contracts", "files_for", "main", "write_section"]

NOTEBOOK = '''# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {nn} · {title}
#
# This notebook follows the slides from "..." to "..." (replace with the lecture's section).
#
# **Notation.** Gaussians are written N(mean, variance) throughout.
#
# **Exercises.** Each exercise cell defines a function with a `# YOUR CODE HERE` stub.
# Replace the stub, run the cell, then run the `check(...)` cell below it: it prints one
# line (`passed`, or what looks wrong). Cells further down use the reference
# implementations from `course_utils`, so the notebook runs even if an exercise is unfinished.

# %%
import torch

from course_utils.grading import check, hint, score_table
from course_utils.s{nn}_{slug} import {slug}

torch.manual_seed(0)

# %% [markdown]
# ## Exercise {ex} (1 pt): the sample mean
#
# For samples $x_1, \\dots, x_n \\in \\mathbb R^d$ stacked as the rows of `x`, shape (n, d), return
# $\\bar x = \\frac1n \\sum_i x_i$, shape (d,).

# %% exercise="{ex}" kind="warm-up"
def sample_mean(x):
    """The mean of the rows of x: (n, d) -> (d,)."""
    ### BEGIN SOLUTION
    return x.sum(dim=0) / x.shape[0]
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("{ex}", sample_mean)

# %% [markdown]
# Downstream cells use the reference implementation, so they run whether or not the exercise is done.

# %%
x = torch.randn(1000, 2) + torch.tensor([1.0, -2.0])
print("mean of 1,000 draws of N((1, -2), I):", {slug}.sample_mean(x))

# %%
score_table("{nn}")
'''

PACKAGE = '''"""Section {nn}: {title} (notebook ``{nn}_{slug}``).

Math: {slug} (the reference implementations).
Built on them: checks (the graded exercises). Add ``plots``, ``widgets`` and ``models`` modules here as the
section grows: they are found on disk by their names.
"""
'''

REFERENCE = '''r"""{title} (notebook ``{nn}_{slug}``): the reference implementations.

.. math:: \\bar x = \\frac1n \\sum_{{i=1}}^n x_i
"""

from __future__ import annotations

from torch import Tensor

from ..core.validation import as_points

__all__ = ["sample_mean"]


def sample_mean(x) -> Tensor:
    """The mean of the rows of x: shape (n, d) -> (d,).

    Graded in exercise {ex} (notebook ``{nn}_{slug}``).
    """
    x = as_points(x, "x")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one row, got shape (0, d)")
    return x.mean(dim=0)
'''

GRADING = '''"""Checks for notebook {nn}: {title}."""

from __future__ import annotations

import torch

from ..grading.compare import Mistake, clone_args, expect_close, generator
from ..grading.core import register
from . import {slug}

SECTION = "{nn}"


@register("{ex}", SECTION, "The sample mean", 1, "sample_mean",
          "average the rows: sum over dim 0 and divide by the number of rows n", reference={slug}.sample_mean)
def check_sample_mean(fn) -> None:
    """Exercise {ex}: compares with :func:`~course_utils.s{nn}_{slug}.{slug}.sample_mean`."""
    x = torch.randn(50, 3, generator=generator({seed}), dtype=torch.float64) + 2.0
    ref = {slug}.sample_mean(x)
    mistakes = [
        Mistake(x.sum(dim=0), "that is the sum of the rows: divide by n"),
        Mistake(x.mean(dim=1), "average over the rows (dim 0), one mean per coordinate"),
    ]
    expect_close(fn(*clone_args(x)), ref, what="50 samples in 3 dimensions", mistakes=mistakes)
'''

TEST_REFERENCE = '''"""{slug}: the reference implementations of section {nn} against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.s{nn}_{slug} import {slug}


def test_sample_mean_against_numpy():
    x = np.random.default_rng(0).normal(size=(20, 4))
    assert np.allclose({slug}.sample_mean(torch.from_numpy(x)).numpy(), x.mean(axis=0))


def test_sample_mean_says_what_shape_it_expects():
    with pytest.raises(ValueError, match=r"x must have shape \\(n, d\\)"):
        {slug}.sample_mean(torch.zeros(3))
'''

TEST = '''"""The grader of section {nn} against answers written independently here, both ways."""

from __future__ import annotations

import torch
from helpers import assert_fails, assert_passes

from course_utils.grading import exercises


def test_section_{nn}_exercises():
    assert [(e.id, e.function) for e in exercises("{nn}")] == [("{ex}", "sample_mean")]


def test_sample_mean_accepts_correct_answers():
    assert_passes("{ex}", lambda x: x.mean(0))
    assert_passes("{ex}", lambda x: torch.einsum("nd->d", x) / len(x))


def test_sample_mean_rejects_wrong_answers():
    assert_fails("{ex}", lambda x: x.sum(0), "divide by n")
    assert_fails("{ex}", lambda x: x.mean(1))
    assert_fails("{ex}", lambda x: x.median(0).values)
'''


#: Where ``make new-section`` puts a new section in the "Floors" contract: the first layer, above the newest.
LAYERS_ANCHOR = re.compile(r"(name = Floors:[^\n]*\ntype = layers\nlayers =\n)")


def files_for(nn: str, slug: str, title: str, root: Path = ROOT) -> dict[Path, str]:
    """The files of a new section, by path: the notebook source, the section folder, the test folder."""
    fields = {"nn": nn, "slug": slug, "title": title, "ex": f"{int(nn)}.1", "seed": 100 * int(nn) + 1}
    package, tests = root / "course_utils" / f"s{nn}_{slug}", root / "tests" / f"s{nn}_{slug}"
    return {
        root / "notebooks" / f"{nn}_{slug}.py": NOTEBOOK.format(**fields),
        package / "__init__.py": PACKAGE.format(**fields),
        package / f"{slug}.py": REFERENCE.format(**fields),
        package / "checks.py": GRADING.format(**fields),
        tests / f"test_{slug}.py": TEST_REFERENCE.format(**fields),
        tests / "test_checks.py": TEST.format(**fields),
    }


def add_to_contracts(nn: str, slug: str, root: Path = ROOT) -> None:
    """Put ``course_utils.sNN_slug`` at the top of the "Floors" layers contract in .importlinter."""
    path = root / ".importlinter"
    text = path.read_text(encoding="utf-8")
    if not LAYERS_ANCHOR.search(text):
        raise ValueError(".importlinter has no \"Floors\" layers contract to add the section to")
    path.write_text(LAYERS_ANCHOR.sub(lambda m: f"{m.group(1)}    course_utils.s{nn}_{slug}\n", text, count=1),
                    encoding="utf-8")


def _validate(nn: str, slug: str, title: str, root: Path) -> None:
    if not re.fullmatch(r"\d\d", nn) or nn == "00":
        raise ValueError(f"N must be a two-digit section number like 08, got {nn!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug) or keyword.iskeyword(slug):
        raise ValueError(f"SLUG must be a lower-case Python name like my_topic, got {slug!r}")
    if not title.strip():
        raise ValueError("TITLE must not be empty")
    taken = sorted(p.name for p in (root / "notebooks").glob(f"{nn}_*.py"))
    if taken:
        raise ValueError(f"section {nn} already exists: notebooks/{taken[0]}")
    taken = sorted(p.name for p in (root / "course_utils").glob(f"s{nn}_*"))
    if taken:
        raise ValueError(f"section {nn} already exists: course_utils/{taken[0]}")


def write_section(nn: str, slug: str, title: str, root: Path = ROOT) -> list[Path]:
    """Write the files and add the section to the contracts; raises ValueError (writing nothing) if the names
    are bad or taken."""
    _validate(nn, slug, title, root)
    files = files_for(nn, slug, title, root)
    existing = [p for p in files if p.exists()]
    if existing:
        raise ValueError(f"{existing[0].relative_to(root)} exists; nothing written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    add_to_contracts(nn, slug, root)
    return list(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.new_section", description=__doc__.split("\n")[0])
    parser.add_argument("nn", help="two-digit section number, e.g. 08")
    parser.add_argument("slug", help="lower-case name, e.g. my_topic")
    parser.add_argument("title", help='the notebook\'s title, e.g. "My topic"')
    args = parser.parse_args(argv)
    try:
        written = write_section(args.nn, args.slug, args.title)
    except ValueError as err:
        print(f"new-section: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")
    print(f'added course_utils.s{args.nn}_{args.slug} to the top of the "Floors" contract in .importlinter')
    from . import syllabus  # imported now, so that the registry finds the new checks module

    syllabus.update()
    print("added the section to the README's syllabus table")
    print(f"next: make notebooks S={args.nn} && make check-section S={args.nn}, then make check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
