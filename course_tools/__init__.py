"""The instructor's tools, apart from the library students read: generating the notebooks
(:mod:`.build`, :mod:`.colab`), the README syllabus (:mod:`.syllabus`), ``make new-section``
(:mod:`.new_section`), the lecture demo server (:mod:`.demo`), grading a class (:mod:`.grade`,
built on :mod:`.autograde`) and ``make bench`` (:mod:`.bench`).

They import :mod:`course_utils`; it never imports them.
"""

from pathlib import Path

#: The repository's root folder (notebooks/, solutions/, exercises/, build/ live here).
ROOT = Path(__file__).resolve().parent.parent
