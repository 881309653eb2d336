"""Datasets: LMDB training clips (BD unpaired, BI paired) and test folders."""
