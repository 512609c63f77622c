"""The names every layer shares: feature keys, identity groups and their keywords, the slice
key, metric keys, the prediction keys and the push marker.

This module is the bottom of the house: it imports nothing of the project, and everything else
may import it.
"""

from __future__ import annotations

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

# Beside saved_model.pb: the model's decision threshold and how it was chosen.
OPERATING_POINT_FILE = "operating_point.json"
# The Evaluator's signature returns a score shifted so that it crosses 0.5 exactly at the
# model's own threshold: every TFMA metric "at 0.5" is then the rate at the operating point.
EVAL_SIGNATURE = "evaluate"
OPERATING_POINT_SCORE = 0.5

# Written last into a pushed version folder: a version without it is incomplete.
COMPLETE_MARKER = "PUSH_COMPLETE.json"
