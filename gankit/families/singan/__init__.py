"""SinGAN: learn one image, then sample, animate, harmonise, edit, paint and super-resolve."""
