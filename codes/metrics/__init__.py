"""Video super-resolution metrics shared by training validation and the official evaluation.

* :mod:`metrics.functional` -- frame-level building blocks (Y conversion, PSNR, Farneback flow).
* :mod:`metrics.lpips_loader` -- builds the LPIPS (alex, v0.1) model without needing the internet.
* :mod:`metrics.validation` -- the validation metrics the trainer reports (SPEC section 6, first paragraph).

The official paper metrics (frames ``[2, n-2)``, ``crop_8x8``, tLP100...) live in
:mod:`official_metrics`.
"""
