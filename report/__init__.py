"""The fairness report: evaluations read back from ML Metadata, charts and an HTML page."""

import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras); see docs/design.md.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
