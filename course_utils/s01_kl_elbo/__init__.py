"""Section 01: KL divergence, latent variable models and the ELBO (notebook ``01_kl_elbo``).

Math: divergences (KL: discrete, Gaussian, Monte Carlo, on a grid), latent (models with exact evidence),
elbo (the ELBO and KL fits), importance (evidence estimators).
Built on them: plots, widgets (the demos), checks (the graded exercises).
"""
