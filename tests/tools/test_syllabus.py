"""The README's syllabus table: generated from the registry and the benchmark, and checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from course_tools import ROOT, syllabus
from course_tools.build import find_sources
from course_utils.grading import exercises


def test_the_readme_table_is_up_to_date():
    assert syllabus.check(ROOT) == []


def test_one_row_per_section_with_the_registry_counts():
    runtimes, _ = syllabus.recorded((ROOT / "README.md").read_text())
    table = syllabus.render(runtimes, None, ROOT)
    for src in find_sources(ROOT):
        graded = exercises(src.section)
        row = next(line for line in table.splitlines() if line.startswith(f"| {src.section} |"))
        assert f"| {len(graded)} | {sum(e.points for e in graded)} |" in row
        assert f"exercises/{src.name}.ipynb" in row and "colab.research.google.com" in row


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    shutil.copy(ROOT / "README.md", root / "README.md")
    return root


def test_a_stale_table_is_caught_and_regenerated(tmp_path):
    root = _copy(tmp_path)
    readme = root / "README.md"
    src = find_sources(root)[0]
    points = sum(e.points for e in exercises(src.section))
    text = readme.read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {src.section} |"))
    readme.write_text(text.replace(row, row.replace(f"| {points} |", f"| {points + 1} |")))
    assert syllabus.check(root) != []
    assert syllabus.update(root, bench=tmp_path / "no-bench.json") is True
    assert syllabus.check(root) == [] and readme.read_text() == text  # runtimes kept, nothing invented


def test_runtimes_come_from_the_bench_report(tmp_path):
    root = _copy(tmp_path)
    name = find_sources(root)[0].name
    report = {"created": "2030-01-02T03:04:05+00:00", "machine": {"cpus": 2, "load": 0.1, "torch": "2.13.0"},
              "notebooks": [{"notebook": f"solutions/{name}.ipynb", "seconds": 12.34, "error": None},
                            {"notebook": f"exercises/{name}.ipynb", "seconds": 99.0, "error": None}]}
    (tmp_path / "bench.json").write_text(json.dumps(report))
    syllabus.update(root, bench=tmp_path / "bench.json")
    text = (root / "README.md").read_text()
    row = next(line for line in text.splitlines() if f"[`{name}`]" in line)
    assert row.endswith("| 12 s |")
    assert "measured by `make bench` on 2030-01-02 (2 CPUs, load 0.1" in text
    assert syllabus.check(root) == []
