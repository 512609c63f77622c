"""Command-line pieces both runners share: flag types, the gate and training flags, and the
Settings they make, so the local and Kubeflow runners take the same names and defaults."""

import argparse
import dataclasses
import sys

from components.policy import GatePolicy
from contract import IDENTITY_GROUPS
from pipeline import candidates, config
from trainer_modules.settings import CLP_OOV, CLP_PAIRS, TFCO_CONSTRAINT_ROWS


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def open_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {value}")
    return value


def identity_groups(text: str) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    choices = ", ".join(IDENTITY_GROUPS)
    if not groups:
        raise argparse.ArgumentTypeError(
            f"the list is empty ({text!r}); name one or more of {choices}, comma-separated"
        )
    unknown = sorted(set(groups) - set(IDENTITY_GROUPS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown group(s) {unknown}; choose from {choices}")
    return groups


def candidate_names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    try:
        candidates.candidates_from_names(names)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return names


def _add_to_group(group, *names, **kwargs):
    return group.add_argument(*names, **kwargs)


def add_gate_and_training_arguments(parser: argparse.ArgumentParser, add=_add_to_group) -> None:
    """The gate and training flags; `add(group, *names, **kwargs)` adds one (a runner may
    wrap it to record the actions). Flag tables: long, but one flag after another."""
    defaults = config.Settings()
    _add_candidate_arguments(parser, add, defaults.training)
    _add_gate_arguments(parser, add, defaults.gate)
    _add_training_arguments(parser, add, defaults.training)
    _add_remediation_arguments(parser, add, defaults.training)


def _add_candidate_arguments(parser, add, training) -> None:
    c = parser.add_argument_group("candidates (docs/selection.md)")
    models = {encoder: [m for m, (_, e) in candidates.MODELS.items() if e == encoder]
              for encoder in (False, True)}  # fmt: skip
    add(
        c,
        "--candidates",
        type=candidate_names,
        default=candidates.DEFAULT_CANDIDATES,
        help="comma-separated models to train, judge and select from: trainers "
        f"({', '.join(models[False])}), the sentence encoder's ({', '.join(models[True])}; "
        f"docs/sentence_encoder.md), each optionally with per-group thresholds "
        f"(NAME{candidates.POSTPROCESSED}, docs/postprocessing.md); default: "
        f"{','.join(candidates.DEFAULT_CANDIDATES)}",
    )

    o = parser.add_argument_group("operating point (docs/operating_point.md)")
    add(
        o,
        "--target-fpr",
        type=open_fraction,
        default=training.target_fpr,
        help="the decision threshold is where the overall FPR on validation equals this",
    )
    add(
        o,
        "--decision-threshold",
        type=open_fraction,
        default=None,
        help="an explicit decision threshold instead of the one at --target-fpr",
    )


def _add_gate_arguments(parser, add, gate) -> None:
    g = parser.add_argument_group("gate, judged at each model's operating point "
                                  "(defaults in components/policy.py)")  # fmt: skip
    add(
        g,
        "--max-group-fpr",
        type=fraction,
        default=gate.max_group_fpr,
        help="upper bound on each judged group's false-positive rate",
    )
    add(
        g,
        "--max-fpr-gap",
        type=fraction,
        default=gate.max_fpr_gap,
        help="upper bound on a group's FPR minus the overall FPR",
    )
    add(
        g,
        "--max-fnr-gap",
        type=fraction,
        default=gate.max_fnr_gap,
        help="upper bound on a group's FNR minus the overall FNR",
    )
    add(g, "--min-auc", type=fraction, default=gate.min_auc, help="floor on overall AUC")
    add(
        g,
        "--min-tpr",
        type=fraction,
        default=gate.min_tpr,
        help="floor on overall recall (TPR) at the decision threshold",
    )
    add(
        g,
        "--max-auc-drop",
        type=fraction,
        default=gate.max_auc_drop,
        help="largest AUC loss against the last blessed model",
    )
    add(
        g,
        "--max-tpr-drop",
        type=fraction,
        default=gate.max_tpr_drop,
        help="largest recall loss against the last blessed model",
    )
    add(
        g,
        "--max-group-fpr-increase",
        type=fraction,
        default=gate.max_group_fpr_increase,
        help="largest rise of a group's FPR against the last blessed model",
    )
    add(
        g,
        "--min-slice-size",
        type=positive_int,
        default=gate.min_slice_size,
        help="rows a group's rate must stand on to be judged (non-toxic for FPR, toxic for FNR)",
    )
    add(
        g,
        "--gate-groups",
        type=identity_groups,
        default=gate.groups,
        help="comma-separated identity groups the gate judges",
    )
    for kind, what in (
        ("subgroup", "subgroup AUC (on the group's rows)"),
        ("bpsn", "BPSN AUC (toxic rows outside the group against its non-toxic rows)"),
        ("bnsp", "BNSP AUC (non-toxic rows outside the group against its toxic rows)"),
    ):
        add(
            g,
            f"--min-{kind}-auc",
            type=fraction,
            default=getattr(gate, f"min_{kind}_auc"),
            help=f"floor on each judged group's {what}; threshold-free (docs/bias_auc.md); "
            "off unless given",
        )
    add(
        g,
        "--max-suite-group-fpr",
        type=fraction,
        default=gate.max_suite_group_fpr,
        help="upper bound on each group's FPR on the challenge suite's non-toxic rows "
        "(docs/certificate.md)",
    )
    add(
        g,
        "--max-suite-term-fpr",
        type=fraction,
        default=gate.max_suite_term_fpr,
        help="upper bound on each madlibs identity term's FPR on the challenge suite",
    )
    add(
        g,
        "--max-flip-rate",
        type=fraction,
        default=gate.max_flip_rate,
        help="upper bound on the share of decisions that change when identity terms are swapped",
    )
    add(
        g,
        "--min-suite-recall",
        type=fraction,
        default=gate.min_suite_recall,
        help="floor on recall over the functional suite's toxic statements",
    )
    add(
        g,
        "--max-suite-fnr-gap",
        type=fraction,
        default=gate.max_suite_fnr_gap,
        help="upper bound on a group's FNR minus the overall FNR on the madlibs toxic templates",
    )
    add(
        g,
        "--allow-harm",
        action="store_true",
        help="do not refuse a candidate that raises a group's FPR above its base model's "
        "beyond noise (the do-no-harm check is on by default)",
    )
    add(
        g,
        "--min-bias-score",
        type=fraction,
        default=gate.min_bias_score,
        help="floor on the Jigsaw bias score, 0.25 x AUC + 0.75 x the mean of the three bias "
        "AUCs' power means (docs/bias_auc.md); off unless given",
    )


def _add_training_arguments(parser, add, training) -> None:
    t = parser.add_argument_group("training (defaults in pipeline/config.py)")
    add(
        t,
        "--max-epochs",
        "--epochs",
        dest="epochs",
        type=positive_int,
        default=training.epochs,
        help="most training epochs (training stops early on validation AUC)",
    )
    add(
        t,
        "--patience",
        type=positive_int,
        default=training.patience,
        help="epochs without a better validation AUC before training stops",
    )
    add(t, "--batch-size", type=positive_int, default=training.batch_size, help="batch size")
    add(t, "--learning-rate", type=float, default=training.learning_rate, help="Adam learning rate")
    add(t, "--seed", type=int, default=training.seed, help="seed of weights and shuffling")
    add(
        t,
        "--identity-augmentation",
        default=AUGMENTATION_AUTO,
        help="non-toxic identity sentences mixed into every trainer's training rows "
        f"(trainer_modules/augmentation.py): {AUGMENTATION_DEBIASING} (the shared "
        f"toxicity_debiasing_data.tsv; local runs only), a TSV path, {AUGMENTATION_NONE}, or "
        f"{AUGMENTATION_AUTO}: {AUGMENTATION_DEBIASING} where the shared data is, else none "
        "(Kubeflow: none unless a path is given)",
    )
    add(
        t,
        "--target-groups",
        type=identity_groups,
        default=None,
        help="comma-separated groups MinDiff and TFCO remediate (default: every group with at "
        "least --target-group-min-rows non-toxic training examples)",
    )
    add(
        t,
        "--target-group-min-rows",
        type=positive_int,
        default=training.target_group_min_rows,
        help="non-toxic training examples a group needs to be remediated without --target-groups",
    )
    add(
        t,
        "--postprocess-min-rows",
        type=positive_int,
        default=training.postprocess_min_rows,
        help="non-toxic validation rows a group needs for a threshold of its own "
        "(*_group_thresholds candidates)",
    )
    add(
        t,
        "--max-tokens",
        type=positive_int,
        default=config.TransformSettings.max_tokens,
        help="tokens kept per comment",
    )
    add(
        t,
        "--vocab-size",
        type=positive_int,
        default=config.TransformSettings.vocab_size,
        help="vocabulary size (most frequent training tokens)",
    )


def _add_remediation_arguments(parser, add, training) -> None:
    r = parser.add_argument_group("remediation (docs/benchmarks.md has the tuning)")
    add(
        r,
        "--min-diff-weight",
        type=float,
        default=training.min_diff_weight,
        help="weight of MinDiff's MMD loss",
    )
    add(
        r,
        "--tfco-epsilon",
        type=float,
        default=training.tfco_epsilon,
        help="TFCO slack: group FPR <= overall FPR + epsilon at the operating point",
    )
    add(
        r,
        "--clp-weight",
        type=float,
        default=training.clp_weight,
        help="weight of Counterfactual Logit Pairing's loss (identity-swapped pairs)",
    )
    add(
        r,
        "--clp-pairs",
        choices=CLP_PAIRS,
        default=training.clp_pairs,
        help="comments CLP pairs with their identity-swapped counterfactuals: all or non_toxic",
    )
    add(
        r,
        "--clp-oov",
        choices=CLP_OOV,
        default=training.clp_oov,
        help="swap: the out-of-vocabulary id stands in for missing identity keywords; skip: not",
    )
    add(
        r,
        "--tfco-fpr-band",
        type=fraction,
        default=training.tfco_fpr_band,
        help="TFCO holds the overall training FPR within --target-fpr +- this",
    )
    add(
        r,
        "--tfco-constraint-holdout",
        type=fraction,
        default=training.tfco_constraint_holdout,
        help="share of training rows held out as TFCO's constraint set: the multipliers move on "
        "the constraints there, the model trains on the rest (0: none)",
    )
    add(
        r,
        "--tfco-constraint-rows",
        choices=TFCO_CONSTRAINT_ROWS,
        default=training.tfco_constraint_rows,
        help="rows TFCO's rates are read on: all training rows, or real ones (no augmentation)",
    )


AUGMENTATION_NONE, AUGMENTATION_DEBIASING, AUGMENTATION_AUTO = "none", "debiasing", "auto"


def settings_from_args(
    args: argparse.Namespace,
    glove_path: str = "",
    augment_path: str | None = None,
    sentence_encoder: str = "",
) -> config.Settings:
    defaults = config.Settings()
    try:
        return config.Settings(
            candidates=candidates.candidates_from_names(args.candidates),
            transform=config.TransformSettings(
                max_tokens=args.max_tokens,
                vocab_size=args.vocab_size,
                sentence_encoder=sentence_encoder or defaults.transform.sentence_encoder,
            ),
            training=dataclasses.replace(
                defaults.training,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                seed=args.seed,
                glove_path=glove_path or defaults.training.glove_path,
                augment_path=_augment_path(args, augment_path),
                target_groups=tuple(args.target_groups or ()),
                target_group_min_rows=args.target_group_min_rows,
                postprocess_min_rows=args.postprocess_min_rows,
                min_diff_weight=args.min_diff_weight,
                tfco_epsilon=args.tfco_epsilon,
                tfco_fpr_band=args.tfco_fpr_band,
                tfco_constraint_holdout=args.tfco_constraint_holdout,
                tfco_constraint_rows=args.tfco_constraint_rows,
                clp_weight=args.clp_weight,
                clp_pairs=args.clp_pairs,
                clp_oov=args.clp_oov,
                patience=args.patience,
                target_fpr=args.target_fpr,
                decision_threshold=args.decision_threshold,
            ),
            gate=GatePolicy(
                max_group_fpr=args.max_group_fpr,
                max_fpr_gap=args.max_fpr_gap,
                max_fnr_gap=args.max_fnr_gap,
                min_auc=args.min_auc,
                min_tpr=args.min_tpr,
                max_auc_drop=args.max_auc_drop,
                max_tpr_drop=args.max_tpr_drop,
                max_group_fpr_increase=args.max_group_fpr_increase,
                min_slice_size=args.min_slice_size,
                min_subgroup_auc=args.min_subgroup_auc,
                min_bpsn_auc=args.min_bpsn_auc,
                min_bnsp_auc=args.min_bnsp_auc,
                min_bias_score=args.min_bias_score,
                groups=tuple(args.gate_groups),
                max_suite_group_fpr=args.max_suite_group_fpr,
                max_suite_term_fpr=args.max_suite_term_fpr,
                max_flip_rate=args.max_flip_rate,
                min_suite_recall=args.min_suite_recall,
                max_suite_fnr_gap=args.max_suite_fnr_gap,
                no_harm=not args.allow_harm,
            ),
        )
    except ValueError as error:
        # A flag's value out of range is a malformed flag, as argparse's own: exit status 2.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _augment_path(args: argparse.Namespace, resolved: str | None) -> str:
    """The augmentation file: as the runner resolved it, else the flag's path ("" for none)."""
    if resolved is not None:
        return resolved
    value = getattr(args, "identity_augmentation", AUGMENTATION_NONE)
    if value == AUGMENTATION_DEBIASING:
        raise ValueError(
            f"--identity-augmentation {AUGMENTATION_DEBIASING} names the local shared data; "
            "pass the TSV's path (e.g. gs://.../toxicity_debiasing_data.tsv)"
        )
    return "" if value in (AUGMENTATION_NONE, AUGMENTATION_AUTO) else value
