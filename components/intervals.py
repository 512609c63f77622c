"""Rates with their intervals, from counts: the Wilson score interval (no bootstrap needed).

Every rate the certificate judges (a group's FPR on eval or on the challenge suite, a flip rate)
is k of n rows; the Wilson interval stays inside [0, 1] and is honest at k = 0 and for small n,
where the normal approximation collapses to a point. docs/certificate.md gives the decision rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054


def finite(value) -> float | None:
    """`value` as a float, or None when it is missing, not a number, or infinite (as metric
    records store NaN for a rate with no rows)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k of n rows, with its 95% Wilson interval; value None when there are no rows."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    @property
    def standard_error(self) -> float:
        p = self.value
        return math.sqrt(p * (1 - p) / self.n) if self.n else float("inf")

    def to_json(self) -> dict:
        out = asdict(self)
        out["value"] = self.value
        out["interval"] = list(self.interval) if self.n else None
        return out

    @classmethod
    def from_json(cls, data: dict | None) -> Rate | None:
        return None if data is None else cls(int(data["k"]), int(data["n"]))

    def text(self) -> str:
        if not self.n:
            return "no rows"
        lower, upper = self.interval
        return f"{self.value:.3f} [{lower:.3f}, {upper:.3f}] ({self.k}/{self.n})"


def rise_beyond_noise(candidate: Rate, base: Rate, z: float = Z95) -> bool:
    """True when the candidate's rate exceeds the base model's by more than the noise of the
    difference: z standard errors of two independent proportions. The rows are the same for
    both models, so this overstates the noise and refuses only clear rises."""
    if not candidate.n or not base.n:
        return False
    noise = z * math.sqrt(candidate.standard_error**2 + base.standard_error**2)
    # At k = 0 and k = n the standard error is 0: one row of noise at least.
    noise = max(noise, 1.0 / candidate.n + 1.0 / base.n)
    return candidate.value - base.value > noise
