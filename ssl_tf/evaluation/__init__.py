"""Evaluation of exported encoders: linear probe, kNN, few-shot, fine-tuning,
nearest-neighbour pictures, projector export and result reports.

`ssl_tf.evaluation.protocols.run` is the entry point used by the CLI.
"""

from ssl_tf.evaluation.features import (
    FeatureSet,
    embed_images,
    extract_features,
    load_features,
)
from ssl_tf.evaluation.fewshot import fewshot_eval, sample_episode
from ssl_tf.evaluation.finetune import FineTuneClassifier, finetune
from ssl_tf.evaluation.knn import (
    KNNMonitor,
    knn_accuracy,
    knn_classify,
    knn_scores,
)
from ssl_tf.evaluation.linear import (
    fit_linear_classifier,
    linear_probe,
    linear_probe_encoder,
    select_l2,
)
from ssl_tf.evaluation.metrics import accuracy_metrics, top_k_accuracy
from ssl_tf.evaluation.neighbors import (
    nearest_neighbors_embedding,
    nearest_neighbors_pixel,
    neighbors_report,
)
from ssl_tf.evaluation.options import PROTOCOLS
from ssl_tf.evaluation.projector import export_projector
from ssl_tf.evaluation.protocols import run
from ssl_tf.evaluation.report import (
    load_results,
    markdown_table,
    merge_reports,
    read_result,
    write_result,
)
from ssl_tf.evaluation.subsets import balanced_subset

__all__ = [
    "PROTOCOLS",
    "FeatureSet",
    "FineTuneClassifier",
    "KNNMonitor",
    "accuracy_metrics",
    "balanced_subset",
    "embed_images",
    "export_projector",
    "extract_features",
    "fewshot_eval",
    "finetune",
    "fit_linear_classifier",
    "knn_accuracy",
    "knn_classify",
    "knn_scores",
    "linear_probe",
    "linear_probe_encoder",
    "load_features",
    "load_results",
    "markdown_table",
    "merge_reports",
    "nearest_neighbors_embedding",
    "nearest_neighbors_pixel",
    "neighbors_report",
    "read_result",
    "run",
    "sample_episode",
    "select_l2",
    "top_k_accuracy",
    "write_result",
]
