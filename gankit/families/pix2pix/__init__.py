"""Pix2Pix: paired image-to-image translation (U-Net / ResNet generators, PatchGAN, L1)."""
