"""DCGAN (Radford et al. 2016): all-convolutional G and D with batch norm, BCE loss."""
