"""Section 02: the reparametrization trick, the Gaussian VAE and VQ-VAE (notebook ``02_vae``).

Math: reparam (score-function vs reparametrized gradients), vae (the VAE on 8x8 digits), vq (VQ-VAE).
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
