"""Evaluation: a per-dataset classifier (trained, cached), FID/KID/score via torchmetrics, 2-D modes."""

from distgan.metrics.evaluate import Evaluator, make_evaluator
from distgan.metrics.image import image_metrics, real_fid_floor
from distgan.metrics.mixtures import mixture_metrics

__all__ = ["Evaluator", "image_metrics", "make_evaluator", "mixture_metrics", "real_fid_floor"]
