"""Trainer modules and Transform preprocessing; referenced by dotted path from TFX."""

import os

# tf.keras must be Keras 2 (tf-keras) for TFMA, MinDiff and TFCO; TensorFlow reads this at
# import, so it is set before any module of this package imports TensorFlow.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
