"""The `batch-size` study: SimCLR and MoCo from batch 64 to 512."""

from ssl_tf import methods, studies
from ssl_tf.studies import batch_size
from ssl_tf.testing import TestCase
from ssl_tf.testing.studies import plot_size


class BatchSizeGridTest(TestCase):
    def test_moco_queue_stays_a_multiple_of_the_batch(self):
        # cifar10-quick keeps MoCo's 4096 keys: every batch divides it.
        self.assertEqual(batch_size.queue_size("cifar10-quick", 512), 4096)
        # 4096 / 384 = 10.67: rounded up to 11 batches.
        self.assertEqual(batch_size.queue_size("cifar10-quick", 384), 4224)

    def test_every_point_validates(self):
        options = studies.StudyOptions(results_dir="/r")
        study = studies.get_study("batch-size")
        grid = study.points(options)
        configs = [studies.point_config(study, p, options) for p in grid]
        self.assertEqual(
            [(c.method, c.train.batch_size) for c in configs[:4]],
            [("simclr", 64), ("moco", 64), ("simclr", 128), ("moco", 128)],
        )
        self.assertEqual(len(configs), 8)
        for config in configs:
            if config.method == "moco":
                queue = methods.make_method_config(
                    "moco", config.method_options
                ).queue_size
                self.assertEqual(queue, 4096)

    def test_plot_of_given_rows(self):
        rows = [
            {"method": m, "batch_size": b, "linear_top1": 0.5, "knn_top1": 0.4}
            for m in ("simclr", "moco")
            for b in (64, 128)
        ]
        size = plot_size(batch_size.plot, rows, self.get_temp_dir())
        self.assertEqual(size, (800, 400))
