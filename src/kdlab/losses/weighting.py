"""What an objective is, and the one place its meaning is answered: a weighted sum of named loss
terms whose weights may move over training (P1's loss switching, §3.2).

L(s) = sum_t w_t(s) * term_t. A switch moves the weights linearly from the initial ones to the pure
target term (weight 1, every other term 0) over [at_step, at_step + window]; window 0 is an abrupt
switch at at_step. P1 says the switch is gradual over a window; the linear ramp is our documented choice.

`Weighting` holds each term's kind, initial weight, temperature and whether it reads the teacher, and
answers what every consumer asks: the weights at a step, whether a term ever weighs, whether (and
when) the run needs its teacher, and the temperature of its distillation. The training objective
(kdlab.distill.Objective) is built with one, and run.json records it, so the readers of a finished
run (reports, complexity) get the same answers from the same rules without the code that made it.
"""

from __future__ import annotations

from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .base import LossTerm


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


class Switch(BaseModel):
    """Move from the initial weights to the pure `to` term, linearly over [at_step, at_step + window]."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    to: str  # a term name of loss.terms
    at_step: int = Field(ge=0)
    window: int = Field(0, ge=0)


class TermFacts(BaseModel):
    kind: str  # the registered term, or the class name of a term given as an object
    weight: float  # at step 0
    temperature: float | None = None  # of its soft targets, where it has one (kd, dkd)
    reads_teacher: bool = False


class Weighting(BaseModel):
    terms: dict[str, TermFacts]
    switch: Switch | None = None

    @classmethod
    def of(cls, terms: Mapping[str, LossTerm], kinds: Mapping[str, str], weights: Mapping[str, float],
           switch: Switch | None = None) -> "Weighting":
        """The weighting of built terms (registered or given): their facts come from the objects."""
        return cls(terms={name: TermFacts(kind=kinds[name], weight=weights[name],
                                          temperature=getattr(term, "temperature", None),
                                          reads_teacher=bool(term.needs_teacher))
                          for name, term in terms.items()}, switch=switch)

    def weights(self, step: int) -> dict[str, float]:
        initial = {name: t.weight for name, t in self.terms.items()}
        s = self.switch
        return weights_at(step, initial) if s is None else weights_at(step, initial, s.to, s.at_step, s.window)

    def weighs_ever(self, name: str) -> bool:
        """Whether term `name` has weight at some step: from the start, or as the switch's target."""
        return self.terms[name].weight > 0 or (self.switch is not None and self.switch.to == name)

    @property
    def uses_teacher(self) -> bool:
        """Whether a term that reads the teacher weighs at some step: the run distils."""
        return any(t.reads_teacher and self.weighs_ever(n) for n, t in self.terms.items())

    def needs_teacher(self, step: int) -> bool:
        w = self.weights(step)
        return any(w[n] > 0 for n, t in self.terms.items() if t.reads_teacher)

    def weighted(self, step: int = 0) -> list[str]:
        """The terms with weight > 0 at `step`."""
        return [n for n, w in self.weights(step).items() if w > 0]

    def temperature(self, term: str | None = None) -> float | None:
        """The temperature of term `term`; without a term, of the run's distillation: the terms that
        read the teacher and weigh at some step. None where there is none (a one-hot run, a hint).
        Distillation terms of different temperatures are an error that asks for one term."""
        if term is not None:
            if term not in self.terms:
                raise ConfigError(f"the objective has no term '{term}'; its terms: {', '.join(self.terms)}")
            return self.terms[term].temperature
        found = {n: t.temperature for n, t in self.terms.items()
                 if t.reads_teacher and t.temperature is not None and self.weighs_ever(n)}
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{n} at T = {v:g}" for n, v in found.items())
            raise ConfigError(f"the run distils with terms of different temperatures ({listed}); name the term "
                              f"whose temperature to use (e.g. term={next(iter(found))})")
        return next(iter(found.values()), None)
