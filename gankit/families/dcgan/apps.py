"""Using a trained DCGAN: ``sample(model, seeds, out)`` draws images from latent seeds.

Sampling is the same for every unconditional GAN, so it lives in ``gankit.families._unconditional``;
it is re-exported here so that users find it under the family's name.
"""

from gankit.families._unconditional import sample

__all__ = ["sample"]
