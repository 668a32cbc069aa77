"""``python -m course_tools.bench``: see :mod:`course_tools.bench`."""

import sys

from .report import main

sys.exit(main())
