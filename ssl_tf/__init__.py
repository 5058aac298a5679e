"""ssl_tf: self-supervised learning of image representations.

Keras 3 / TensorFlow: pretrain an encoder on unlabeled images (SimCLR, MoCo,
rotation prediction, triplet loss, or a supervised baseline), export it as a
SavedModel, and judge it by linear probe, fine-tuning, kNN and few-shot.
"""

import os

# TensorFlow's C++ start-up chatter hides our own messages; users can still
# set the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
