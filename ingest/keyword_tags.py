"""The Python twin of Transform's identity keyword tagging (trainer_modules/preprocessing.py).

Outside the TensorFlow graph (data preparation, the challenge suite, benchmarks) a row must be
tagged exactly as Transform tags it, or a group measured here is not the group the served
model and the Evaluator see. tests/test_challenge_suite.py checks this twin against
preprocessing.keyword_tags on real and hand-written texts.
"""

from __future__ import annotations

import re

from contract import IDENTITY_GROUPS, IDENTITY_KEYWORDS

# Transform keeps \pL and \pN and turns every other run into one space; Python's \w is those
# plus the underscore, so the underscore is dropped explicitly. str.lower() applies the same
# full Unicode case mapping as tf.strings.lower ("İ" -> "i̇", final sigma), checked in the test.
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")

_PATTERNS = {
    group: re.compile(" (" + "|".join(sorted(k.lower() for k in IDENTITY_KEYWORDS[group])) + ") ")
    for group in IDENTITY_GROUPS
}


def normalize(text: str) -> str:
    """Lower-cased words separated by single spaces, with one space at each end (as Transform's
    normalize_text), so that a space-delimited keyword matches whole words and phrases only."""
    return " " + _NOT_LETTER_OR_DIGIT.sub(" ", text.lower()).strip() + " "


def keyword_groups(text: str) -> tuple[str, ...]:
    """The identity groups whose keywords the text mentions, in contract.IDENTITY_GROUPS order."""
    normalized = normalize(text)
    return tuple(g for g in IDENTITY_GROUPS if _PATTERNS[g].search(normalized))
