"""One package per GAN family; each registers its networks and recipe."""
