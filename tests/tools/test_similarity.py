"""Tests of the similarity report (:mod:`course_tools.autograde.similarity`): flags for the instructor, never penalties.

Each behaviour is tested in both directions: what must be flagged is, and the look-alike that must not be is not
(independent solutions, untouched stubs, identical one-line answers). The cells are written as students write them.
No process is started; the scale test asserts its result, never its time.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from course_tools.autograde import similarity
from course_tools.autograde.similarity import (
    MIN_TOKENS,
    THRESHOLD,
    Pair,
    ReferenceCopy,
    SimilarityReport,
    compare_class,
    fingerprints,
    normalise,
    reference_copies,
    write_report,
)

# --------------------------------------------------------------------------- exercise 1.5: importance sampling

IS_HINT = ("Exercise 1.5: the estimate averages the weights p(x, z_k) / q(z_k), then takes the log: stay in log "
           "space throughout")
IS_STUB = f'''def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    # YOUR CODE HERE
    raise NotImplementedError("{IS_HINT}")
'''

# A frozen copy of the course's reference (course_utils.s01_kl_elbo.elbo), as inspect.getsource gives it.
IS_REFERENCE = '''def importance_log_evidence(log_joint: LogDensity, log_q: LogDensity, z: Tensor) -> Tensor:
    r"""Importance-sampling estimate of :math:`\\log p(x)` (lecture: "Importance sampling ...").

    .. math::
        \\log \\hat p(x) = \\log \\frac1K \\sum_{k=1}^K \\frac{p(x, z_k)}{q(z_k)}, \\qquad z_k \\sim q

    Graded in exercise 1.5 (notebook ``01_kl_elbo``).
    """
    z = as_tensor(z, "z")
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"z must have shape (K, q) with K >= 1 samples, got {tuple(z.shape)}")
    log_w = log_joint(z) - log_q(z)
    if log_w.shape != (z.shape[0],):
        raise ValueError(f"log densities must return shape ({z.shape[0]},), got {tuple(log_w.shape)}")
    return log_mean_exp(log_w)
'''

ALICE = '''def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    # log-weights of each sample
    log_w = log_joint(z) - log_q(z)
    n_samples = z.shape[0]
    # stable log-mean-exp: shift by the max before exponentiating
    m = log_w.max()
    shifted = torch.exp(log_w - m)
    total = shifted.sum(dim=0, keepdim=False)
    estimate = m + torch.log(total) - math.log(n_samples)
    return estimate
'''

# Alice's cell, every name changed, comments and docstring rewritten, annotations and a print added,
# re-formatted over more lines, keyword arguments swapped.
BOB_COPY = '''def importance_log_evidence(log_joint, log_q, samples: torch.Tensor) -> torch.Tensor:
    """Importance sampling estimator of log p(x) -- written by me."""
    lw = log_joint(samples) - \\
        log_q(samples)   # weights, in log space
    K: int = samples.shape[0]
    print("K =", K)
    biggest = lw.max()
    w = torch.exp(lw
                  - biggest)
    s = w.sum(keepdim=False,
              dim=0)
    result = biggest + torch.log(s) - math.log(K)
    return result
'''

CAROL = '''def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    K = z.shape[0]
    log_weights = []
    for k in range(K):
        z_k = z[k:k + 1]
        log_weights.append(log_joint(z_k) - log_q(z_k))
    log_weights = torch.cat(log_weights)
    log_K = torch.log(torch.tensor(float(K), dtype=log_weights.dtype))
    return torch.logsumexp(log_weights, dim=0) - log_K
'''

DAVE = '''def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    import numpy as np
    log_p = log_joint(z)
    log_qz = log_q(z)
    if log_p.dim() != 1:
        raise ValueError("log_joint must return one value per sample")
    log_ratio = log_p - log_qz
    num = log_ratio.numel()
    lse = torch.logsumexp(log_ratio, 0)
    return lse - np.log(num)
'''

# Independent, and close to Alice's idea (shift by the max) without being hers.
ERIN = '''def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    log_w = log_joint(z) - log_q(z)
    w_max = torch.max(log_w)
    weights = (log_w - w_max).exp()
    mean_weight = weights.mean()
    return torch.log(mean_weight) + w_max
'''

# The reference's source with its names changed, annotations and docstring dropped.
FRANK_FROM_REFERENCE = '''def importance_log_evidence(log_joint, log_q, samples):
    samples = as_tensor(samples, "samples")
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise ValueError(f"bad shape {tuple(samples.shape)}")
    logw = log_joint(samples) - log_q(samples)
    if logw.shape != (samples.shape[0],):
        raise ValueError(f"bad shape {tuple(logw.shape)}")
    return log_mean_exp(logw)
'''


def _answer(stub: str, body: str) -> str:
    """The stub with its `# YOUR CODE HERE` and `raise NotImplementedError` replaced by ``body``."""
    head = stub.split("    # YOUR CODE HERE")[0]
    return head + "".join(f"    {line}\n" for line in body.strip("\n").splitlines())


# Answers of one or two lines: the same in half of any class (they must never be flagged).
IS_SHORT = [
    "return torch.logsumexp(log_joint(z) - log_q(z), dim=0) - math.log(len(z))",
    "log_w = log_joint(z) - log_q(z)\nreturn torch.logsumexp(log_w, 0) - math.log(z.shape[0])",
    "log_w = log_joint(z) - log_q(z)\nK = z.shape[0]\nreturn torch.logsumexp(log_w, dim=0) - math.log(K)",
]

# --------------------------------------------------------------------------- exercise 1.1: discrete KL

KL_HINT = ("Exercise 1.1: weight each log-ratio log(p_i / q_i) by p_i and sum over the last axis; "
           "a p_i = 0 term counts as 0")
KL_STUB = f'''def kl_discrete(p, q):
    """D_KL(p || q) along the last axis. p, q: (..., K) -> (...)."""
    # YOUR CODE HERE
    raise NotImplementedError("{KL_HINT}")
'''

KL_SHORT = [
    "return (p * torch.log(p / q)).sum(-1)",
    "return torch.sum(p * (torch.log(p) - torch.log(q)), dim=-1)",
    "terms = torch.special.xlogy(p, p) - torch.special.xlogy(p, q)\nreturn terms.sum(dim=-1)",
    "return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)",
]

KL_MASK = _answer(KL_STUB, """
mask = p > 0
terms = torch.zeros_like(p)
# only where p is positive
terms[mask] = p[mask] * (torch.log(p[mask]) - torch.log(q[mask]))
return terms.sum(-1)
""")

KL_MASK_COPY = '''def kl_discrete(p, q):
    # KL between two discrete distributions
    positive = (p > 0)
    out = torch.zeros_like(p)
    out[positive] = p[positive] * (torch.log(p[positive]) -
                                   torch.log(q[positive]))
    return out.sum(-1)
'''

KL_LOOP = _answer(KL_STUB, """
p = torch.as_tensor(p, dtype=torch.float64)
q = torch.as_tensor(q, dtype=torch.float64)
flat_p = p.reshape(-1, p.shape[-1])
flat_q = q.reshape(-1, q.shape[-1])
rows = []
for row_p, row_q in zip(flat_p, flat_q):
    total = 0.0
    for pi, qi in zip(row_p, row_q):
        if pi > 0:
            total = total + pi * torch.log(pi / qi)
    rows.append(total)
return torch.stack([torch.as_tensor(r) for r in rows]).reshape(p.shape[:-1])
""")

KL_WHERE = _answer(KL_STUB, """
log_p = torch.where(p > 0, torch.log(p), torch.zeros_like(p))
log_q = torch.log(q)
weighted = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
kl = weighted.sum(dim=-1)
return kl
""")


def _class(**cells: str) -> dict[str, dict[str, str]]:
    return {student: {"1.5": code} for student, code in cells.items()}


def _pairs(report: SimilarityReport) -> set[tuple[str, str, str]]:
    return {(p.exercise, p.student_a, p.student_b) for p in report.pairs}


def _score(a: str, b: str, template: str | None) -> float:
    fa, fb = fingerprints(a, template)[0], fingerprints(b, template)[0]
    return len(fa & fb) / min(len(fa), len(fb))


# --------------------------------------------------------------------------- normalisation


def test_renaming_reformatting_comments_and_keyword_order_give_the_same_tokens():
    a = "def f(x, y):\n    total = torch.sum(x * y, dim=-1, keepdim=True)  # sum\n    return total.exp()\n"
    b = ('def g(first: Tensor, second) -> Tensor:\n    """Doc."""\n    pass\n    print(first)\n'
         "    s = torch.sum(first*second,\n                  keepdim=True, dim=-1)\n    return s.exp()\n")
    assert normalise(a) == normalise(b)
    tokens = normalise(a)
    assert ["V0", "V1", "V2", "V3"] == sorted({t for t in tokens if t.startswith("V")})
    assert {"torch", ".sum", ".exp", "kw=dim", "kw=keepdim", "NUM"} <= set(tokens)
    assert "x" not in tokens and "total" not in tokens
    # ... and a real change of code changes them
    assert normalise(a) != normalise(a.replace("torch.sum", "torch.mean"))
    assert normalise(a) != normalise(a.replace("x * y", "x + y"))


def test_library_names_and_names_from_other_cells_are_kept():
    tokens = normalise("import numpy as np\nout = np.log(helper(z))\n")
    assert "numpy" in tokens and "helper" in tokens and "z" in tokens and ".log" in tokens
    assert "np" not in tokens and "out" not in tokens
    assert normalise('x = "a"\ny = 3.5\n') == ["Assign", "V0", "STR", "Assign", "V1", "NUM"]


def test_fingerprints_are_stable_across_processes():
    """BLAKE2b, never Python's salted hash(): a fingerprint computed today is the same in any process."""
    assert similarity._hash(("Assign", "V0")) == 0xE0F0EE98093DC2B0
    fps, n = fingerprints("x = torch.exp(y) + 1\nz = x.sum()\n")
    assert n == 14 and fps == {535471153293299771, 111889402513106535, 1624302179439593150, 2592593573768187062}


def test_winnowing_keeps_the_rightmost_minimum_of_each_window():
    assert similarity._winnow([77, 74, 42, 17, 98, 50, 17, 98, 8, 88, 67, 39, 77, 74, 42, 17, 98], w=4) == {
        17, 8, 39}
    assert similarity._winnow([5, 3], w=4) == {3}
    assert similarity._winnow([], w=4) == set()


# --------------------------------------------------------------------------- pairs


def test_a_renamed_reformatted_copy_is_flagged():
    report = compare_class(_class(alice=ALICE, bob=BOB_COPY), {"1.5": IS_STUB})
    assert len(report.pairs) == 1
    pair = report.pairs[0]
    assert (pair.exercise, pair.student_a, pair.student_b) == ("1.5", "alice", "bob")
    assert pair.score >= THRESHOLD and pair.jaccard >= 0.7
    assert (pair.code_a, pair.code_b) == (ALICE, BOB_COPY)


def test_independent_solutions_of_the_longer_exercise_are_not_flagged():
    cells = dict(alice=ALICE, carol=CAROL, dave=DAVE, erin=ERIN)
    report = compare_class(_class(**cells), {"1.5": IS_STUB})
    assert report.pairs == []
    assert report.stats["1.5"].compared == 4 and report.stats["1.5"].pairs == 6
    for a, b in itertools.combinations(cells.values(), 2):  # not even close: the threshold has a margin
        assert _score(a, b, IS_STUB) < 0.5
    # the same class with Bob's copy in it: only that pair
    report = compare_class(_class(**cells, bob=BOB_COPY), {"1.5": IS_STUB})
    assert _pairs(report) == {("1.5", "alice", "bob")}


def test_kl_written_several_ways():
    """A copy of the masked KL is flagged; the loop, torch.where and masked versions are not each other's."""
    cells = {"ann": KL_MASK, "ben": KL_MASK_COPY, "cid": KL_LOOP, "dee": KL_WHERE}
    report = compare_class({s: {"1.1": c} for s, c in cells.items()}, {"1.1": KL_STUB})
    assert _pairs(report) == {("1.1", "ann", "ben")}
    assert report.stats["1.1"].compared == 4


def test_untouched_stubs_score_zero_and_are_not_compared():
    report = compare_class(_class(alice=IS_STUB, bob=IS_STUB, carol=ALICE), {"1.5": IS_STUB})
    assert report.pairs == [] and report.stats["1.5"].short == 2
    assert fingerprints(IS_STUB, IS_STUB) == (frozenset(), 0)
    assert compare_class(_class(alice=IS_STUB, bob=IS_STUB), {"1.5": IS_STUB}, min_tokens=0).pairs == []
    # the template is what makes the difference: without it, two stubs are the same long cell
    without = compare_class(_class(alice=IS_STUB, bob=IS_STUB), min_tokens=0)
    assert _pairs(without) == {("1.5", "alice", "bob")}


def test_sharing_only_the_signature_and_docstring_scores_zero():
    a = _answer(IS_STUB, "return torch.logsumexp(log_joint(z) - log_q(z), 0) - math.log(len(z))")
    b = _answer(IS_STUB, "w = torch.exp(log_joint(z)) / torch.exp(log_q(z))\nreturn torch.log(torch.mean(w))")
    fa, fb = fingerprints(a, IS_STUB)[0], fingerprints(b, IS_STUB)[0]
    assert fa and fb and not fa & fb
    assert fingerprints(a)[1] - fingerprints(a, IS_STUB)[1] == 6  # the stub covers `def f(a, b, c):`


@pytest.mark.parametrize("body", IS_SHORT, ids=["one-line", "two-lines", "three-lines"])
def test_identical_short_answers_are_not_flagged(body):
    cell = _answer(IS_STUB, body)
    n = fingerprints(cell, IS_STUB)[1]
    assert 0 < n < MIN_TOKENS
    report = compare_class(_class(alice=cell, bob=cell, carol=cell), {"1.5": IS_STUB})
    assert report.pairs == [] and report.stats["1.5"].short == 3 and report.stats["1.5"].pairs == 0
    # min_tokens is what keeps them out: compared anyway, they are identical
    assert len(compare_class(_class(alice=cell, bob=cell), {"1.5": IS_STUB}, min_tokens=0).pairs) == 1


@pytest.mark.parametrize("body", KL_SHORT)
def test_short_kl_answers_are_below_min_tokens(body):
    cell = _answer(KL_STUB, body)
    assert fingerprints(cell, KL_STUB)[1] < MIN_TOKENS
    assert compare_class({"a": {"1.1": cell}, "b": {"1.1": cell}}, {"1.1": KL_STUB}).pairs == []


def test_the_longer_answers_are_above_min_tokens():
    for cell, stub in [(ALICE, IS_STUB), (CAROL, IS_STUB), (DAVE, IS_STUB), (ERIN, IS_STUB), (KL_MASK, KL_STUB),
                       (KL_LOOP, KL_STUB), (KL_WHERE, KL_STUB)]:
        assert fingerprints(cell, stub)[1] >= MIN_TOKENS, cell


def test_pairs_are_sorted_by_exercise_then_decreasing_score():
    partial = ALICE.replace("    return estimate\n", "    estimate = estimate.clone()\n    return estimate\n")
    cells = {
        "alice": {"1.10": ALICE, "1.9": KL_MASK},
        "bob": {"1.10": BOB_COPY, "1.9": KL_MASK_COPY},
        "carol": {"1.10": partial},
    }
    report = compare_class(cells, {"1.10": IS_STUB, "1.9": KL_STUB})
    assert [p.exercise for p in report.pairs] == ["1.9"] + ["1.10"] * 3
    scores = [p.score for p in report.pairs if p.exercise == "1.10"]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_threshold_and_min_tokens_are_validated():
    for threshold in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            compare_class({}, threshold=threshold)
    with pytest.raises(ValueError, match="min_tokens"):
        compare_class({}, min_tokens=-1)


# --------------------------------------------------------------------------- reference copies


def test_a_copy_of_the_reference_is_listed_and_an_independent_solution_is_not():
    cells = _class(alice=ALICE, carol=CAROL, dave=DAVE, erin=ERIN, frank=FRANK_FROM_REFERENCE)
    report = compare_class(cells, {"1.5": IS_STUB}, {"1.5": IS_REFERENCE})
    assert [(r.exercise, r.student) for r in report.reference_copies] == [("1.5", "frank")]
    copy = report.reference_copies[0]
    assert copy.score >= THRESHOLD and copy.code == FRANK_FROM_REFERENCE
    assert report.pairs == [] and report.stats["1.5"].reference_compared
    for independent in (ALICE, CAROL, DAVE, ERIN):
        assert _score(independent, IS_REFERENCE, IS_STUB) < 0.5


def test_a_reference_shorter_than_min_tokens_is_not_compared():
    short_ref = _answer(IS_STUB, IS_SHORT[1])
    report = compare_class(_class(alice=ALICE, frank=_answer(IS_STUB, IS_SHORT[1] + "\n")), {"1.5": IS_STUB},
                           {"1.5": short_ref})
    assert report.reference_copies == [] and not report.stats["1.5"].reference_compared
    assert any("reference" in n for n in report.notes)


# --------------------------------------------------------------------------- identical notebooks


def test_byte_identical_notebooks_are_grouped_and_different_bytes_are_not():
    nb = b'{"cells": [], "nbformat": 4}'
    other = b'{"cells": [], "nbformat": 4} '  # one byte more
    report = compare_class({}, notebooks={"alice": nb, "bob": nb, "carol": other, "dave": b"x", "erin": b"",
                                          "fred": b""})
    assert report.identical == [["alice", "bob"]]  # empty files are no evidence
    # several notebooks per student: linked by any one of them
    report = compare_class({}, notebooks={"alice": [nb, b"a"], "bob": [b"b", other], "carol": [other], "dave": nb})
    assert report.identical == [["alice", "dave"], ["bob", "carol"]]
    assert compare_class({}, notebooks={"alice": nb, "bob": other}).identical == []


# --------------------------------------------------------------------------- syntax errors


def test_a_cell_with_a_syntax_error_does_not_crash_and_is_noted():
    broken = CAROL.replace("for k in range(K):", "for k in range(K)")
    report = compare_class(_class(alice=ALICE, carol=broken, dave=DAVE, erin="def f(:\n  return )\n"),
                           {"1.5": IS_STUB}, {"1.5": IS_REFERENCE})
    assert report.pairs == [] and report.reference_copies == []
    assert report.stats["1.5"].unparsed == 2
    assert any("carol" in n and "does not parse" in n for n in report.notes)


def test_a_broken_copy_is_still_flagged_by_its_token_stream():
    unclosed = BOB_COPY.replace("K: int = samples.shape[0]", "K: int = samples.shape[0")
    bad_indent = BOB_COPY.replace("    biggest = lw.max()", "  biggest = lw.max()")
    broken_carol = CAROL.replace("for k in range(K):", "for k in range(K)")
    for broken in (unclosed, bad_indent):
        report = compare_class(_class(alice=ALICE, bob=broken, carol=broken_carol, dave=DAVE), {"1.5": IS_STUB})
        assert _pairs(report) == {("1.5", "alice", "bob")}, broken
        assert report.stats["1.5"].unparsed == 2


def test_a_cell_that_cannot_be_tokenized_is_skipped_with_a_note():
    report = compare_class(_class(alice=ALICE, bob='"""never closed\nx = 1\n', carol=None, dave="  \n"),
                           {"1.5": IS_STUB})
    assert report.stats["1.5"].skipped == 1 and report.stats["1.5"].cells == 2
    assert any("bob" in n and "skipped" in n for n in report.notes)


# --------------------------------------------------------------------------- report files and flags


def _report_with_everything() -> SimilarityReport:
    script = ALICE.replace("    return estimate\n", '    html = "<script>alert(1)</script>"\n    return estimate\n')
    cells = _class(alice=script, bob=BOB_COPY, carol=CAROL, frank=FRANK_FROM_REFERENCE, gus="def f(:\n")
    nb = b'{"cells": []}'
    return compare_class(cells, {"1.5": IS_STUB}, {"1.5": IS_REFERENCE},
                         notebooks={"carol": nb, "dave": nb, "erin": nb, "alice": b"{}"})


def test_write_report_writes_both_files_escaped(tmp_path: Path):
    report = _report_with_everything()
    paths = write_report(report, tmp_path / "out")
    assert paths == [tmp_path / "out" / "similarity.md", tmp_path / "out" / "similarity.html"]
    md, page = (p.read_text(encoding="utf-8") for p in paths)
    pair = report.pairs[0]
    for text in (md, page):
        assert "never automatic penalties" in text and "not compared" in text
        assert f"threshold {THRESHOLD:.2f}" in text and f"min_tokens {MIN_TOKENS}" in text
        assert "carol, dave, erin" in text and "frank" in text and "does not parse" in text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<pre>") == 3  # the pair side by side, the reference copy
    assert '<table class="pair"><tr><th>alice</th><th>bob</th></tr>' in page
    assert f"### alice and bob: score {pair.score:.2f}" in md
    assert "<script>alert(1)</script>" in md  # Markdown shows code as it is, inside a fence
    assert md.index("**alice**") < md.index("**bob**")


def test_markdown_fences_survive_backticks_in_the_code(tmp_path: Path):
    tricky = ALICE.replace("    return estimate\n", '    note = """```"""\n    return estimate\n')
    report = compare_class(_class(alice=tricky, bob=BOB_COPY), {"1.5": IS_STUB})
    md = write_report(report, tmp_path)[0].read_text(encoding="utf-8")
    assert "````python" in md


def test_flags_name_the_other_student():
    report = _report_with_everything()
    flags = report.flags()
    assert flags["alice"] == [f"1.5: similar to bob's ({report.pairs[0].score:.2f})"]
    assert any("similar to alice's" in f for f in flags["bob"])
    assert flags["frank"] == [f for f in flags["frank"] if "reference" in f] and len(flags["frank"]) == 1
    assert flags["carol"] == ["notebook byte-identical to dave's and erin's"]
    assert flags["dave"] == ["notebook byte-identical to carol's and erin's"]
    assert "gus" not in flags


def test_report_dataclasses_keep_the_graders_names():
    pair = Pair("1.5", "a", "b", 0.9, 0.8, "x", "y")
    copy = ReferenceCopy("1.5", "a", 0.95, "x")
    report = SimilarityReport([pair], [copy], [["a", "b"]], 0.8, 25)
    assert report.flags() == {
        "a": ["1.5: similar to b's (0.90)", "1.5: close to the reference's source (0.95)",
              "notebook byte-identical to b's"],
        "b": ["1.5: similar to a's (0.90)", "notebook byte-identical to a's"],
    }
    with pytest.raises(AttributeError):
        pair.score = 0.1  # frozen


# --------------------------------------------------------------------------- the index and scale


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8, 1.0])
def test_the_prefix_filter_finds_every_pair_at_the_threshold(threshold):
    rng = random.Random(threshold)
    sets = {f"s{i}": frozenset(rng.sample(range(40), rng.randint(3, 25))) for i in range(60)}
    found = similarity._candidates(sets, threshold)
    for a, b in itertools.combinations(sorted(sets), 2):
        score, _ = similarity._score(sets[a], sets[b])
        if score >= threshold - 1e-12:
            assert (a, b) in found, (a, b, score)


FUNCS = ["torch.exp", "torch.log", "torch.sqrt", "torch.tanh", "torch.sigmoid", "torch.abs", "torch.relu", "F.softplus"]
METHODS = [".sum(-1)", ".mean()", ".max()", ".clamp(min=0.0)", ".pow(2)", ".cumsum(0)", ".flip(0)", ".t()"]
OPS = ["+", "-", "*", "/"]


def _random_cell(seed: int, function: str, names: list[str]) -> str:
    """A student's answer: seven random lines after the common first one; the same seed, the same code."""
    rng = random.Random(seed)
    lines = [f"def {function}({names[0]}, {names[1]}):", f"    {names[2]} = {names[0]} - {names[1]}"]
    live = names[:3]
    for name in names[3:10]:
        a, b = rng.choice(live), rng.choice(live)
        lines.append(f"    {name} = {rng.choice(FUNCS)}({a} {rng.choice(OPS)} {b}){rng.choice(METHODS)}")
        live.append(name)
    lines.append(f"    return {names[9]}")
    return "\n".join(lines) + "\n"


def test_a_class_of_200_with_5_exercises():
    """Planted copies are found, and the index finds exactly the pairs that scoring every pair finds."""
    exercises = [f"2.{i}" for i in range(1, 6)]
    templates = {ex: f'def ex_{i}(a, b):\n    """Doc."""\n    raise NotImplementedError("Exercise {ex}")\n'
                 for i, ex in enumerate(exercises, 1)}
    students = [f"student{i:03d}" for i in range(200)]
    names = [f"v{i}" for i in range(10)]
    other = [f"w{i}_" for i in range(10)]
    cells = {s: {ex: _random_cell(1000 * i + j, f"ex_{j}", names) for j, ex in enumerate(exercises, 1)}
             for i, s in enumerate(students)}
    planted = {("2.1", "student003", "student150"), ("2.4", "student010", "student011")}
    cells["student150"]["2.1"] = _random_cell(1000 * 3 + 1, "ex_1", other)  # student003's, renamed
    cells["student011"]["2.4"] = _random_cell(1000 * 10 + 4, "ex_4", other)
    partial = cells["student020"]["2.2"].splitlines()
    cells["student021"]["2.2"] = "\n".join(partial[:6] + cells["student021"]["2.2"].splitlines()[6:]) + "\n"
    references = {"2.5": _random_cell(999_999, "ex_5", names)}
    cells["student077"]["2.5"] = _random_cell(999_999, "ex_5", other)

    report = compare_class(cells, templates, references)

    assert planted <= _pairs(report)
    assert [r.student for r in report.reference_copies] == ["student077"]
    assert all(s.compared == 200 and s.pairs == 19900 for s in report.stats.values())
    brute = set()
    for ex in exercises:
        fps = {s: fingerprints(cells[s][ex], templates[ex]) for s in students}
        for a, b in itertools.combinations(students, 2):
            if min(fps[a][1], fps[b][1]) >= MIN_TOKENS:
                fa, fb = fps[a][0], fps[b][0]
                if len(fa & fb) / min(len(fa), len(fb)) >= THRESHOLD:
                    brute.add((ex, a, b))
    assert _pairs(report) == brute
    assert len(brute) < 20  # random answers are not copies of each other


def test_a_student_alike_with_many_gets_one_line_per_exercise_naming_the_closest_three():
    pairs = [Pair("1.5", "a", o, score, score, "x", "y") for o, score in
             (("b", 0.81), ("c", 0.99), ("d", 0.9), ("e", 0.95), ("f", 0.85))]
    flags = SimilarityReport(pairs, [], [], 0.8, 30).flags()
    assert flags["a"] == ["1.5: similar to c's (0.99), e's (0.95) and d's (0.90) and 2 more"]
    assert flags["b"] == ["1.5: similar to a's (0.81)"]


NATURAL_IS = _answer(IS_STUB, """
    log_w = log_joint(z) - log_q(z)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])
""")


def test_reference_copies_look_at_what_only_the_reference_has():
    """A copy of the reference's checks and helpers is found; the natural answer, however close, is not."""
    cells = _class(frank=FRANK_FROM_REFERENCE, alice=ALICE, nat=NATURAL_IS)
    found = reference_copies(cells, {"1.5": IS_REFERENCE}, {"1.5": NATURAL_IS}, {"1.5": IS_STUB})
    assert [(c.exercise, c.student) for c in found] == [("1.5", "frank")]
    assert found[0].score >= 0.8 and found[0].code == FRANK_FROM_REFERENCE
    # a reference that is the natural answer itself: a copy cannot be told from an honest answer
    assert reference_copies(cells, {"1.5": NATURAL_IS}, {"1.5": NATURAL_IS}, {"1.5": IS_STUB}) == []
