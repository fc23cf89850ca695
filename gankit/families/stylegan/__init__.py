"""StyleGAN2 (config-f) and StyleGAN1: train, generate, style-mix, interpolate, project, import."""
