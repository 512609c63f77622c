"""Data tools: TFRecord writing, the embedded data, CSV/TSV importers and the input pre-flight."""

import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras); see docs/design.md.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
