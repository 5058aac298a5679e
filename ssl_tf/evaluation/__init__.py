"""Evaluation of exported encoders: linear probe, kNN, few-shot, fine-tuning,
nearest-neighbour pictures, projector export and result reports.

`ssl_tf.evaluation.protocols.run` is the entry point used by the CLI. Every
module of this package is imported here, so a protocol registers itself
(`base.register_protocol`) by being one file in it.
"""

from ssl_tf import registry
from ssl_tf.evaluation.base import (
    Context,
    ProtocolOptions,
    ProtocolResult,
    register_protocol,
    resolve_options,
    unregister_protocol,
)
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
    linear_probe,
    linear_probe_encoder,
    select_l2,
)
from ssl_tf.evaluation.linear_classifier import (
    LinearClassifier,
    fit_linear_classifier,
)
from ssl_tf.evaluation.metrics import accuracy_metrics, top_k_accuracy
from ssl_tf.evaluation.neighbors import (
    nearest_neighbors_embedding,
    nearest_neighbors_pixel,
    neighbors_report,
)
from ssl_tf.evaluation.projector import export_projector
from ssl_tf.evaluation.protocols import describe_protocols, run
from ssl_tf.evaluation.report import (
    load_results,
    markdown_table,
    merge_reports,
    read_result,
    result_path,
    write_result,
)
from ssl_tf.evaluation.subsets import balanced_subset


def protocol_names() -> list[str]:
    """The registered protocol names, sorted."""
    return registry.PROTOCOLS.names()


# Import every module of this package: each protocol registers itself.
# Modules already imported are left as they are, so the function
# `finetune` exported above keeps its name on the package.
registry.import_submodules(__name__, __path__)

__all__ = [
    "LinearClassifier",
    "Context",
    "FeatureSet",
    "FineTuneClassifier",
    "KNNMonitor",
    "ProtocolOptions",
    "ProtocolResult",
    "accuracy_metrics",
    "balanced_subset",
    "describe_protocols",
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
    "protocol_names",
    "read_result",
    "register_protocol",
    "resolve_options",
    "result_path",
    "run",
    "sample_episode",
    "select_l2",
    "top_k_accuracy",
    "unregister_protocol",
    "write_result",
]
