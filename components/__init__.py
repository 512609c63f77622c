import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras), see trainer_modules.
os.environ["TF_USE_LEGACY_KERAS"] = "1"


def __getattr__(name):
    # GateReport's TYPE_NAME is "components.GateReport"; loaded lazily so importing the
    # package stays cheap.
    if name == "GateReport":
        from components.gate import GateReport

        return GateReport
    raise AttributeError(f"module 'components' has no attribute {name!r}")
