"""The names every layer shares: feature keys, identity groups and their keywords, the slice
key, metric keys, the prediction keys, the push marker, and the trainers.

This module is the bottom of the house: it imports nothing of the project, and everything else
may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT_KEY = "comment_text"
LABEL_KEY = "toxicity"

# Identity columns as annotated in the processed Civil Comments data of the
# MinDiff tutorial; each holds a list of strings such as ["muslim"].
IDENTITY_COLUMNS = ("gender", "sexual_orientation", "religion", "race", "disability")

# Keyword lists: the TFCO Wiki-toxicity tutorial's sexuality, gender identity,
# religion and race lists, filed under the Civil Comments categories, plus the
# Civil Comments subgroups of each category. Multi-word terms are matched as phrases.
IDENTITY_KEYWORDS = {
    "gender": (
        "trans",
        "transgender",
        "cis",
        "nonbinary",
        "male",
        "female",
        "woman",
        "women",
        "girl",
        "girls",
    ),
    "sexual_orientation": (
        "gay",
        "lesbian",
        "bisexual",
        "homosexual",
        "straight",
        "heterosexual",
        "queer",
    ),
    "religion": (
        "christian",
        "muslim",
        "jewish",
        "buddhist",
        "catholic",
        "protestant",
        "sikh",
        "taoist",
        "hindu",
        "atheist",
        "islam",
        "jew",
        "jews",
        "muslims",
        "christians",
    ),
    "race": (
        "african",
        "african american",
        "black",
        "white",
        "european",
        "hispanic",
        "latino",
        "latina",
        "latinx",
        "mexican",
        "canadian",
        "american",
        "asian",
        "indian",
        "middle eastern",
        "chinese",
        "japanese",
    ),
    "disability": (
        "disabled",
        "disability",
        "blind",
        "deaf",
        "autistic",
        "wheelchair",
        "mentally ill",
        "intellectual disability",
    ),
}

IDENTITY_GROUPS = tuple(IDENTITY_KEYWORDS)
assert set(IDENTITY_GROUPS) == set(IDENTITY_COLUMNS)

TOKENS_KEY = "tokens"
# The frozen sentence encoder's output (trainer_modules/sentence_encoder.py), a float vector
# per comment, computed by Transform only when a candidate uses it.
ENCODING_KEY = "sentence_encoding"


def load_text_ops() -> None:
    """Registers tensorflow_text's ops: a model exported by a run with the sentence encoder runs
    its WordPiece tokenizer in the graph and cannot be loaded without them."""
    import tensorflow_text  # noqa: F401


def identity_feature(group: str) -> str:
    """Name of the transformed 0/1 tag for an identity group."""
    return f"identity_{group}"


IDENTITY_FEATURES = tuple(identity_feature(g) for g in IDENTITY_GROUPS)


# Transform's outputs.
VOCAB_NAME = "tokens"
# A hash bucket (0-9) of the comment text: bucket 0 of `train` is the validation split when the
# data has no validation split of its own. Equal texts share a bucket, so none straddles.
HOLDOUT_KEY = "holdout_bucket"
HOLDOUT_BUCKETS = 10
# One multi-valued slicing feature: TFMA makes one slice per group present in the eval data.
IDENTITY_GROUP_KEY = "identity_group"

# The served model's outputs: the probability, and the decision at the operating point.
PREDICTION_KEY = "toxicity"
DECISION_KEY = "is_toxic"

# The unsliced slice, as the gate, the runners and the report name it.
OVERALL = "overall"


def group_of_slice(slice_key) -> str | None:
    """The identity group named by a TFMA slice key (tuple form), or None for overall."""
    for column_value in slice_key or ():
        if len(column_value) == 2 and column_value[0] == IDENTITY_GROUP_KEY:
            value = column_value[1]
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


# TFMA metric keys (class FallOut is the false-positive rate, MissRate the false-negative rate).
FPR_METRIC = "fall_out"
FNR_METRIC = "miss_rate"
AUC_METRIC = "auc"
TPR_METRIC = "recall"
# Confusion counts at the decision threshold: the rows each rate stands on.
TN_METRIC, FP_METRIC = "true_negatives", "false_positives"
TP_METRIC, FN_METRIC = "true_positives", "false_negatives"
COUNT_METRIC = "example_count"
ACCURACY_METRIC = "binary_accuracy"

# Threshold-free bias AUCs (Borkan et al. 2019), computed by components/bias_auc.py on the
# overall slice, one key per kind and group ("bpsn_auc/race"): subgroup AUC on the group's rows;
# BPSN (background positive, subgroup negative) on the toxic rows outside the group and the
# group's non-toxic rows; BNSP (background negative, subgroup positive) the other way round.
SUBGROUP_AUC, BPSN_AUC, BNSP_AUC = "subgroup_auc", "bpsn_auc", "bnsp_auc"
BIAS_AUC_KINDS = (SUBGROUP_AUC, BPSN_AUC, BNSP_AUC)
# Each kind's generalised mean over groups, M_p = (mean of m_g^p)^(1/p), and the final Jigsaw
# score: 0.25 * overall AUC + 0.75 * the mean of the three power means.
BIAS_AUC_POWER = -5.0
BIAS_SCORE_METRIC = "bias_score"
# The exact (rank-based) overall AUC the score uses, beside TFMA's histogram AUC.
EXACT_AUC_METRIC = "exact_auc"


def bias_auc_metric(kind: str, group: str) -> str:
    return f"{kind}/{group}"


def power_mean_metric(kind: str) -> str:
    return f"{kind}_power_mean"


def bias_auc_of_metric(name: str) -> tuple[str, str] | None:
    """(kind, group) of a per-group bias AUC key such as "bpsn_auc/race", else None."""
    kind, _, group = name.partition("/")
    return (kind, group) if kind in BIAS_AUC_KINDS and group else None


# Beside saved_model.pb: the model's decision threshold and how it was chosen.
OPERATING_POINT_FILE = "operating_point.json"
# Beside saved_model.pb: which trainer made the model, its settings, the groups it remediated
# and the rows it trained and picked its threshold on (read by the model card).
TRAINER_RECORD_FILE = "trainer.json"
# The Evaluator's signature returns a score shifted so that it crosses 0.5 exactly at the
# model's own threshold: every TFMA metric "at 0.5" is then the rate at the operating point.
EVAL_SIGNATURE = "evaluate"
OPERATING_POINT_SCORE = 0.5

# Written last into a pushed version folder: a version without it is incomplete.
COMPLETE_MARKER = "PUSH_COMPLETE.json"
# Written into a pushed version folder with the model, before the marker.
MODEL_CARD_MD = "model_card.md"
MODEL_CARD_HTML = "model_card.html"

# The challenge suite (ingest/challenge_suite.py): extra features of its examples, which the
# served signatures ignore. Its source ("madlibs", "wiki", "wiki_fuzzed", "functional"), the
# identity groups a row is about by construction (the served decision still tags by keyword),
# the identity term of a template, the id that pairs a Wikipedia comment with its fuzzed twin,
# and the functional case ("positive_statement", "counter_speech", ...).
CHALLENGE_SOURCE_KEY = "challenge_source"
CHALLENGE_GROUP_KEY = "challenge_group"
CHALLENGE_TERM_KEY = "challenge_term"
CHALLENGE_PAIR_KEY = "challenge_pair"
CHALLENGE_CASE_KEY = "challenge_case"
CHALLENGE_SOURCES = ("madlibs", "wiki", "wiki_fuzzed", "functional")
# The suite's one split, and the files of its folder that ExampleGen reads (not its manifest).
CHALLENGE_SPLIT = "challenge"
CHALLENGE_PATTERN = "*.tfrecord"

# Beside is_toxic in every served signature: how many of a text's tokens the vocabulary knows.
# A text with none (empty, emoji only, another script) is served as not toxic, and says so.
KNOWN_TOKENS_KEY = "known_tokens"


@dataclass(frozen=True)
class TrainerInfo:
    """One trainer: the module `trainer_modules.<name>` with its `run_fn`, and what the layers
    above need to know of it without importing it (it imports TensorFlow)."""

    name: str
    # What it does to the loss, as the model card says it.
    text: str
    # Runs when no --candidates are given.
    default: bool = False
    # It remediates the identity groups of `target_groups` / `target_group_min_rows`.
    target_groups: bool = False
    # A candidate may train it on the sentence encoding beside the tokens
    # (pipeline/candidates.py names those candidates).
    encoder: bool = False
    # A `<model>_group_thresholds` candidate may fit per-group thresholds on its weights.
    postprocess: bool = True

    @property
    def module(self) -> str:
        """The dotted path TFX imports (the project is installed: no module_file copying)."""
        return f"trainer_modules.{self.name}"

    @property
    def run_fn(self) -> str:
        return f"{self.module}.run_fn"

    @property
    def settings_prefix(self) -> str:
        """Its own settings are the TrainerSettings fields named `<name>_*` (the card lists
        them); the others every trainer reads."""
        return f"{self.name}_"


# The trainer of no remediation: every remediation is judged against it (do no harm).
BASELINE = "baseline"
# The trainer registry: adding a trainer is its module and one line here. Dict order is the
# order the CLI's help and the errors list them.
TRAINERS = {
    t.name: t
    for t in (
        TrainerInfo(BASELINE, "none: the baseline trainer (binary cross-entropy only)",
                    default=True, encoder=True),
        TrainerInfo("min_diff", "MinDiff: an MMD penalty between the score distributions of "
                    "the target groups' non-toxic comments and the other non-toxic comments",
                    default=True, target_groups=True, encoder=True),
        TrainerInfo("tfco", "TFCO: constrained training, each target group's FPR at most the "
                    "overall FPR plus epsilon at the operating point",
                    default=True, target_groups=True, encoder=True),
        # CLP swaps identity token ids, which a sentence encoding does not have.
        TrainerInfo("clp", "Counterfactual Logit Pairing: a penalty on the logit change when a "
                    "comment's identity terms are swapped"),
    )
}  # fmt: skip


def trainer_of_module(module: str) -> TrainerInfo:
    """The trainer whose module this is (a trainer module passes its `__name__`)."""
    found = [t for t in TRAINERS.values() if t.module == module]
    if not found:
        raise ValueError(f"{module} is not a registered trainer module (contract.TRAINERS)")
    return found[0]
