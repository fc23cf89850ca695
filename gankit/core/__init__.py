"""Errors, registry, devices, seeding, image/video I/O and the checkpoint format."""
