"""What users do with a trained template model, as plain Python functions.

Fill in: one function per use of the model (``stylize``, ``translate``, ``sample``, ...), each
taking a model folder, URL or Hugging Face repo id and loading it with
``gankit.core.checkpoint.from_pretrained``; ``cli.py`` only parses arguments and calls these.
Images meet a network's size multiple through ``gankit.core.images.pad_to_multiple`` and videos
go through ``gankit.core.video``, so the web app renders what the CLI renders. A latent generator
needs nothing of its own: sampling is shared by ``gankit.families._unconditional``.
"""

from gankit.families._unconditional import sample

__all__ = ["sample"]
