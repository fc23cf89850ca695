"""Image-generation metrics (FID, KID, IS, precision/recall, PPL, SIFID, SSIM, PSNR, LPIPS).

Framework only: nothing here imports a family. Submodules are imported on demand so that
``import gankit.metrics`` stays cheap.
"""
