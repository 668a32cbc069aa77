"""The way in from a learning platform and the way back out.

- :mod:`.intake`: a class's submissions as the platform hands them over (Moodle's
  and Canvas's "download all submissions" zip, nbgrader's ``submitted/`` tree, or a
  plain folder), each notebook with its student's id, name and submission time.
- :mod:`.roster`: the class list (a plain CSV, Moodle's grading worksheet or
  Canvas's gradebook export), matched to the submissions.
- :mod:`.policy`: ``course.toml``, each section's deadline and the late policy.
- :mod:`.export`: what goes back: Moodle's and Canvas's grade-import CSVs and the
  per-student feedback files packed the way each platform takes them.

The grader (:mod:`course_tools.autograde.gradebook`) reads through :mod:`.intake`
and writes through :mod:`.export`; nothing here runs student code.
"""
