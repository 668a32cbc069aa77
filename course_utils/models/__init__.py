"""The course's trained models, one module per section (``sectionNN.py``).

Each module registers the functions that train its models with
:func:`course_utils.training.course_model`; ``make bench`` imports every module
here and measures each model (training time, and how close its samples come to
the target). Nothing here runs at import time but registration.
"""
