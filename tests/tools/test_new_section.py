"""`make new-section`'s files: one section folder, one test folder, the notebook source, the top floor."""

from __future__ import annotations

import shutil

import pytest

from course_tools import ROOT, new_section


def test_refuses_bad_names_and_never_overwrites(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "05_taken.py").write_text("")
    (tmp_path / "course_utils" / "s06_taken").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    for nn, slug, title, says in [("8", "topic", "T", "two-digit"), ("08", "My-Topic", "T", "lower-case"),
                                  ("08", "class", "T", "lower-case"), ("08", "topic", " ", "TITLE"),
                                  ("05", "topic", "T", "already exists"), ("06", "topic", "T", "already exists")]:
        with pytest.raises(ValueError, match=says):
            new_section.write_section(nn, slug, title, root=tmp_path)
    mine = tmp_path / "tests" / "s08_topic" / "test_checks.py"
    mine.parent.mkdir()
    mine.write_text("# a test someone wrote")
    with pytest.raises(ValueError, match="exists; nothing written"):
        new_section.write_section("08", "topic", "Topic", root=tmp_path)
    assert mine.read_text() == "# a test someone wrote"
    assert not (tmp_path / "notebooks" / "08_topic.py").exists()
    assert not (tmp_path / "course_utils" / "s08_topic").exists()
    assert (tmp_path / ".importlinter").read_text() == (ROOT / ".importlinter").read_text()


def test_a_new_section_is_one_folder_in_the_package_one_in_the_tests_and_the_top_floor(tmp_path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    written = new_section.write_section("08", "topic", "Topic", root=tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == [
        "course_utils/s08_topic/__init__.py", "course_utils/s08_topic/checks.py", "course_utils/s08_topic/topic.py",
        "notebooks/08_topic.py", "tests/s08_topic/test_checks.py", "tests/s08_topic/test_topic.py"]
    config = (tmp_path / ".importlinter").read_text()
    assert "layers =\n    course_utils.s08_topic\n    course_utils.s07_ddpm\n" in config
