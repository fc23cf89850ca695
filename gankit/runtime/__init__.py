"""The runtime layer under the families: ONNX export, onnxruntime models, the export-once cache.

Nothing here imports a family: what a network can do (and how it is exported) is read from the
small protocol in :mod:`gankit.runtime.protocol`; families use this package for their
``--backend onnx`` and the web app (:mod:`gankit.serve`) for the models it serves.
"""
