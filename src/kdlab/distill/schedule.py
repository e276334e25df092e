"""Loss weights over training steps, with P1's loss switching (§3.2).

L(s) = sum_t w_t(s) * term_t. A switch moves the weights linearly from the initial ones to the pure
target term (weight 1, every other term 0) over [at_step, at_step + window]; window 0 is an abrupt
switch at at_step. P1 says the switch is gradual over a window; the linear ramp is our documented choice.
"""

from __future__ import annotations


def switch_progress(step: int, at_step: int, window: int) -> float:
    """0 before the switch, 1 once it is complete, linear in between."""
    if step < at_step:
        return 0.0
    if window == 0 or step >= at_step + window:
        return 1.0
    return (step - at_step) / window


def weights_at(step: int, initial: dict[str, float], switch_to: str | None = None, at_step: int = 0,
               window: int = 0) -> dict[str, float]:
    if switch_to is None:
        return dict(initial)
    r = switch_progress(step, at_step, window)
    return {name: (1 - r) * w + r * (1.0 if name == switch_to else 0.0) for name, w in initial.items()}
