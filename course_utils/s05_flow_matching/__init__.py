"""Section 05: flows, the continuity equation, flow matching and guidance (notebook ``05_flow_matching``).

Math: probability_paths (Gaussian probability paths, used by sections 06 and 07 too), flows (flows of a field,
the continuity equation), flow_matching (conditional flow matching, guidance).
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
