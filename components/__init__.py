import os

# TensorFlow reads this at import: tf.keras must be Keras 2 (tf-keras), see trainer_modules.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

# Custom artifact types whose TYPE_NAME is "components.<Class>": the Kubeflow container
# entrypoint imports them by that path (tensorflow/tfx#6102). Loaded lazily so importing the
# package stays cheap.
_ARTIFACTS = {
    "GateReport": "components.gate",
    "SelectionReport": "components.selector",
    "ChampionBlessing": "components.gate",
    "ChallengeResult": "components.challenge",
}


def __getattr__(name):
    if name in _ARTIFACTS:
        import importlib

        return getattr(importlib.import_module(_ARTIFACTS[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
