"""The pipeline package. Importing it sets what TensorFlow reads when it loads, and keeps the
stack's own noise off a successful run's stderr; `set_verbosity(True)` shows it again."""

import logging
import os
import warnings

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras), see trainer_modules.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

# WARNING lines nobody running the pipeline can act on: tensorflow (deprecation notices from
# TFX and TFMA internals), apache_beam (python-snappy not installed), and absl, set through its
# flag below (TFX's "ArtifactQuery.property_predicate is not supported" per resolver query).
NOISY_LOGGERS = ("tensorflow", "apache_beam")
# Python warnings from libraries about themselves (google-auth, google-cloud-aiplatform and
# google-api-core FutureWarnings on versions; numpy's 0/0 inside TFMA's empty-slice rates).
NOISY_WARNINGS = (
    (FutureWarning, r"google\."),
    (RuntimeWarning, r"tensorflow_model_analysis\."),
)
_USER_TF_CPP_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")


def set_verbosity(verbose: bool) -> None:
    """Quiet (the default): TensorFlow's C++ log only on fatal errors (a CPU machine gets
    "Unable to register cuDNN factory" errors at every import), the noisy loggers at ERROR,
    the noisy warnings ignored. Verbose: C++ warnings and errors, every logger and warning
    as the libraries set them. The C++ level counts only before TensorFlow loads."""
    # absl's own verbosity flag, not its logger's level: TFX's Beam executors parse absl's
    # flags, which resets that level to the flag's default.
    from absl import flags
    from absl import logging as absl_logging

    flags.FLAGS.set_default("verbosity", absl_logging.WARNING if verbose else absl_logging.ERROR)
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if _USER_TF_CPP_LEVEL == "0" else "1"
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = _USER_TF_CPP_LEVEL or "3"
    for category, module in NOISY_WARNINGS:
        warnings.filterwarnings(
            "default" if verbose else "ignore", category=category, module=module
        )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)


set_verbosity(False)
