"""What the runners share: CLI flags and Settings, progress lines, the ML Metadata reader."""

import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras); see docs/design.md.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
