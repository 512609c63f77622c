"""MinDiff and TFCO trainers on a small problem with a planted false-positive-rate gap."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_remediation import min_diff as library

from contract import TOKENS_KEY, identity_feature
from tests import synthetic as syn
from trainer_modules import augmentation, baseline, min_diff, tfco, tfco_compat
from trainer_modules.datasets import concat_inputs
from trainer_modules.groups import non_toxic_rows_by_group, remediated_groups
from trainer_modules.model import build_model
from trainer_modules.settings import SettingsError


def _train(module, **overrides):
    settings = syn.settings(**overrides)
    tf.keras.utils.set_random_seed(settings.seed)
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    train = syn.dataset(*syn.make_examples(4000, seed=0), settings.batch_size, settings.seed)
    extra = module.fit(model, train, settings, [])
    return syn.evaluate(model, *syn.make_examples(2000, seed=1)), extra


@pytest.fixture(scope="module")
def results():
    runs = {"baseline": (baseline, {}), "min_diff": (min_diff, {}), "tfco": (tfco, {})}
    # The controls: the same TFCO problem with constraints that cannot bind, MinDiff at weight 0.
    runs["tfco_control"] = (tfco, {"tfco_epsilon": 1.0})
    runs["min_diff_control"] = (min_diff, {"min_diff_weight": 0.0})
    return {name: _train(module, **overrides) for name, (module, overrides) in runs.items()}


def test_baseline_shows_the_planted_gap(results):
    metrics, _ = results["baseline"]
    assert metrics["gap_matched"] > 0.2 and metrics["auc"] > 0.9


@pytest.mark.parametrize("variant", ["min_diff", "tfco"])
def test_remediation_cuts_the_gap_at_the_operating_point(results, variant):
    base, _ = results["baseline"]
    metrics, extra = results[variant]
    assert metrics["gap_matched"] < base["gap_matched"] - 0.15, (variant, metrics, base)
    # Still a classifier, not a constant. The group token predicts toxicity by construction
    # here, so closing the gap costs AUC.
    assert metrics["auc"] > 0.6, (variant, metrics)
    # Only religion is tagged in this data, and it has hundreds of non-toxic rows.
    assert extra[f"{variant}_target_groups"] == ["religion"]


def test_min_diff_gap_differs_from_its_weight_0_control_by_more_than_noise(results):
    remediated, extra = results["min_diff"]
    control, control_extra = results["min_diff_control"]
    base, _ = results["baseline"]
    # The same step and streams without the MMD term train as the baseline does.
    assert abs(control["gap_matched"] - base["gap_matched"]) < 0.06, (control, base)
    assert control["gap_matched"] - remediated["gap_matched"] > 0.12, (remediated, control)
    assert set(control_extra["min_diff_loss"]) == {0.0}
    assert min(extra["min_diff_loss"]) > 0.0


def test_tfco_group_fpr_differs_from_the_control_by_more_than_noise(results):
    constrained, _ = results["tfco"]
    control, _ = results["tfco_control"]
    base, _ = results["baseline"]
    # ~180 non-toxic group rows in the evaluation data: a group FPR near 0.25 has a standard
    # error of about 0.03; the control stays within that of the baseline.
    assert abs(control["group_fpr_matched"] - base["group_fpr_matched"]) < 0.06
    assert control["group_fpr_matched"] - constrained["group_fpr_matched"] > 0.12


def test_tfco_constraints_bind_and_the_control_stays_slack(results):
    _, extra = results["tfco"]
    _, control = results["tfco_control"]
    names = extra["tfco_constraint_names"]
    group = names.index("FPR(religion) <= overall FPR + 0.01")
    assert extra["tfco_constraints"][0][group] > 0.1  # violated at first: something to do
    assert min(epoch[group] for epoch in extra["tfco_multipliers"]) > 0.1
    assert extra["tfco_constraints"][-1][group] < 0.05
    assert max(epoch[group] for epoch in control["tfco_constraints"]) < -0.3
    assert control["tfco_multipliers"][-1][group] == 0.0


def test_tfco_learns_a_threshold_that_holds_the_overall_fpr_in_its_band(results):
    for name in ("tfco", "tfco_control"):
        _, extra = results[name]
        thresholds = extra["tfco_threshold"]
        assert max(abs(t - 0.5) for t in thresholds) > 0.1, thresholds  # it starts at 0.5
        low, high = extra["tfco_constraints"][-1][:2]  # target 0.05 +- 0.01: slack below 0
        assert low < 0.03 and high < 0.03, extra["tfco_constraints"]


def _with_race(features, labels, clean_rows: int, toxic_rows: int):
    race = np.zeros(len(labels), np.int64)
    race[np.flatnonzero(labels < 0.5)[:clean_rows]] = 1
    race[np.flatnonzero(labels > 0.5)[:toxic_rows]] = 1
    features[identity_feature("race")] = race
    return features


def test_default_target_groups_are_the_groups_with_enough_non_toxic_training_rows():
    features, labels = syn.make_examples(400, seed=7)
    train = syn.dataset(_with_race(features, labels, 12, 40), labels, 64)
    counts = non_toxic_rows_by_group(train)
    religion = int(((features[identity_feature("religion")] > 0) & (labels < 0.5)).sum())
    assert counts == {"gender": 0, "sexual_orientation": 0, "religion": religion, "race": 12,
                      "disability": 0}  # fmt: skip
    assert religion >= 30
    # Toxic race rows do not count: 12 non-toxic ones are below the default minimum of 30.
    assert remediated_groups(train, syn.settings()) == ("religion",)
    lowered = syn.settings(target_group_min_rows=12)
    assert remediated_groups(train, lowered) == ("religion", "race")
    # --target-groups narrows the choice, even to a group below the minimum.
    assert remediated_groups(train, syn.settings(target_groups=("race",))) == ("race",)
    with pytest.raises(SettingsError, match=r"\['gender'\] have no non-toxic training"):
        remediated_groups(train, syn.settings(target_groups=("gender", "race")))
    with pytest.raises(SettingsError, match="no identity group has 1000 non-toxic"):
        remediated_groups(train, syn.settings(target_group_min_rows=1000))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tfco_fpr_band", 0.05, "tfco_fpr_band must be >= 0 and below target_fpr"),
        ("target_groups", ("martians",), r"unknown target group\(s\) \['martians'\]"),
        ("target_group_min_rows", 0, "target_group_min_rows must be at least 1"),
        ("tfco_threshold_learning_rate", 0.0, "tfco_threshold_learning_rate must be a finite"),
        ("tfco_constraint_holdout", 1.0, r"tfco_constraint_holdout must be in \[0, 1\)"),
    ],
)
def test_bad_remediation_settings_are_refused(field, value, message):
    with pytest.raises(SettingsError, match=message):
        syn.settings(**{field: value})


def _unbatched(n=40):
    features, labels = syn.make_examples(n, seed=5)
    features[identity_feature("sexual_orientation")] = (np.arange(n) % 3 == 0).astype(np.int64)
    return features, labels, tf.data.Dataset.from_tensor_slices((features, labels))


def test_min_diff_pools_hold_the_non_toxic_rows_of_the_right_groups():
    features, labels, examples = _unbatched()
    religion = features[identity_feature("religion")] > 0
    orientation = features[identity_feature("sexual_orientation")] > 0
    clean = labels < 0.5

    def expected(mask):
        return sorted(tuple(row) for row in features[TOKENS_KEY][mask].tolist())

    assert expected(clean & religion) and expected(clean & ~religion)
    # Gathered from the batches in one pass.
    for reference, others in (("all", ~religion), ("sexual_orientation", orientation)):
        pools = min_diff.min_diff_pools(examples.batch(7), ["religion"], reference)
        rows = [sorted(tuple(r) for r in pool[TOKENS_KEY].numpy().tolist()) for pool in pools]
        assert rows == [expected(clean & religion), expected(clean & others)]


def test_min_diff_without_nonsensitive_rows_says_which_flag_to_change():
    _, _, examples = _unbatched()
    with pytest.raises(ValueError, match="no nonsensitive rows .* --min-diff-reference"):
        min_diff.min_diff_pools(examples.batch(8), ["religion"], "disability")


def _min_diff_batches(settings):
    train = syn.dataset(*syn.make_examples(256, seed=2), 64)
    inputs, labels = next(iter(min_diff.main_batches(train)))
    sensitive, nonsensitive = next(iter(min_diff.group_batches(train, ("religion",), settings)))
    return inputs, labels, sensitive, nonsensitive


class _CountingModel(tf.keras.Model):
    """Delegates to a model and counts the calls made while a step is traced."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    @property
    def input(self):
        return self.inner.input

    def call(self, tokens, training=None):
        self.calls += 1
        return self.inner(tokens, training=training)


def test_min_diff_step_makes_one_forward_pass_over_the_batch_and_its_min_diff_rows():
    settings = syn.settings(min_diff_batch_size=8)
    counting = _CountingModel(build_model(syn.VOCAB, syn.MAX_TOKENS, settings))
    batch = _min_diff_batches(settings)
    inputs, labels, sensitive, nonsensitive = batch
    assert set(inputs) == set(sensitive) == set(nonsensitive) == {TOKENS_KEY}
    rows = [len(inputs[TOKENS_KEY]), len(labels), len(sensitive[TOKENS_KEY]),
            len(nonsensitive[TOKENS_KEY])]  # fmt: skip
    assert rows == [64, 64, 8, 8]
    step = min_diff.MinDiffStep(counting, settings)
    before = [w.numpy().copy() for w in counting.trainable_weights]
    for _ in range(3):
        step(*batch)
    # Python runs only while tracing: one trace, one call of the model in it.
    assert counting.calls == 1
    assert step.step.experimental_get_tracing_count() == 1
    after = [w.numpy() for w in counting.trainable_weights]
    assert any(not np.allclose(w, v) for w, v in zip(before, after, strict=True))


@pytest.mark.parametrize("kernel", ["gaussian", "laplacian"])
def test_min_diff_term_is_the_library_mmd_weighted_as_min_diff_model_weights_it(kernel):
    # No dropout: the step's training-mode predictions equal the inference-mode ones below.
    settings = syn.settings(min_diff_batch_size=8, dropout=0.0, min_diff_kernel=kernel)
    tf.keras.utils.set_random_seed(settings.seed)
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    # Untrained scores sit near 0.5 for every row; spread them so the MMD is far from 0.
    logits = model.get_layer("logits")
    kernel_weights, bias = logits.get_weights()
    logits.set_weights([kernel_weights * 30, bias])
    tokens, labels, sensitive, nonsensitive = _min_diff_batches(settings)
    group_rows = concat_inputs(sensitive, nonsensitive)
    membership = tf.constant([[1.0]] * 8 + [[0.0]] * 8)
    predictions = model(group_rows)
    kernel_class = min_diff.KERNELS[kernel]
    mmd = float(library.losses.MMDLoss(kernel_class())(membership, predictions))
    wrapped = library.keras.MinDiffModel(
        model, library.losses.MMDLoss(kernel_class()), settings.min_diff_weight
    )
    wrapped_term = float(wrapped.compute_min_diff_loss((group_rows, membership), training=True))
    cross_entropy = float(tf.keras.losses.BinaryCrossentropy()(labels, model(tokens)))

    step_cross_entropy, term = min_diff.MinDiffStep(model, settings)(
        tokens, labels, sensitive, nonsensitive
    )
    assert mmd > 1e-3
    # The MMD is a difference of kernel means: float32 rounding (one pass over 80 rows here,
    # 16 there) moves its last digits.
    assert float(term) == pytest.approx(settings.min_diff_weight * mmd, rel=1e-3)
    assert float(term) == pytest.approx(wrapped_term, rel=1e-3)
    assert float(step_cross_entropy) == pytest.approx(cross_entropy, rel=1e-5)


def test_tfco_group_stream_draws_only_non_toxic_group_examples():
    features, labels, examples = _unbatched()
    groups = ("religion", "sexual_orientation")
    tags = np.stack([features[identity_feature(g)] > 0 for g in groups], 1)
    wanted = (labels < 0.5) & tags.any(1)
    expected = {tuple(row): tuple(tag) for row, tag in zip(features[TOKENS_KEY][wanted],
                                                           tags[wanted], strict=True)}  # fmt: skip
    stream = tfco.group_stream(examples, groups, 8, seed=0)
    for inputs, batch_tags in stream.take(int(wanted.sum())):
        tokens = inputs[TOKENS_KEY]
        assert tokens.shape == (8, syn.MAX_TOKENS)
        for row, tag in zip(tokens.numpy(), batch_tags.numpy(), strict=True):
            assert expected[tuple(row)] == tuple(tag)


def _small_problem(**overrides):
    settings = syn.settings(**overrides)
    model = build_model(syn.VOCAB, syn.MAX_TOKENS, settings)
    features, labels = syn.make_examples(256, seed=2)
    train = syn.dataset(features, labels, 64)
    problem = tfco.ConstrainedProblem(model, settings, ("religion",))
    main = next(iter(tfco.main_stream(train, ("religion",))))
    negatives = next(iter(tfco.group_stream(train.unbatch(), ("religion",), 16, seed=0)))
    return model, problem, (*main, *negatives)


def test_tfco_step_that_fails_to_trace_runs_eagerly_with_fresh_optimizers(capsys):
    model, problem, batch = _small_problem()
    eager_step = problem.step

    def graph_only_failure(*args):
        if not tf.executing_eagerly():
            raise TypeError("cannot trace this")
        return eager_step(*args)

    problem.step = graph_only_failure
    stepper = tfco.Stepper(problem)
    before = [o for o, _ in problem.optimizers]
    weights = [w.numpy().copy() for w in model.trainable_weights]
    assert stepper(*batch) is None
    stepper(*batch)
    assert "the step did not trace (TypeError); running it eagerly" in capsys.readouterr().out
    assert not {id(o) for o in before} & {id(o) for o, _ in problem.optimizers}
    after = [w.numpy() for w in model.trainable_weights]
    assert any(not np.allclose(w, v) for w, v in zip(weights, after, strict=True))


def test_tfco_at_an_explicit_decision_threshold_keeps_it_and_has_no_band():
    _, problem, batch = _small_problem(decision_threshold=0.3)
    tfco.Stepper(problem)(*batch)
    assert problem.names == ["FPR(religion) <= overall FPR + 0.01"]
    assert problem.epoch_summary()["threshold"] == pytest.approx(0.3)


def test_tfco_held_out_rows_are_a_stable_hash_share_of_the_rows():
    tokens = tf.constant(np.random.default_rng(0).integers(1, syn.VOCAB, (3000, syn.MAX_TOKENS)))
    assert not tfco.held_out_rows(tokens, 0.0).numpy().any()
    held = tfco.held_out_rows(tokens, 1 / 3).numpy()
    assert 0.3 < held.mean() < 0.37
    # A row's side depends on its tokens alone, not on the batch it comes in.
    assert (tfco.held_out_rows(tokens[::-1], 1 / 3).numpy() == held[::-1]).all()


def test_tfco_with_a_held_out_constraint_set_moves_the_multipliers_by_the_held_out_rates():
    summaries = {}
    for holdout in (0.0, 0.5):
        tf.keras.utils.set_random_seed(0)
        _, problem, batch = _small_problem(tfco_constraint_holdout=holdout)
        tfco.Stepper(problem)(*batch)
        summaries[holdout] = summary = problem.epoch_summary()
    # The same model and rows: the constraint values differ only by the rows they are read on.
    assert summaries[0.0]["constraints"] != summaries[0.5]["constraints"]
    # One SGD step from zero: each multiplier is the learning rate times its constraint value on
    # the held-out rows (projected to >= 0), the value the summary records.
    rate = problem.settings.tfco_multiplier_learning_rate
    expected = [max(0.0, rate * value) for value in summary["constraints"]]
    assert summary["multipliers"] == pytest.approx(expected, abs=1e-4)


def test_tfco_can_read_its_rates_on_the_real_rows_only():
    features, labels, examples = _unbatched()
    group = ("sexual_orientation",)
    # Augmentation rows: token 7 only, all tagged with the group (and non-toxic, as every one).
    rows = {k: tf.ones([5], tf.int64) for k in features if k != TOKENS_KEY}
    rows[TOKENS_KEY] = tf.fill([5, syn.MAX_TOKENS], tf.constant(7, tf.int64))
    mixed = augmentation.augment(examples.batch(8), rows, batch_size=64, seed=0)
    inputs, _, _, real = next(iter(tfco.main_stream(mixed, group)))
    tokens = inputs[TOKENS_KEY]
    assert (real.numpy() == (tokens.numpy()[:, 0] != 7)).all() and (~real.numpy()).sum() == 5
    for real_only in (False, True):
        stream = tfco.group_stream(mixed.unbatch(), group, 200, seed=0, real_only=real_only)
        drawn = next(iter(stream))[0][TOKENS_KEY].numpy()[:, 0]
        assert (drawn == 7).any() != real_only
    assert bool(tf.reduce_all(tfco.real_rows({TOKENS_KEY: tokens})))  # without augmentation


def test_tfco_import_binds_its_optimizer_base_to_the_legacy_one():
    tfco_module = tfco_compat.import_tfco()
    assert issubclass(tfco_module.ProxyLagrangianOptimizerV2, tf.keras.optimizers.legacy.Optimizer)
    assert tf.keras.optimizers.Optimizer is not tf.keras.optimizers.legacy.Optimizer
