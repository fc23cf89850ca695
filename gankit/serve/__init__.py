"""Deployment above the families: a Gradio web app (:mod:`gankit.serve.app`, models held by
:class:`gankit.serve.pool.ModelPool`) and a perceptual study page.

Nothing here imports a family: models are found through :mod:`gankit.core.registry` and loaded
with :func:`gankit.core.checkpoint.from_pretrained`; what a network can do is read from the small
protocol in :mod:`gankit.runtime.protocol`.
"""
