"""SinGAN: learn one natural image, then sample, animate, harmonise, edit, paint and super-resolve."""
