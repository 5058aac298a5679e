"""Linear probe and kNN of any feature model, the labelled images read once.

Every point of a study is scored the same way: its labelled train split
(`data.split`) and test split (`data.eval_split`) are embedded by a Keras
model in inference mode, then `ssl_tf.evaluation.linear_probe` and the
weighted kNN of the `knn` protocol (its default `k` and temperature) score
the features. The model may be the encoder or the encoder followed by part
of its projection head (`ssl_tf.studies.projection_head`).
"""

from __future__ import annotations

import numpy as np

from ssl_tf import data as data_lib
from ssl_tf.evaluation import features, knn, linear


class Evaluation:
    """Scores feature models; decodes each labelled split only once.

    Args:
        batch_size: images per model call.
        max_iter: the most L-BFGS iterations of each linear-probe fit.
    """

    def __init__(self, batch_size: int = 256, max_iter: int = 300):
        self.batch_size = batch_size
        self.max_iter = max_iter
        self._images = {}

    def images(self, data_config, split: str):
        """`(uint8 images, int64 labels)` of `split`, cached in memory."""
        key = (data_config, split)
        if key not in self._images:
            source, _ = data_lib.load_source(data_config, split)
            self._images[key] = features.source_arrays(source)
        return self._images[key]

    def embed(self, model, data_config):
        """`(train, test)` features of `model` for the splits of `score`.

        Args:
            model: a Keras model taking `[0, 1]` float images.
            data_config: the `DataConfig` whose `split` trains the probe
                (and is the kNN memory) and whose `eval_split` is scored.
        """
        return tuple(
            features.embed_images(
                model, self.images(data_config, split)[0], self.batch_size
            )
            for split in (data_config.split, data_config.eval_split)
        )

    def score(self, model, data_config) -> dict:
        """`{"linear_top1", "knn_top1"}` of `model`'s features (`embed`)."""
        return self.score_features(*self.embed(model, data_config), data_config)

    def score_features(self, train_x, test_x, data_config) -> dict:
        """`{"linear_top1", "knn_top1"}` of features of the `embed` splits."""
        train_labels = self.images(data_config, data_config.split)[1]
        test_labels = self.images(data_config, data_config.eval_split)[1]
        classes = int(max(train_labels.max(), test_labels.max())) + 1
        probe = linear.linear_probe(
            *(train_x, train_labels, test_x, test_labels),
            num_classes=classes,
            max_iter=self.max_iter,
        )
        options = knn.KNNOptions()
        neighbours = knn.knn_accuracy(
            *(train_x, train_labels, test_x, test_labels),
            num_classes=classes,
            k=options.k,
            temperature=options.temperature,
        )
        return {"linear_top1": probe["top1"], "knn_top1": float(neighbours)}


def measure_encoder(point, config, result, evaluation, options) -> list[dict]:
    """The default `Study.measure`: one row, the pretrained encoder."""
    del point, options  # every point is measured alike
    return [evaluation.score(result.model.encoder, config.data)]


def final_loss(result) -> float | None:
    """The last epoch's loss of a `PretrainResult` (`None` if none ran)."""
    losses = (result.history or {}).get("loss") if result else None
    return float(np.asarray(losses[-1])) if losses else None
