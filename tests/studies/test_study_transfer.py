"""The `transfer` study: CBR and ResNet-18 fine-tuned on a target."""

from ssl_tf import studies
from ssl_tf.config import ConfigError
from ssl_tf.studies import transfer
from ssl_tf.testing import TestCase
from ssl_tf.testing.studies import plot_size


class TransferGridTest(TestCase):
    def setUp(self):
        super().setUp()
        self.options = studies.StudyOptions(
            results_dir="/r", target_source="folder", target="/data/xray"
        )
        self.grid = transfer.points(self.options)

    def test_every_encoder_gets_every_start(self):
        self.assertLen(self.grid, 25)
        self.assertEqual(
            [p.name for p in self.grid[:5]],
            [
                "cbr_tiny-random",
                "cbr_tiny-supervised-cifar10",
                "cbr_tiny-simclr-cifar10",
                "cbr_tiny-simclr-target",
                "cbr_tiny-simclr-cifar10+target",
            ],
        )
        self.assertFalse(self.grid[0].pretrain)
        self.assertEqual(self.grid[1].overrides["method"], "supervised")

    def test_target_rows_pretrain_on_the_target(self):
        target = {"data.source": "folder", "data.name": "/data/xray"}
        for point in self.grid[3:5]:
            self.assertEqual({k: point.overrides[k] for k in target}, target)
        self.assertNotIn("data.name", self.grid[2].overrides)

    def test_continued_row_starts_from_the_cifar10_export(self):
        self.assertEqual(
            self.grid[4].overrides["encoder.init_from"],
            "/r/transfer/saved/transfer-cbr_tiny-simclr-cifar10-e1",
        )

    def test_each_finetune_sees_the_same_number_of_images(self):
        config = studies.point_config(
            studies.get_study("transfer"), self.grid[0], self.options
        )
        epochs = [
            transfer.finetune_options(config, None, f, 2)["epochs"]
            for f in transfer.FRACTIONS
        ]
        self.assertEqual(epochs, [200, 20, 2])
        random_init = transfer.finetune_options(config, None, 1.0, 1)
        self.assertTrue(random_init["random_init"])
        self.assertEqual(random_init["encoder"]["name"], "cbr_tiny")

    def test_a_target_for_another_study_is_refused(self):
        options = studies.StudyOptions(target="/data/xray")
        with self.assertRaisesRegex(ConfigError, "has no target dataset"):
            studies.run_study("temperature", options)

    def test_plot_of_given_rows(self):
        rows = [
            {
                "encoder": e,
                "init": i,
                "label_fraction": f,
                "finetune_top1": 0.5,
            }
            for e in ("cbr_tiny", "resnet18")
            for i in ("random", "simclr-cifar10")
            for f in transfer.FRACTIONS
        ]
        size = plot_size(transfer.plot, rows, self.get_temp_dir())
        self.assertEqual(size, (800, 400))
