"""Losses shared by the families: adversarial objectives and their regularisers."""
