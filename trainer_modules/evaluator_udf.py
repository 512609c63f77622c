"""The Evaluator's user module in a run with the sentence encoder.

Every model of such a run carries Transform's graph, and with it tensorflow_text's tokenizer
ops; TFX's Evaluator loads the models in its own executor (a container of its own on Kubeflow),
which imports this module to look for `custom_eval_shared_model` and so registers the ops
before TFMA loads a model.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from contract import load_text_ops


def custom_eval_shared_model(eval_saved_model_path, model_name, eval_config, **kwargs):
    load_text_ops()
    return tfma.default_eval_shared_model(
        eval_saved_model_path=eval_saved_model_path,
        model_name=model_name,
        eval_config=eval_config,
        **kwargs,
    )
