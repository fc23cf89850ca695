"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty."""
