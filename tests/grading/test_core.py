"""The grading machinery: results, run_check's robustness, the registry and the notebook helpers.

Exercises of a throw-away section "98" are registered into a private copy of the
registry, so these tests neither see nor disturb the course's exercises; the
robustness of every real exercise is in test_every_exercise.py.
"""

from __future__ import annotations

import pytest
import torch

from course_utils.grading import (
    CheckFailed,
    Result,
    check,
    core,
    exercises,
    get,
    grade_namespace,
    hint,
    notebook,
    run_check,
    score_table,
    sections,
)

SECTION_01 = [e.id for e in exercises("01")]

# --------------------------------------------------------------------------------------
# A private section "98": f(x) must return x ** 2


def _check_square(fn):
    for x in (2.0, -3.0):
        got = fn(x)
        if not isinstance(got, (int, float)) or got != x**2:
            raise CheckFailed(f"on x = {x}: expected {x**2}, got {got!r}")


def square(x):
    return x * x


def cube(x):
    return x**3


@pytest.fixture
def fake_section(monkeypatch):
    """Section "98" with exercises 98.1 (1 pt), 98.2 (2 pts) and 98.10 (2 pts); fresh results."""
    monkeypatch.setattr(core, "EXERCISES", core.EXERCISES.copy())
    monkeypatch.setattr(notebook, "_results", {})
    monkeypatch.setattr(notebook, "_hints_used", {})
    # registered out of order on purpose: 98.10 must sort after 98.2
    for ex_id, pts, name in (("98.10", 2, "tenth"), ("98.1", 1, "first"), ("98.2", 2, "second")):
        core.register(ex_id, "98", f"Square ({name})", pts, name, "return x squared", kind="build",
                      hints=("multiply x by itself", "x * x"))(_check_square)
    return exercises("98")


# --------------------------------------------------------------------------------------
# Result.line


def test_line_passed_uses_pts_and_max_points():
    r = Result("1.4", "Monte Carlo KL", 2, 2, "passed")
    assert r.line() == "Exercise 1.4 (2 pts): passed"


def test_line_failed_shows_points_and_message():
    r = Result("1.4", "Monte Carlo KL", 0, 2, "failed", "on a single sample: expected 1, got 2")
    assert r.line() == "Exercise 1.4 (0/2 pts): failed: on a single sample: expected 1, got 2"


def test_line_failed_without_message():
    assert Result("1.4", "t", 0, 2, "failed").line() == "Exercise 1.4 (0/2 pts): failed"


def test_line_one_point_says_pt():
    assert Result("1.1", "t", 1, 1, "passed").line() == "Exercise 1.1 (1 pt): passed"
    assert Result("1.1", "t", 0, 1, "failed", "x").line() == "Exercise 1.1 (0/1 pt): failed: x"


def test_line_not_attempted_and_missing():
    stub = Result("1.3", "t", 0, 2, "not attempted", "the stub still raises NotImplementedError")
    assert stub.line() == "Exercise 1.3 (0/2 pts): not attempted yet"
    missing = Result("1.1", "t", 0, 1, "missing", "no function named kl_discrete() was found")
    assert missing.line() == (
        "Exercise 1.1 (0/1 pt): missing: no function named kl_discrete() was found"
    )


def test_to_dict():
    r = Result("1.4", "t", 0, 2, "failed", "m")
    assert r.to_dict() == {
        "id": "1.4", "title": "t", "points": 0, "max_points": 2, "status": "failed", "message": "m",
    }


# --------------------------------------------------------------------------------------
# run_check: every outcome becomes a Result


def test_passed_earns_the_points(fake_section):
    r = run_check(get("98.2"), square)
    assert (r.status, r.points, r.max_points, r.message) == ("passed", 2, 2, "")


def test_check_failed_message_is_kept(fake_section):
    r = run_check(get("98.2"), cube)
    assert (r.status, r.points) == ("failed", 0)
    assert r.message == "on x = 2.0: expected 4.0, got 8.0"


def test_stub_is_not_attempted(fake_section):
    def first(x):
        raise NotImplementedError("return x squared")

    r = run_check(get("98.1"), first)
    assert (r.status, r.points) == ("not attempted", 0)
    assert r.line() == "Exercise 98.1 (0/1 pt): not attempted yet"


def test_stub_reached_through_a_helper_is_not_attempted(fake_section):
    def helper(x):
        raise NotImplementedError

    def first(x):
        try:
            return helper(x)
        except NotImplementedError as err:
            raise RuntimeError("helper is unfinished") from err

    assert run_check(get("98.1"), first).status == "not attempted"


def test_other_error_fails_with_its_type(fake_section):
    def first(x):
        return {}[x]

    r = run_check(get("98.1"), first)
    assert (r.status, r.points) == ("failed", 0)
    assert r.message.startswith("your function raised KeyError")


def test_missing_function(fake_section):
    r = run_check(get("98.1"), None)
    assert (r.status, r.points) == ("missing", 0)
    assert "first()" in r.message


@pytest.mark.parametrize("thing", [42, "square", [square], torch.zeros(3)])
def test_non_callable_fails(fake_section, thing):
    r = run_check(get("98.1"), thing)
    assert (r.status, r.points) == ("failed", 0)
    assert "should be a function" in r.message


def test_system_exit_in_student_code_fails(fake_section):
    def first(x):
        raise SystemExit(1)

    r = run_check(get("98.1"), first)
    assert (r.status, r.points) == ("failed", 0)
    assert "SystemExit" in r.message


def test_printing_student_code_is_silenced(fake_section, capsys):
    def first(x):
        for i in range(20_000):
            print("debug line", i, "x" * 50)
        return x * x

    assert run_check(get("98.1"), first).status == "passed"
    assert capsys.readouterr().out == ""


def test_printing_student_code_is_silenced_on_a_real_exercise(capsys):
    def kl_discrete(p, q):
        print(p, q)
        for _ in range(5_000):
            print("still here")
        return torch.xlogy(p, p / q).sum(-1)

    assert run_check(get("1.1"), kl_discrete).status == "passed"
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------------------
# check() and score_table()


def test_check_prints_exactly_one_line(fake_section, capsys):
    check("98.2", cube)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out == "Exercise 98.2 (0/2 pts): failed: on x = 2.0: expected 4.0, got 8.0\n"
    check("98.2", square)
    assert capsys.readouterr().out == "Exercise 98.2 (2 pts): passed\n"


def test_check_prints_one_line_on_a_real_exercise(monkeypatch, capsys):
    monkeypatch.setattr(notebook, "_results", {})

    def kl_discrete(p, q):
        print("debugging", p.shape)
        return torch.xlogy(p, p / q).sum(-1)

    check("1.1", kl_discrete)
    assert capsys.readouterr().out == "Exercise 1.1 (1 pt): passed\n"
    check("1.1", None)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("Exercise 1.1 (0/1 pt): missing")


def test_check_unknown_exercise_names_the_known_ones(fake_section):
    with pytest.raises(KeyError, match="98.10"):
        check("98.3", square)


def test_score_table_before_any_check(fake_section, capsys):
    score_table("98")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Section 98 score: 0/5 points"
    assert lines[1].split() == ["exercise", "kind", "points", "hints", "status"]
    assert [ln.split()[0] for ln in lines[2:]] == ["98.1", "98.2", "98.10"]
    assert all(ln.rstrip().endswith("not checked yet") for ln in lines[2:])
    assert all(" build " in ln and " 0/3 " in ln for ln in lines[2:])


def test_score_table_totals_the_latest_results(fake_section, capsys):
    check("98.1", square)
    check("98.2", square)
    check("98.2", cube)  # the latest run wins
    check("98.10", square)
    capsys.readouterr()
    score_table("98")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Section 98 score: 3/5 points"
    rows = {ln.split()[0]: ln for ln in lines[2:]}
    assert "1/1" in rows["98.1"] and rows["98.1"].endswith("passed")
    assert "0/2" in rows["98.2"] and rows["98.2"].endswith("failed")
    assert "2/2" in rows["98.10"] and rows["98.10"].endswith("passed")


def test_score_table_for_section_01(monkeypatch, capsys):
    monkeypatch.setattr(notebook, "_results", {})
    total = sum(e.points for e in exercises("01"))

    def kl_discrete(p, q):
        return torch.xlogy(p, p).sum(-1) - torch.xlogy(p, q).sum(-1)

    check("1.1", kl_discrete)
    check("1.3", lambda mu, log_var: torch.zeros(mu.shape[0]))
    capsys.readouterr()
    score_table("01")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Section 01 score: {get('1.1').points}/{total} points"
    assert len(lines) == 2 + len(exercises("01"))


def test_hint_tells_more_each_time_and_the_table_counts_them(fake_section, capsys):
    hint("98.2")
    assert capsys.readouterr().out == "Exercise 98.2, hint 1 of 3: return x squared\n"
    hint("98.2")
    hint("98.2")
    assert capsys.readouterr().out.splitlines() == ["Exercise 98.2, hint 2 of 3: multiply x by itself",
                                                    "Exercise 98.2, hint 3 of 3: x * x"]
    hint("98.2")
    assert "no more hints" in capsys.readouterr().out
    score_table("98")
    rows = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[2:]}
    assert " 3/3 " in rows["98.2"] and " 0/3 " in rows["98.1"]
    assert rows["98.2"].rstrip().endswith("not checked yet")  # hints cost nothing


def test_a_kind_outside_the_list_is_refused(fake_section):
    with pytest.raises(ValueError, match="kind must be one of warm-up, build, training-step"):
        core.register("98.3", "98", "t", 1, "f", "h", kind="easy")


def test_every_exercise_has_a_kind_and_a_first_hint():
    assert all(e.kind in core.KINDS and e.tiers and e.tiers[0] == e.hint for e in exercises())


# --------------------------------------------------------------------------------------
# grade_namespace


def test_grade_namespace_one_result_per_exercise_in_id_order(fake_section):
    results = grade_namespace("98", {"first": square, "second": cube, "unrelated": 3})
    assert [r.id for r in results] == ["98.1", "98.2", "98.10"]
    assert [r.status for r in results] == ["passed", "failed", "missing"]
    assert [r.points for r in results] == [1, 0, 0]


def test_grade_namespace_section_01_with_only_stubs():
    def stub(*args):
        raise NotImplementedError

    namespace = {e.function: stub for e in exercises("01")}
    results = grade_namespace("01", namespace)
    assert [r.id for r in results] == SECTION_01
    assert {r.status for r in results} == {"not attempted"}
    assert sum(r.points for r in results) == 0


def test_grade_namespace_empty_namespace_is_all_missing():
    results = grade_namespace("01", {})
    assert [r.id for r in results] == SECTION_01
    assert {r.status for r in results} == {"missing"}


# --------------------------------------------------------------------------------------
# The registry


def test_section_01_exercises_are_well_formed():
    found = exercises("01")
    assert len(found) >= 5
    assert "01" in sections()
    for e in found:
        assert e.section == "01"
        assert e.id.startswith("1.")
        assert e.points > 0
        assert e.hint.strip()
        assert e.title.strip()
        assert e.function.isidentifier()
        assert callable(e.check)
    assert len({e.function for e in found}) == len(found)
    assert len({e.id for e in found}) == len(found)


def test_exercises_are_sorted_numerically(fake_section):
    assert [e.id for e in fake_section] == ["98.1", "98.2", "98.10"]
    ids = [e.id for e in exercises()]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split(".")))


def test_registry_rejects_a_duplicate_id(fake_section):
    before = get("98.1")
    with pytest.raises(ValueError, match="98.1"):
        core.register("98.1", "98", "Again", 1, "again", "hint")(_check_square)
    assert get("98.1") is before


def test_registry_rejects_a_duplicate_of_a_real_exercise(monkeypatch):
    monkeypatch.setattr(core, "EXERCISES", core.EXERCISES.copy())
    with pytest.raises(ValueError, match="registered twice"):
        core.register("1.1", "01", "Again", 1, "kl_again", "hint")(_check_square)


def test_get_unknown_id():
    with pytest.raises(KeyError, match="known exercises"):
        get("0.0")


# --- messages: another exercise's stub, the profiler -------------------------------------------------


def test_calling_an_unfinished_earlier_exercise_says_which_not_not_attempted():
    from course_utils.grading import get, run_check

    def optimal_discriminator(p_x, p_theta):
        raise NotImplementedError("Exercise 3.1: plug in the densities")

    def optimal_value(p_x, p_theta, dx):
        d = optimal_discriminator(p_x, p_theta)
        return (p_x * d.log()).sum() * dx

    r = run_check(get("3.2"), optimal_value)
    assert (r.status, r.points) == ("failed", 0)
    assert "your answer to exercise 3.1, which still raises NotImplementedError" in r.message

    def own_stub(p_x, p_theta, dx):
        raise NotImplementedError("Exercise 3.2: integrate on the grid")

    assert run_check(get("3.2"), own_stub).status == "not attempted"


def test_a_function_that_switches_off_the_profiler_fails_and_the_profiler_is_restored():
    import sys

    import torch

    from course_utils.grading import get, run_check

    before = sys.getprofile()

    def kl_discrete(p, q):
        sys.setprofile(None)
        return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)

    r = run_check(get("1.1"), kl_discrete)
    assert r.status == "failed" and "profiler" in r.message
    assert sys.getprofile() is before


def test_leftover_gradients_are_drawn_from_the_generator_and_put_back_on_each_copy():
    import copy

    from course_utils.grading.compare import copy_with_grads, flat_state, with_leftover_grads

    def build():
        return with_leftover_grads(torch.nn.Linear(3, 2).double(), torch.Generator().manual_seed(4))

    net, again = build(), build()
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(net.parameters(), again.parameters(), strict=True))
    assert copy.deepcopy(net).weight.grad is None  # what a plain copy keeps
    twin = copy_with_grads(net)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(net.parameters(), twin.parameters(), strict=True))
    twin.weight.grad.zero_()
    assert net.weight.grad.abs().sum() > 0  # each copy has its own
    assert torch.equal(flat_state(net.state_dict()), torch.cat([net.weight.flatten(), net.bias.flatten()]).detach())
