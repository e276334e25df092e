"""Loss weights over training steps, with P1's loss switching (§3.2).

L(s) = w_onehot(s) * CE + w_kd(s) * KD. A switch moves the weights linearly from the initial mix
to the pure target loss over [at_step, at_step + window]; window 0 is an abrupt switch at at_step.
P1 says the switch is gradual over a window; the linear ramp is our documented choice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossWeights:
    onehot: float
    kd: float


def switch_progress(step: int, at_step: int, window: int) -> float:
    """0 before the switch, 1 once it is complete, linear in between."""
    if step < at_step:
        return 0.0
    if window == 0 or step >= at_step + window:
        return 1.0
    return (step - at_step) / window


def weights_at(step: int, initial: LossWeights, switch_to: str | None = None, at_step: int = 0, window: int = 0) -> LossWeights:
    if switch_to is None:
        return initial
    target = LossWeights(onehot=1.0, kd=0.0) if switch_to == "onehot" else LossWeights(onehot=0.0, kd=1.0)
    r = switch_progress(step, at_step, window)
    return LossWeights(
        onehot=(1 - r) * initial.onehot + r * target.onehot,
        kd=(1 - r) * initial.kd + r * target.kd,
    )
