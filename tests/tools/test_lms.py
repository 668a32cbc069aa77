"""The way in from a learning platform and back out (course_tools.lms), and the class grader's flow around it.

Unit tests: no sandbox. Where a whole class is graded, ``fake_grader`` stands in for the sandboxed
grader: it gives an exercise its points when the student's cell is the course solution's, which is what
the real grader gives the generated classes of ``course_tools.autograde.synthetic`` (the integration
test ``tests/integration/test_lms_class.py`` grades them for real). The platforms' formats are checked
against their importers' own rules, quoted from their source (Moodle's ``importziplib.php`` and
``importgradeslib.php``, Canvas's ``gradebook_importer.rb`` and ``assignment.rb``), not against our writer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from course_tools import ROOT
from course_tools.autograde import gradebook, synthetic
from course_tools.autograde.engine import Report
from course_tools.autograde.submission import SubmissionError, read_submission
from course_tools.lms import export, intake, policy, roster
from course_utils.grading import Result, exercises

BERLIN = ZoneInfo("Europe/Berlin")
MAX_01 = sum(e.points for e in exercises("01"))


# --- intake ------------------------------------------------------------------------------------------------------


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_a_folder_has_one_student_per_subfolder_or_notebook(tmp_path):
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "alice" / "01_kl_elbo.ipynb").write_text("{}")
    (tmp_path / "alice" / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "carol").mkdir()
    found = intake.read_submissions(tmp_path)
    assert found.kind == "folder"
    assert {e.key: [nb.label for nb in e.notebooks] for e in found.entrants} == {
        "alice": ["alice/01_kl_elbo.ipynb"], "bob": ["bob.ipynb"], "carol": []}
    assert found.entrants[0].notebooks[0].path == tmp_path / "alice" / "01_kl_elbo.ipynb"
    assert all(nb.submitted is None for e in found.entrants for nb in e.notebooks)


def test_moodle_zip_in_every_form_moodle_writes(tmp_path):
    path = _zip(tmp_path / "m.zip", {
        "Jane Doe_1234_assignsubmission_file/01_kl_elbo.ipynb": b"{1}",            # Moodle 4.1 and later
        "Jane Doe_1234_assignsubmission_onlinetext/onlinetext.html": b"<p>",
        "Ann Lee_77_assignsubmission_file_/sub/dir/01_kl_elbo.ipynb": b"{2}",       # before 4.1
        "Bo Kim_5_assignsubmission_file_01_kl_elbo.ipynb": b"{3}",                  # not "in folders"
        "Participant_90_assignsubmission_file/01.ipynb": b"{4}",                     # blind marking
        "Only Text_8_assignsubmission_onlinetext/onlinetext.html": b"<p>",
        "readme.ipynb": b"{}",
    })
    found = intake.read_submissions(path)
    assert found.kind == "moodle"
    got = {e.key: (e.name, [nb.data for nb in e.notebooks], e.lms["moodle_folder"]) for e in found.entrants}
    assert list(got) == ["5", "8", "77", "90", "1234"]  # by participant id
    assert got["1234"] == ("Jane Doe", [b"{1}"], "Jane Doe_1234_assignsubmission_file")
    assert got["77"] == ("Ann Lee", [b"{2}"], "Ann Lee_77_assignsubmission_file_")
    assert got["5"][1] == [b"{3}"] and got["90"][0] == "Participant"
    assert got["8"][1] == []  # an online text only: a student with nothing to grade
    assert found.problems == ["readme.ipynb: not named as Moodle names a submission; skipped"]
    assert all(nb.submitted is None for e in found.entrants for nb in e.notebooks)  # Moodle's zip has no times


def test_canvas_zip_keeps_the_user_id_the_attachment_and_the_late_mark(tmp_path):
    path = _zip(tmp_path / "c.zip", {
        "doejane_12345_67890_01_kl_elbo.ipynb": b"{1}",
        "leeann_LATE_222_333_01_kl_elbo.ipynb": b"{2}",
        "doejane_12345_text.html": b"<p>",
        "anon_Xk3j9_444_01_kl_elbo.ipynb": b"{3}",
        "van_der_berganna_LATE_77_88_01_kl_elbo.ipynb": b"{4}",  # Canvas keeps "_" of a name
        "LATE_anon_Qz1_555_01_kl_elbo.ipynb": b"{5}",
    })
    found = intake.read_submissions(path)
    assert found.kind == "canvas"
    by_key = {e.key: e for e in found.entrants}
    assert list(by_key) == ["77", "222", "12345", "anon_Qz1", "anon_Xk3j9"]
    assert by_key["77"].name == "van_der_berganna" and by_key["77"].notebooks[0].late_marked
    assert by_key["anon_Qz1"].notebooks[0].late_marked
    assert by_key["12345"].lms == {"canvas_name": "doejane", "canvas_user": "12345"}
    assert [nb.late_marked for nb in by_key["222"].notebooks] == [True]
    assert [nb.late_marked for nb in by_key["12345"].notebooks] == [False]
    assert by_key["anon_Xk3j9"].notebooks[0].data == b"{3}"


def test_a_zip_member_too_large_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 100)
    path = _zip(tmp_path / "c.zip", {"doejane_1_2_01.ipynb": b"x" * 101, "leeann_3_4_01.ipynb": b"{}"})
    found = intake.read_submissions(path)
    assert {e.key: len(e.notebooks) for e in found.entrants} == {"1": 0, "3": 1}
    assert "more than a notebook can be" in found.problems[0]


@pytest.mark.parametrize("make, says", [
    (lambda p: p.write_text("not a zip"), "is a file but not a zip"),
    (lambda p: _zip(p, {"a/b.ipynb": b"{}"}), "not a Moodle or Canvas submissions zip"),
])
def test_a_file_that_is_not_a_platform_zip_is_refused(tmp_path, make, says):
    path = tmp_path / "x.zip"
    make(path)
    with pytest.raises(ValueError, match=says):
        intake.read_submissions(path)
    with pytest.raises(ValueError, match="does not exist"):
        intake.read_submissions(tmp_path / "missing.zip")


def test_nbgrader_tree_and_its_timestamps(tmp_path):
    sub = tmp_path / "course" / "submitted"
    for student, stamp in (("ann", "2027-10-20 21:14:03.123456 UTC"), ("ben", "2027-10-20 14:00:00.0 America/New_York"),
                           ("cy", "yesterday")):
        (sub / student / "ps1").mkdir(parents=True)
        (sub / student / "ps1" / "01_kl_elbo.ipynb").write_text("{}")
        (sub / student / "ps1" / "timestamp.txt").write_text(stamp)
    for path in (tmp_path / "course", sub):  # the course folder, or its submitted/
        found = intake.read_submissions(path)
        assert found.kind == "nbgrader"
        when = {e.key: e.notebooks[0].submitted for e in found.entrants}
        assert when["ann"] == datetime(2027, 10, 20, 21, 14, 3, 123456, tzinfo=UTC)
        assert when["ben"] == datetime(2027, 10, 20, 18, 0, tzinfo=UTC)  # EDT is UTC-4
        assert when["cy"] is None and "not an nbgrader timestamp" in found.problems[0]
        assert found.entrants[0].notebooks[0].label == "ann/ps1/01_kl_elbo.ipynb"


# --- roster ------------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_roster_formats(tmp_path):
    plain = roster.read_roster(_write(tmp_path / "r.csv", "Email,ID,Name,submitted\na@x.org,s1,Ann Lee,"
                                      "2027-10-21T01:00:00+02:00\nb@x.org,s2,Bo Kim,2027-10-21 08:00\n"), BERLIN)
    assert [(p.id, p.name, p.email) for p in plain] == [("s1", "Ann Lee", "a@x.org"), ("s2", "Bo Kim", "b@x.org")]
    assert plain[0].submitted == datetime(2027, 10, 20, 23, 0, tzinfo=UTC)
    assert plain[1].submitted == datetime(2027, 10, 21, 8, 0, tzinfo=BERLIN)  # a local time: the course's zone
    moodle = roster.read_roster(_write(tmp_path / "w.csv", (
        '"Identifier","Full name","Email address","Status","Grade","Maximum Grade","Grade can be changed",'
        '"Last modified (submission)","Last modified (grade)","Feedback comments"\n'
        '"Participant 1234","Jane Doe","jane@x.org","Submitted","","14.00","Yes",'
        '"Wednesday, 20 October 2027, 11:12 PM","-",""\n'
        '"Participant 99","Al Bo","al@x.org","No submission","","14.00","Yes","-","-",""\n')), BERLIN)
    assert [(p.id, p.name, p.email) for p in moodle] == [("1234", "Jane Doe", "jane@x.org"),
                                                         ("99", "Al Bo", "al@x.org")]
    assert moodle[0].submitted == datetime(2027, 10, 20, 23, 12, tzinfo=BERLIN) and moodle[1].submitted is None
    assert moodle[0].lms["moodle_identifier"] == "Participant 1234"
    canvas = roster.read_roster(_write(tmp_path / "c.csv", (
        "Student,ID,SIS User ID,SIS Login ID,Section,HW1 (4567)\n    Points Possible,,,,,100\n"
        '"Doe, Jane",12345,s123,jdoe,Section A,87.5\n')))
    assert [(p.id, p.name) for p in canvas] == [("12345", "Doe, Jane")]
    assert canvas[0].lms["canvas_section"] == "Section A" and canvas[0].lms["canvas_sis_login"] == "jdoe"


@pytest.mark.parametrize("text, says", [
    ("name,email\nAnn,a@x\n", "has no id column"),
    ("id,name\ns1,Ann\ns1,Ann again\n", "listed twice"),
    ("id,name,submitted\ns1,Ann,next tuesday\n", "cannot read the time 'next tuesday'"),
    ("", "is empty"),
])
def test_a_bad_roster_says_what_was_expected(tmp_path, text, says):
    with pytest.raises(ValueError, match=says):
        roster.read_roster(_write(tmp_path / "r.csv", text))
    with pytest.raises(ValueError, match="does not exist"):
        roster.read_roster(tmp_path / "missing.csv")


def test_matching_by_id_then_email_then_name():
    people = [roster.Person("s1", "Doe, Jane", "jane@x.org"), roster.Person("s2", "Ann Lee"),
              roster.Person("s3", "Bo Kim"), roster.Person("s4", "Bo Kim")]
    got = roster.match({"s1": ("", ""), "99": ("Someone", "JANE@x.org"), "7": ("doejane", ""),
                        "8": ("Jane Doe", ""), "9": ("Ann  Lée", ""), "10": ("Bo Kim", ""), "11": ("Zed", "")},
                       people)
    assert {k: p.id if p else None for k, p in got.items()} == {
        "s1": "s1", "99": "s1", "7": "s1", "8": "s1", "9": "s2", "10": None, "11": None}  # two Bo Kims: no guess


# --- course.toml -------------------------------------------------------------------------------------------------


def _policy(tmp_path, text: str) -> policy.Policy:
    return policy.load_policy(_write(tmp_path / "course.toml", text))


POLICY = """timezone = "Europe/Berlin"
[late]
grace_minutes = 15
penalty_per_day = 10
cap = 35
[deadlines]
01 = 2027-10-20T23:59:00
02 = 2027-11-03
"""


@pytest.mark.parametrize("late, percent", [
    (timedelta(minutes=-5), 0), (timedelta(0), 0), (timedelta(minutes=15), 0),
    (timedelta(minutes=16), 10), (timedelta(hours=24), 10), (timedelta(hours=24, seconds=1), 20),
    (timedelta(days=3, hours=1), 35),  # 4 started days = 40%, capped at 35%
])
def test_the_late_penalty(tmp_path, late, percent):
    pol = _policy(tmp_path, POLICY)
    due = datetime(2027, 10, 20, 23, 59, tzinfo=BERLIN)
    cost = pol.late("01", due + late, 12)
    assert cost.percent == percent and cost.points == pytest.approx(12 * percent / 100)
    assert (cost.text != "") == (late > timedelta(0))


def test_a_percent_of_the_maximum_never_costs_more_than_was_earned_and_extensions_move_a_deadline(tmp_path):
    pol = _policy(tmp_path, POLICY.replace("cap = 35", "cap = 35\nof = 'possible'")
                  + "[extensions.01]\n100007 = 2027-10-23T23:59:00\n")
    due = datetime(2027, 10, 20, 23, 59, tzinfo=BERLIN)
    assert pol.late("01", due + timedelta(hours=30), 12, 14).points == pytest.approx(14 * 0.2)  # 2 days of 14
    assert pol.late("01", due + timedelta(hours=30), 1, 14).points == 1  # never below zero
    assert pol.late("01", due + timedelta(days=2), 12, 14, student="100007").points == 0
    assert pol.late("01", due + timedelta(days=3, hours=1), 12, 14, student="100007").percent == 10
    assert pol.late("02", due + timedelta(days=30), 12, 14, student="100007").percent == 35  # only for 01
    assert policy.Policy.from_dict(json.loads(json.dumps(pol.to_dict()))) == pol


def test_deadlines_times_and_what_has_none(tmp_path):
    pol = _policy(tmp_path, POLICY)
    assert pol.deadlines["01"] == datetime(2027, 10, 20, 21, 59, tzinfo=UTC)  # CEST = UTC+2
    assert pol.deadlines["02"] == datetime(2027, 11, 3, 23, 59, 59, tzinfo=BERLIN)  # a date: its last second
    unknown = pol.late("01", None, 12)
    assert unknown.points == 0 and "submission time unknown" in unknown.text
    assert pol.late("03", datetime(2030, 1, 1, tzinfo=UTC), 12) == policy.Late(
        datetime(2030, 1, 1, tzinfo=UTC), 0.0, 0.0, 0.0, "")
    assert policy.load_policy(tmp_path / "missing.toml") == policy.NO_POLICY
    assert policy.Policy.from_dict(json.loads(json.dumps(pol.to_dict()))) == pol


def test_the_shipped_course_toml_is_valid():
    pol = policy.load_policy(ROOT / "course.toml")
    assert pol.grace == timedelta(minutes=15) and pol.penalty_per_day == 10 and pol.cap == 50
    assert pol.lms["columns"] == "section"


@pytest.mark.parametrize("text, says", [
    ("timezone = 'Mars/Olympus'", "is not a zone name"),
    ("[late]\npenalty_per_day = -5", "penalty_per_day must be a number between 0 and 100"),
    ("[late]\ncap = 'half'", "cap must be a number"),
    ("[deadlines]\n01 = 'Friday'", "must be a date-time"),
    ("deadline = 2027-10-20", "unknown setting"),
    ("[lms]\ncolumns = 'student'", 'columns must be "section" or "exercise"'),
    ("[lms]\ntitle = 'HW'", "must be a text containing {section}"),
    ("[lms.canvas_assignments]\n01 = 'abc'", "Canvas assignment id"),
    ("[late\n", "is not valid TOML"),
    ("[late]\ngrace = 5", "unknown setting(s) grace"),
    ("[late]\nof = 'max'", 'of must be "earned" or "possible"'),
    ("[extensions]\n01 = 2027-10-20", "give each section a table"),
])
def test_a_bad_course_toml_names_the_setting(tmp_path, text, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        _policy(tmp_path, text)


# --- exports, against the importers' own rules ------------------------------------------------------------------


def moodle_participant(path: str) -> tuple[str, str] | None:
    """Moodle's importziplib.php: the first path part with >= 4 '_'-parts, [1] numeric, [2]_[3] a plugin."""
    for part in path.split("/")[:-1]:
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit():
            return info[1], f"{info[2]}_{info[3]}"
    return None


def test_a_canvas_name_is_read_as_canvas_reads_it_back():
    for name in ("doejane_12345_67890_01_kl_elbo.ipynb", "van_der_berganna_LATE_77_88_01_kl.ipynb",
                 "leeann_LATE_222_333_x_1_2.ipynb"):
        found = intake.canvas_name(name)
        assert (found.user, found.attachment) == canvas_ids(name)
        assert name == found.prefix + found.file
    for not_canvas in ("readme.ipynb", "12_34_x.ipynb", "doejane_12345_text.html", "a/b_1_2_x.ipynb"):
        assert intake.canvas_name(not_canvas) is None


def canvas_ids(filename: str) -> tuple[str, str]:
    """Canvas's assignment.rb: split on '_', drop LATE, the first two all-digit parts are user and attachment."""
    parts = [p for p in filename.split("_") if p != "LATE"]
    user, attachment = [p for p in parts if re.fullmatch(r"\d+", p)][:2]
    return user, attachment


# The platforms' documented samples (a header and a row each), as their importers and exporters write them:
# Moodle's grading worksheet (mod/assign/gradingtable.php, lang strings of mod_assign), Canvas's gradebook
# import (lib/gradebook_importer.rb and the Canvas guides' example).
MOODLE_WORKSHEET_SAMPLE = (
    '"Identifier","Full name","Email address","Status","Grade","Maximum Grade","Grade can be changed",'
    '"Last modified (submission)","Online text","Last modified (grade)","Feedback comments"\n'
    '"Participant 1234567","Jane Doe","jane@example.org","Submitted for grading - Graded","87.50","100.00","Yes",'
    '"Monday, 7 December 2026, 4:18 AM","","Tuesday, 8 December 2026, 9:02 AM","Good work"\n')
CANVAS_IMPORT_SAMPLE = ('Student,ID,SIS User ID,SIS Login ID,Section,HW1 (4567),Autograder HW2\n'
                        'Points Possible,,,,,100,50\n'
                        '"Doe, Jane",12345,s123,jdoe,Section A,87.5,40\n')


def test_moodles_own_worksheet_is_a_roster_and_our_worksheet_uploads_like_it(tmp_path):
    (person,) = roster.read_roster(_write(tmp_path / "w.csv", MOODLE_WORKSHEET_SAMPLE), BERLIN)
    assert (person.id, person.name, person.email) == ("1234567", "Jane Doe", "jane@example.org")
    assert person.submitted == datetime(2026, 12, 7, 4, 18, tzinfo=BERLIN)
    ours = export.moodle_worksheet("01", [{"identifier": "Participant 1234567", "name": "Jane Doe",
                                           "email": "jane@example.org", "grade": 87.5,
                                           "modified": person.lms["moodle_modified"], "comment": "Good work"}], 100)
    theirs_head, theirs = list(csv.reader(io.StringIO(MOODLE_WORKSHEET_SAMPLE)))
    head, row = list(csv.reader(io.StringIO(ours)))
    assert set(head) <= set(theirs_head)  # only columns Moodle writes itself, under its own names
    upload = ("Identifier", "Grade", "Last modified (grade)", "Feedback comments")  # what its upload reads
    assert [row[head.index(c)] for c in upload] == ["Participant 1234567", "87.5", "Tuesday, 8 December 2026, 9:02 AM",
                                                    "Good work"]
    assert [theirs[theirs_head.index(c)] for c in upload if c != "Grade"] == [
        row[head.index(c)] for c in upload if c != "Grade"]


def test_our_canvas_import_reproduces_canvas_documented_example(tmp_path):
    cols = [export.Column("HW1", "01", ("1.1",), 100), export.Column("Autograder HW2", "02", ("2.1",), 50)]
    people = [{"name": "Doe, Jane", "id": "12345", "sis_user": "s123", "sis_login": "jdoe", "section": "Section A",
               "HW1": 87.5, "Autograder HW2": 40}]
    assert export.canvas_grades(cols, people, {"01": 4567}) == CANVAS_IMPORT_SAMPLE
    (person,) = roster.read_roster(_write(tmp_path / "export.csv", CANVAS_IMPORT_SAMPLE))  # also a roster
    assert (person.id, person.name, person.lms["canvas_sis_login"]) == ("12345", "Doe, Jane", "jdoe")


def test_moodle_worksheet_has_what_its_upload_requires():
    text = export.moodle_worksheet("01", [{"identifier": "Participant 1234", "name": "Jane Doe", "email": "j@x",
                                           "grade": 10.8, "modified": "", "comment": "ok"}], 14)
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for required in ("Identifier", "Grade", "Last modified (grade)"):  # importgradeslib.php fails without them
        assert required in header
    row = dict(zip(header, rows[1], strict=True))
    assert row["Identifier"][len("Participant "):] == "1234"  # how Moodle reads the id back
    assert row["Grade"] == "10.8" and row["Last modified (grade)"] == "-"


def test_canvas_grades_have_the_header_its_importer_expects():
    cols = [export.Column("Notebook 01", "01", ("1.1",), 14), export.Column("Notebook 02", "02", ("2.1",), 13)]
    text = export.canvas_grades(cols, [{"name": "Doe, Jane", "id": "12345", "sis_user": "", "sis_login": "",
                                        "section": "", "Notebook 01": 12, "Notebook 02": 3.5}], {"01": 4567})
    rows = list(csv.reader(io.StringIO(text)))
    head = rows[0]
    assert "Student" in head[0] and "ID" in head[1] and len(head) > 3  # row_has_student_headers?
    assert "Section" in head[head.index("Section")]  # the last student-info column
    assigned = [re.fullmatch(r"(.*)\s\((\d+)\)", h) for h in head[5:]]  # Assignment.title_and_id
    assert assigned[0].groups() == ("Notebook 01", "4567") and assigned[1] is None  # no id: a new assignment
    assert rows[1][0] == "Points Possible" and rows[1][5:] == ["14", "13"]
    assert rows[2] == ["Doe, Jane", "12345", "", "", "", "12", "3.5"]


def test_feedback_zips_are_the_same_bytes_for_the_same_feedback():
    files = {"b/feedback.html": "<p>b", "a/feedback.html": "<p>a"}
    data = export.feedback_zip(files)
    assert data == export.feedback_zip(dict(reversed(files.items())))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["a/feedback.html", "b/feedback.html"]


# --- a class, graded with a stand-in for the sandbox ------------------------------------------------------------


def fake_grade(data: bytes, name: str, section=None, limits=None, student="", unsandboxed=False, **_) -> Report:
    """Full points for each exercise whose cell is the course solution's, as the real grader gives them."""
    try:
        sub = read_submission(data, name, section)
    except SubmissionError as err:
        return Report(name, section, [], error=str(err))
    rows = []
    for ex in exercises(sub.section):
        right = sub.regions.get(ex.id) == synthetic.solution_cell(ex.id)
        rows.append(Result(ex.id, ex.title, ex.points if right else 0, ex.points,
                           "passed" if right else "failed", "" if right else "not yet").to_dict())
    return Report(name, sub.section, rows, sandbox="fake")


@pytest.fixture
def fake_grader(monkeypatch):
    monkeypatch.setattr(gradebook, "grade_submission", fake_grade)
    monkeypatch.setattr(gradebook, "sandbox_available", lambda: (True, "fake"))


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.parts and not p.name.startswith("shard-")}


@pytest.fixture
def moodle(tmp_path):
    zip_path, sheet = tmp_path / "moodle.zip", tmp_path / "worksheet.csv"
    expected = synthetic.moodle_class(zip_path, sheet, "01", 7, deadline="2027-10-20T23:59:00")
    pol = _policy(tmp_path, POLICY)
    return zip_path, roster.read_roster(sheet, pol.timezone), pol, expected


def test_a_moodle_class_end_to_end(tmp_path, fake_grader, moodle):
    zip_path, people, pol, expected = moodle
    out = tmp_path / "grades"
    gradebook.grade_class(zip_path, out, "01", jobs=2, progress=False, roster=people, policy=pol)
    rows = _rows(out / "gradebook.csv")
    assert set(rows) == set(expected)
    due = pol.deadlines["01"]
    for pid, want in expected.items():
        row = rows[pid]
        assert int(row["total"]) == want["total"] and row["name"] == want["name"]
        late = want["submitted"] and datetime.fromisoformat(want["submitted"]).replace(tzinfo=BERLIN) - due
        percent = min(35, 10 * -(-late.total_seconds() // 86400)) if late and late > timedelta(minutes=15) else 0
        assert float(row["penalty"]) == pytest.approx(want["total"] * percent / 100), (pid, row["late"])
        assert float(row["final"]) == pytest.approx(want["total"] * (1 - percent / 100))
    assert any(float(r["penalty"]) > 0 for r in rows.values()), "the generated class has a late student"
    nobody = max(expected, key=int)
    assert rows[nobody]["problems"] == "no submission" and rows[nobody]["final"] == "0"
    sheet = list(csv.DictReader((out / "moodle" / "worksheet-01.csv").open(encoding="utf-8")))
    assert {r["Identifier"][len("Participant "):]: r["Grade"] for r in sheet} == {
        pid: rows[pid]["final"] for pid in expected}
    with zipfile.ZipFile(out / "moodle" / "feedback.zip") as zf:
        owners = {moodle_participant(n) for n in zf.namelist()}
        pages = {moodle_participant(n)[0]: zf.read(n).decode() for n in zf.namelist()}
    assert owners == {(pid, "assignsubmission_file") for pid in expected}
    assert all(f"Feedback for {expected[pid]['name']}" in page for pid, page in pages.items())
    grades = list(csv.DictReader((out / "moodle" / "grades.csv").open(encoding="utf-8")))
    assert {r["Email address"]: r["Notebook 01"] for r in grades} == {
        want["email"]: rows[pid]["final"] for pid, want in expected.items()}


def test_scale_to_puts_the_lms_columns_out_of_the_lms_maximum(tmp_path, fake_grader, moodle):
    zip_path, people, _, expected = moodle
    pol = _policy(tmp_path, "[lms]\nscale_to = 100\n")
    out = tmp_path / "grades"
    gradebook.grade_class(zip_path, out, "01", progress=False, roster=people, policy=pol)
    rows = _rows(out / "gradebook.csv")
    sheet = list(csv.DictReader((out / "moodle" / "worksheet-01.csv").open(encoding="utf-8")))
    for r in sheet:
        pid = r["Identifier"][len("Participant "):]
        assert float(r["Grade"]) == pytest.approx(float(rows[pid]["final"]) * 100 / MAX_01, abs=0.005)
        assert r["Maximum Grade"] == "100" and f"/{MAX_01} points" in r["Feedback comments"]
    assert rows[pid]["total"] == str(expected[pid]["total"])  # the gradebook keeps the course's points
    with pytest.raises(ValueError, match="scale_to must be a positive number"):
        _policy(tmp_path, "[lms]\nscale_to = 0\n")


def test_a_canvas_class_end_to_end(tmp_path, fake_grader):
    zip_path, export_csv = tmp_path / "canvas.zip", tmp_path / "export.csv"
    expected = synthetic.canvas_class(zip_path, export_csv, "01", 6)
    pol = _policy(tmp_path, POLICY + "[lms]\ncolumns = 'exercise'\n")
    out = tmp_path / "grades"
    gradebook.grade_class(zip_path, out, "01", progress=False, roster=roster.read_roster(export_csv, BERLIN),
                          policy=pol)
    rows = _rows(out / "gradebook.csv")
    assert {s: int(r["total"]) for s, r in rows.items()} == {u: w["total"] for u, w in expected.items()}
    assert {s for s, r in rows.items() if float(r["penalty"]) > 0} == {
        u for u, w in expected.items() if w["late"] and w["total"]}
    table = list(csv.reader((out / "canvas" / "grades.csv").open(encoding="utf-8")))
    assert table[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert table[0][5:] == [f"Exercise {e.id}" for e in exercises("01")]  # per exercise, as course.toml asks
    assert table[1][5:] == [str(e.points) for e in exercises("01")]
    assert {r[1]: r[0] for r in table[2:]} == {u: w["name"] for u, w in expected.items()}
    with zipfile.ZipFile(out / "canvas" / "feedback.zip") as zf:
        attached = {canvas_ids(n) for n in zf.namelist()}
    submitted = {(u, w["attachment"]) for u, w in expected.items() if w["submitted"]}
    assert attached == submitted  # each file hangs on that student's own submission


def test_an_nbgrader_class_gets_feedback_where_release_feedback_looks(tmp_path, fake_grader):
    course = tmp_path / "course"
    totals = synthetic.nbgrader_class(course, "01", 4, assignment="ps1")
    pol = _policy(tmp_path, "[deadlines]\n01 = 2027-10-21T12:00:00Z\n[late]\npenalty_per_day = 10\n")
    out = tmp_path / "grades"
    result = gradebook.grade_class(course, out, "01", progress=False, policy=pol)
    rows = _rows(out / "gradebook.csv")
    assert {s: int(r["total"]) for s, r in rows.items()} == totals
    late = {s for s, r in rows.items() if r["late"]}  # timestamps 2027-10-20, -21, -22 at 21:14 UTC
    assert late == {"stud01", "stud02"} and "day" in rows["stud02"]["late"]
    # nbgrader's release_feedback: feedback/<student>/<assignment>/<notebook_id>.html, then its timestamp.txt
    # and submission_secret.txt beside it
    pattern = re.compile(r"feedback/(?P<student_id>.*)/ps1/(?P<notebook_id>.*)\.html")
    pages = sorted((out / "nbgrader").rglob("*.html"))
    found = {pattern.fullmatch(str(p.relative_to(out / "nbgrader"))).group("student_id", "notebook_id") for p in pages}
    assert found == {(s, "01_kl_elbo") for s in totals}
    for page in pages:
        for kept in ("timestamp.txt", "submission_secret.txt"):
            student = page.parent.parent.name
            assert (page.parent / kept).read_text() == (course / "submitted" / student / "ps1" / kept).read_text()
    assert "for the LMS: nbgrader/feedback/ (12 files)" in gradebook.summary(result, out)


def test_a_submission_not_on_the_roster_is_graded_reported_and_kept_out_of_the_lms_files(tmp_path, fake_grader,
                                                                                           moodle):
    zip_path, people, pol, expected = moodle
    stranger = people[0]
    out = tmp_path / "grades"
    result = gradebook.grade_class(zip_path, out, "01", progress=False, roster=people[1:], policy=pol)
    rows = _rows(out / "gradebook.csv")
    assert rows[stranger.id]["problems"] == "not on the roster"
    assert int(rows[stranger.id]["total"]) == expected[stranger.id]["total"]
    assert "NOT ON THE ROSTER" in gradebook.summary(result, out) and stranger.id in gradebook.summary(result, out)
    sheet = (out / "moodle" / "worksheet-01.csv").read_text(encoding="utf-8")
    assert f"Participant {stranger.id}," not in sheet


def test_the_shards_partition_the_class():
    keys = [f"s{i:03d}" for i in range(23)]
    parts = [gradebook._in_shard(keys, (i, 4)) for i in range(1, 5)]
    assert set().union(*parts) == set(keys) and sum(map(len, parts)) == len(keys)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert gradebook.parse_shard(" 2/4 ") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="I/N"):
            gradebook.parse_shard(bad)


def test_three_shards_merge_into_the_single_runs_outputs_byte_for_byte(tmp_path, fake_grader, moodle):
    zip_path, people, pol, _ = moodle
    gradebook.grade_class(zip_path, tmp_path / "single", "01", progress=False, roster=people, policy=pol)
    shards = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    for i, folder in enumerate(shards, 1):
        gradebook.grade_class(zip_path, folder, "01", progress=False, roster=people, policy=pol, shard=(i, 3))
        assert not (folder / "gradebook.csv").exists()
    gradebook.merge_shards(list(reversed(shards)), tmp_path / "merged")
    single, merged = _tree(tmp_path / "single"), _tree(tmp_path / "merged")
    assert set(single) == set(merged) and "moodle/feedback.zip" in single
    assert [name for name in single if single[name] != merged[name]] == []
    with pytest.raises(ValueError, match="missing 2"):
        gradebook.merge_shards([shards[0], shards[2]], tmp_path / "m2")
    with pytest.raises(ValueError, match="twice: 1"):
        gradebook.merge_shards([shards[0], shards[0], shards[1], shards[2]], tmp_path / "m3")
    state = json.loads((shards[2] / "shard-3-of-3.json").read_text())
    state["fingerprint"] = "another grader"
    (shards[2] / "shard-3-of-3.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="fingerprint differs"):
        gradebook.merge_shards(shards, tmp_path / "m4")
    with pytest.raises(ValueError, match="graded with --shard"):
        gradebook.merge_shards([tmp_path / "single"], tmp_path / "m5")


def test_a_regrade_is_logged_with_who_when_old_new_and_why(tmp_path, fake_grader):
    subs, out = tmp_path / "class", tmp_path / "grades"
    totals = synthetic.random_class(subs, "01", 3)
    gradebook.grade_class(subs, out, "01", progress=False)
    assert not (out / "regrade_log.csv").exists()  # a first run changes no grade
    gradebook.grade_class(subs, out, "01", progress=False, regrade_students=("student001",), reason="asked by mail",
                          who="prof")
    log = list(csv.DictReader((out / "regrade_log.csv").open(encoding="utf-8")))
    assert [(r["who"], r["student"], r["old"], r["new"], r["changed"], r["reason"]) for r in log] == [
        ("prof", "student001", str(totals["student001"]), str(totals["student001"]), "no change", "asked by mail")]
    datetime.fromisoformat(log[0]["when"])
    path = next((subs / "student002").glob("*.ipynb"))
    path.write_bytes(synthetic.notebook("01", solved=tuple(e.id for e in exercises("01"))))
    gradebook.grade_class(subs, out, "01", progress=False, who="prof")
    log = list(csv.DictReader((out / "regrade_log.csv").open(encoding="utf-8")))
    assert len(log) == 2 and log[1]["student"] == "student002" and log[1]["new"] == str(MAX_01)
    assert log[1]["old"] == str(totals["student002"]) and "total: " in log[1]["changed"]
    assert "graded again" in log[1]["reason"]
    with pytest.raises(ValueError, match="cannot regrade nobody: not in the class"):
        gradebook.grade_class(subs, out, "01", progress=False, regrade_students=("nobody",))
    for path in (subs / "student000").iterdir():
        path.unlink()
    (subs / "student000").rmdir()
    gradebook.grade_class(subs, out, "01", progress=False, who="prof")
    last = list(csv.DictReader((out / "regrade_log.csv").open(encoding="utf-8")))[-1]
    assert (last["student"], last["changed"], last["new"]) == ("student000", "removed from the gradebook", "")


def test_a_regrade_asked_of_one_shard_reaches_the_merged_log(tmp_path, fake_grader):
    subs = tmp_path / "class"
    synthetic.random_class(subs, "01", 4)
    shards = [tmp_path / f"s{i}" for i in (1, 2)]
    for i, folder in enumerate(shards, 1):
        gradebook.grade_class(subs, folder, "01", progress=False, shard=(i, 2))
    gradebook.merge_shards(shards, tmp_path / "grades")
    for i, folder in enumerate(shards, 1):  # the student is in one shard only; the other ignores the request
        gradebook.grade_class(subs, folder, "01", progress=False, shard=(i, 2), regrade_students=("student002",))
    gradebook.merge_shards(shards, tmp_path / "grades", reason="asked", who="prof")
    log = list(csv.DictReader((tmp_path / "grades" / "regrade_log.csv").open(encoding="utf-8")))
    assert [(r["student"], r["changed"], r["reason"]) for r in log] == [("student002", "no change", "asked")]
