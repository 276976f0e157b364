"""Metrics: FID, KID and CLIP score over generated batches (no Jupyter needed)."""
from .clip_score import ClipScorer, load_open_clip
from .features import (ClassifierFeatures, ClipImageFeatures, FeatureExtractor, InceptionFeatures, extract_features,
                       extract_stats, prepare_images)
from .fid import FidCurve, fid_from_features, fid_for_model, fid_from_stats, fid_vs_n, generated_features
from .frechet import frechet_distance
from .kid import KID, kernel_inception_distance
from .stats import RunningStats, cached_reference_stats

__all__ = ["frechet_distance", "RunningStats", "cached_reference_stats", "FeatureExtractor", "ClassifierFeatures",
           "ClipImageFeatures", "InceptionFeatures", "extract_features", "extract_stats", "prepare_images",
           "fid_for_model", "fid_from_stats", "fid_from_features", "fid_vs_n", "FidCurve", "generated_features", "KID",
           "kernel_inception_distance", "ClipScorer", "load_open_clip"]
