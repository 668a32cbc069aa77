"""Section 03: GANs, the minimax game and its family (notebook ``03_gans``).

Math: gan (D*, C(g), the losses), gan_training (2-D GANs, cGAN), cyclegan, adain.
Built on them: plots, widgets (the demos), checks (the graded exercises), models (trained models for ``make bench``).
"""
