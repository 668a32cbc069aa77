"""The summary of scripts/check_latest.sh (``make check-latest``): what ran, what broke, and how.

    python scripts/check_latest_summary.py build/check-latest

Reads the JUnit reports (``RUN.xml``) and version lines (``ipywidgetsN.versions``) the script leaves in that
folder; prints, per run, the versions, the pass/fail counts and each failure with its first error line (a
notebook's later failing cells are counted, not listed: they usually follow from the first). Exits 1 when a
run failed or left no report.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

#: A terminal colour code, as written (ESC) or as pytest's JUnit report escapes it (#x1B).
ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
#: An exception's own line ("ValueError: bad", "torch.OutOfMemoryError"), not a traceback's header line.
EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Exit|Interrupt)(?::\s.*)?$")


@dataclass
class Run:
    name: str
    passed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, first error line)


def first_error_line(text: str) -> str:
    """The line that says what went wrong: pytest's first ``E`` line, else the last exception line."""
    lines = [ANSI.sub("", line).rstrip() for line in text.splitlines()]
    for line in lines:
        if line.startswith("E ") and line[1:].strip():
            return line[1:].strip()
    exceptions = [line.strip() for line in lines if EXCEPTION.match(line.strip())]
    if exceptions:
        return exceptions[-1]
    return next((line.strip() for line in lines if line.strip()), "(no message)")


def read_run(path: Path) -> Run:
    run = Run(path.stem)
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            text = "\n".join(filter(None, [problem.get("message", ""), problem.text or ""]))
            test_id = "::".join(filter(None, [case.get("classname", ""), case.get("name", "")]))
            run.failures.append((test_id, first_error_line(text)))
        elif case.find("skipped") is not None:
            run.skipped += 1
        else:
            run.passed += 1
    return run


def notebook_of(test_id: str) -> str | None:
    """``solutions.03_gans.ipynb::Cell 12`` -> ``solutions/03_gans.ipynb`` (nbval's test ids); else None."""
    match = re.match(r"(solutions|exercises)[./](.+?\.ipynb)::", test_id)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def report(run: Run) -> list[str]:
    out = [f"{run.name}: {run.passed} passed, {len(run.failures)} failed"
           + (f", {run.skipped} skipped" if run.skipped else "")]
    shown: dict[str, int] = {}  # notebook -> its failing cells after the first
    for test_id, line in run.failures:
        notebook = notebook_of(test_id)
        if notebook in shown:
            shown[notebook] += 1
            continue
        if notebook is not None:
            shown[notebook] = 0
            test_id = f"{notebook}::{test_id.split('::', 1)[1]}"
        out.append(f"  FAILED {test_id}: {line}")
    out += [f"  ({more} more failing cells in {nb})" for nb, more in shown.items() if more]
    if not run.passed and not run.failures:
        out.append("  nothing ran")
    return out


def main(folder: Path) -> int:
    status = 0
    in_run_order = lambda paths: sorted(paths, key=lambda p: (p.stat().st_mtime, p.name))  # noqa: E731
    for versions in in_run_order(folder.glob("*.versions")):
        print(f"{versions.stem}: {versions.read_text().strip()}")
    reports = in_run_order(folder.glob("*.xml"))
    if not reports:
        print(f"no reports in {folder}: nothing ran")
        return 1
    for path in reports:
        try:
            run = read_run(path)
        except ET.ParseError as err:
            print(f"{path.stem}: unreadable report ({err})")
            status = 1
            continue
        print("\n".join(report(run)))
        if run.failures or not run.passed:
            status = 1
    print("check-latest: " + ("something broke (see above)" if status else "everything passed"))
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/check-latest")))
