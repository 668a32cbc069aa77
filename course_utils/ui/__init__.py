"""What the plots and widgets share: colours and fast figure rendering (:mod:`.render`), the demo
base class :class:`~course_utils.ui.base.FigureDemo`, and the demo registry (:mod:`.demos`)."""
