"""Offline quality metrics: a Frechet distance on a domain classifier's features, its accuracy, L1."""
from .classifier import DomainClassifier, accuracy, load_or_train_classifier, train_classifier
from .frechet import feature_stats, frechet_distance
from .score import METRICS, score

__all__ = ["METRICS", "DomainClassifier", "accuracy", "feature_stats", "frechet_distance",
           "load_or_train_classifier", "score", "train_classifier"]
