"""Grading a class's submitted notebooks: safely, fairly, and in parallel.

- :mod:`.submission` reads a notebook and finds its exercise cells; the rest
  of what runs comes from the course's source.
- :mod:`.sandbox` and :mod:`.child`: the process that runs student code, in a
  bubblewrap sandbox (no network, none of the grader's files, an unprivileged
  user) under time, memory and process limits, answering through the
  plain-data format of :mod:`.wire`.
- :mod:`.engine` grades one notebook: the checks run here, the student's
  functions there.
- :mod:`.gradebook` grades a class (a folder, an LMS's zip or an nbgrader tree,
  read by :mod:`course_tools.lms`): parallel, cached, in shards if asked, a CSV
  gradebook, per-student feedback and the LMS's import files; :mod:`.regrades`
  logs every change of a grade; :mod:`.synthetic` makes classes for tests.

Command line: ``python -m course_tools.grade`` (see :mod:`course_tools.grade`).
"""

from .engine import Report, grade_submission
from .sandbox import Limits

__all__ = ["Limits", "Report", "grade_submission"]
