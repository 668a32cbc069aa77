"""Section 04: the Wasserstein distance, optimal transport and WGANs (notebook ``04_wasserstein``).

Math: wasserstein (W1 in 1-D, the parallel lines), transport (optimal transport as a linear program),
wgan (critics, clipping, the gradient penalty, WGAN training).
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
