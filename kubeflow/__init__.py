import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras), see trainer_modules.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
