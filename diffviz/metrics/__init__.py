"""Metrics: FID, KID and CLIP score over generated batches (no Jupyter needed)."""
from .clip_score import ClipScorer, load_open_clip
from .features import (ClassifierFeatures, ClipImageFeatures, FeatureExtractor, InceptionFeatures, cached_reference_stats,
                       extract_features, extract_stats, prepare_images)
from .fid import (FidCurve, FidReport, domain_extractor, fid_for_model, fid_from_features, fid_from_stats, fid_vs_n,
                  generated_features, model_fid)
from .frechet import frechet_distance
from .kid import KID, feature_scale, kernel_inception_distance
from .projection import ellipse_points, gaussian_outline, pca_2d
from .stats import RunningStats, SingularCovarianceWarning

__all__ = ["frechet_distance", "RunningStats", "cached_reference_stats", "FeatureExtractor", "ClassifierFeatures",
           "ClipImageFeatures", "InceptionFeatures", "extract_features", "extract_stats", "prepare_images",
           "fid_for_model", "fid_from_stats", "fid_from_features", "fid_vs_n", "FidCurve", "generated_features", "KID",
           "kernel_inception_distance", "feature_scale", "model_fid", "FidReport", "domain_extractor", "pca_2d",
           "gaussian_outline", "ellipse_points", "SingularCovarianceWarning", "ClipScorer", "load_open_clip"]
