"""The sentence encoder's candidates: their names, their bases, Transform's switch, and the
trainers on a model that reads the encoding beside its tokens."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from contract import ENCODING_KEY, TOKENS_KEY
from pipeline import config
from pipeline.candidates import Candidate, candidates_from_names
from pipeline.pipeline import _training_order
from tests import synthetic as syn
from trainer_modules import min_diff, tfco
from trainer_modules.datasets import inputs_of
from trainer_modules.model import build_model
from trainer_modules.settings import NO_ENCODER, SENTENCE_ENCODER

WIDTH = 6


@pytest.mark.parametrize(
    ("name", "trainer", "model", "base"),
    [
        ("encoder", "baseline", "encoder", "baseline"),
        ("encoder_tfco", "tfco", "encoder_tfco", "encoder"),
        ("encoder_min_diff", "min_diff", "encoder_min_diff", "encoder"),
        ("encoder_group_thresholds", "baseline", "encoder", "encoder"),
        ("encoder_tfco_group_thresholds", "tfco", "encoder_tfco", "encoder_tfco"),
        ("tfco", "tfco", "tfco", "baseline"),
    ],
)
def test_a_candidate_name_gives_its_trainer_its_model_and_its_base(name, trainer, model, base):
    candidate = Candidate(name)
    assert (candidate.trainer, candidate.model, candidate.base) == (trainer, model, base)
    assert candidate.uses_encoder == name.startswith("encoder")


def test_clp_on_the_encoder_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match="unknown candidate 'encoder_clp'; choose from .*encoder_tfco"
    ):
        Candidate("encoder_clp")


def test_every_base_is_trained_first():
    order = [c.name for c in _training_order(candidates_from_names(["encoder_tfco"]))]
    assert order == ["baseline", "encoder", "encoder_tfco"]


def test_transform_runs_the_encoder_only_for_a_candidate_that_reads_it():
    plain = config.Settings()
    assert plain.transform_config()["sentence_encoder"] == NO_ENCODER
    with_encoder = config.Settings(candidates=candidates_from_names(["tfco", "encoder"]))
    assert with_encoder.transform_config()["sentence_encoder"] == SENTENCE_ENCODER


def _examples(n: int, seed: int):
    """The synthetic problem plus an encoding that carries the label for half of the rows."""
    features, labels = syn.make_examples(n, seed)
    rng = np.random.default_rng(seed)
    encoding = rng.normal(0, 1, (n, WIDTH)).astype(np.float32)
    informative = rng.random(n) < 0.5
    encoding[:, 0] += np.where(informative, 3.0 * (labels - 0.5), 0.0)
    return {**features, ENCODING_KEY: encoding}, labels


def test_the_model_reads_the_encoding_beside_the_tokens():
    settings = syn.settings()
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings, encoding_width=WIDTH)
    assert set(model.input) == {TOKENS_KEY, ENCODING_KEY}
    features, _ = _examples(64, seed=1)
    inputs = inputs_of(features)
    moved = {**inputs, ENCODING_KEY: inputs[ENCODING_KEY] + 1.0}
    assert not np.allclose(model(inputs).numpy(), model(moved).numpy())
    # A token-only model takes only its tokens from the same features.
    plain = build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    assert set(plain.input) == {TOKENS_KEY}


@pytest.mark.parametrize("trainer", ["min_diff", "tfco"])
def test_remediation_trains_a_model_that_reads_the_encoding(trainer):
    """Both hand-written training steps carry the encoding through their streams: the model
    learns what only the encoding says (the encoding alone separates the informative rows)."""
    settings = syn.settings(epochs=3)
    tf.keras.utils.set_random_seed(settings.seed)
    features, labels = _examples(600, seed=2)
    train = syn.dataset(features, labels, 64)
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings, encoding_width=WIDTH)
    module = {"min_diff": min_diff, "tfco": tfco}[trainer]
    module.fit(model, train, settings, [])
    test, test_labels = _examples(400, seed=3)
    inputs = inputs_of(test)
    scores = model(inputs).numpy().reshape(-1)
    # The encoding's signal: swapping the encodings between rows must move the scores.
    swapped = {**inputs, ENCODING_KEY: inputs[ENCODING_KEY][::-1]}
    moved = np.abs(model(swapped).numpy().reshape(-1) - scores)
    assert moved.mean() > 0.02
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test_labels, scores) > 0.8


def _run_args(*argv):
    import argparse

    from runners import commands

    parser = argparse.ArgumentParser()
    commands.add_run_arguments(parser)
    return commands, parser.parse_args(list(argv))


def test_the_encoder_flag_reaches_transform_when_a_candidate_reads_it(tmp_path):
    from trainer_modules import sentence_encoder as se

    folder = se.write_folder(se.random_weights(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"]),
                             str(tmp_path / "enc"))  # fmt: skip
    commands, args = _run_args("--candidates", "encoder", "--sentence-encoder", folder,
                               "--identity-augmentation", "none")  # fmt: skip
    settings = commands.settings_from_args(args)
    assert settings.transform_config()["sentence_encoder"] == folder
    # Without an encoder candidate, the folder is not even read.
    commands, args = _run_args("--sentence-encoder", str(tmp_path / "nowhere"),
                               "--identity-augmentation", "none")  # fmt: skip
    assert commands.settings_from_args(args).transform_config()["sentence_encoder"] == NO_ENCODER


def test_a_bad_encoder_flag_stops_the_run_before_anything_runs(tmp_path):
    commands, args = _run_args("--candidates", "encoder", "--sentence-encoder", str(tmp_path))
    with pytest.raises(SystemExit, match="no config.json, vocab.txt, model.safetensors there"):
        commands.sentence_encoder(args)
    commands, args = _run_args("--candidates", "encoder", "--beam-workers", "2")
    with pytest.raises(SystemExit, match="need --beam-workers 1"):
        commands.sentence_encoder(args)


def test_the_compiled_kubeflow_pipeline_carries_the_encoder(tmp_path):
    import json

    from kubeflow import runner
    from tests.test_kubeflow import compile_args, parameter, written_spec

    assert runner.main(compile_args(tmp_path, "encoder_tfco")) == 0
    tasks = written_spec(tmp_path).root.dag.tasks
    transform = json.loads(parameter(tasks["Transform"], "custom_config"))
    assert transform["sentence_encoder"] == SENTENCE_ENCODER
    trainer = json.loads(parameter(tasks["Trainer.encoder_tfco"], "custom_config"))
    assert trainer["use_sentence_encoding"] is True
    evaluators = [name for name in tasks if name.startswith("Evaluator.")]
    assert sorted(evaluators) == [
        "Evaluator.baseline",
        "Evaluator.encoder",
        "Evaluator.encoder_tfco",
    ]
    for name in evaluators:
        assert parameter(tasks[name], "module_path") == config.EVALUATOR_UDF


def test_the_evaluator_registers_the_tokenizer_ops_by_importing_its_module():
    """As TFX's Evaluator executor does in a process of its own (a container on Kubeflow)."""
    import subprocess
    import sys

    probe = (
        "from tensorflow.python.framework import op_def_registry as r\n"
        "before = r.get('FastBertNormalize') is not None\n"
        "from tfx.components.util import udf_utils\n"
        f"fn = udf_utils.try_get_fn({{'module_path': {config.EVALUATOR_UDF!r}}}, "
        "'custom_eval_shared_model')\n"
        "print(before, fn is not None, r.get('FastBertNormalize') is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.stdout.split() == ["False", "True", "True"], done.stderr[-2000:]
