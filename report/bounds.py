"""The gate's bounds, read back from an evaluation's EvalConfig: they live in
`components.bounds`, where the FairnessGate records them in its report too."""

from components.bounds import GateBounds, bounds_from_eval_config

__all__ = ["GateBounds", "bounds_from_eval_config"]
