"""The official TecoGAN metrics (PSNR, SSIM, LPIPS, tOF, tLP100) as reported in papers.

Entry points: ``evaluate.py`` (Vid4/ToS3 results of one model) and ``metrics.py`` (any list
of result/target sequence folders).  The procedure itself is in :mod:`official_metrics.procedure`.
"""

# the metrics of the procedure, in report order: spatial ones per frame, temporal ones per frame pair
SPATIAL = ("PSNR", "SSIM", "LPIPS")
TEMPORAL = ("tOF", "tLP100")
METRICS = SPATIAL + TEMPORAL
