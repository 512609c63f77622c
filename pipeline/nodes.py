"""The pipeline's component ids, as `create_pipeline` gives them and ML Metadata's readers (the
run summary, the report, the tests) look them up.

Each candidate has its own nodes, `<kind>.<candidate name>`; the shared ones have one id each.
"""

from __future__ import annotations

# A candidate's nodes, in execution order: its Trainer, its Evaluator on eval (against the
# champion), its ChallengeEvaluator on the identity challenge suite and its FairnessGate.
TRAINER, EVALUATOR, CHALLENGE_EVALUATOR, GATE = (
    "Trainer", "Evaluator", "ChallengeEvaluator", "FairnessGate"
)  # fmt: skip
CANDIDATE_KINDS = (TRAINER, EVALUATOR, CHALLENGE_EVALUATOR, GATE)
# The nodes after every candidate's: the Selector picks one, the Pusher pushes it.
SELECTOR, PUSHER = "Selector", "Pusher"


def node_id(kind: str, candidate: str) -> str:
    """The id of a candidate's node of this kind, e.g. `FairnessGate.tfco`."""
    return f"{kind}.{candidate}"


def candidate_ids(candidate: str) -> tuple[str, ...]:
    """A candidate's node ids, in CANDIDATE_KINDS' order."""
    return tuple(node_id(kind, candidate) for kind in CANDIDATE_KINDS)


def candidate_of(node: str, kind: str) -> str | None:
    """The candidate whose node of this kind `node` is, else None."""
    found, dot, name = node.partition(".")
    return name if found == kind and dot and name else None
