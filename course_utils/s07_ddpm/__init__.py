"""Section 07: DDPM, DDIM and the bridge to flow matching (notebook ``07_ddpm``).

Math: diffusion (schedules, the forward kernel, training, ancestral sampling), ddim (DDIM, the probability-flow ODE).
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
