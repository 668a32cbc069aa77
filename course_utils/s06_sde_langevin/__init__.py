"""Section 06: SDEs, Langevin dynamics and score matching (notebook ``06_sde_langevin``).

Math: sde (Brownian motion, Euler-Maruyama, ODE to SDE), langevin (Langevin dynamics),
score_matching (denoising score matching).
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
