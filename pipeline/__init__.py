import os
import warnings

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras), see trainer_modules.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# google-api-core warns once per imported module about Python 3.11's end of life.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
