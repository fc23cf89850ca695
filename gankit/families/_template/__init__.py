"""The skeleton of a family: copy this folder to start a new one (docs/CONTRIBUTING.md).

A working latent-to-image GAN in the fewest lines the engine needs, in the shape of
junyanz/pytorch-CycleGAN-and-pix2pix's ``models/template_model.py``: every file holds one job
and says what to put in it. To start a family, copy the folder to ``gankit/families/<name>/``,
replace ``gankit.families._template`` with ``gankit.families.<name>`` and the names ``template``
/ ``Template`` with yours, then fill in each file from the paper and the reference code. Its
``_`` prefix keeps it out of ``gankit --help`` and the registry; ``tests/test_family_template.py``
trains a copy, so the skeleton keeps up with the engine.

A family's ``__init__.py`` holds one line of docstring (``gankit --help`` shows it) and no
imports, so that the CLI starts without torch.
"""
