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

from typing import Annotated, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class Ramp(BaseModel):
    """The weight grows linearly to its value: times min(1, epoch / epochs) with the 1-based epoch
    (as DKD's reference warms its loss up: mdistiller's DKD, `min(epoch / warmup, 1)`), or times
    min(1, (step + 1) / steps)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ramp"]
    epochs: int | None = Field(None, ge=1)
    steps: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_length(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("a ramp gives its length in epochs or in steps (one of the two)")
        return self

    def factor_at(self, step: int, steps_per_epoch: int) -> float:
        if self.steps is not None:
            return min(1.0, (step + 1) / self.steps)
        return min(1.0, (step // steps_per_epoch + 1) / self.epochs)


class StepDecay(BaseModel):
    """The weight times `factor` at each of `epochs`: from epoch index e (after the first e epochs)
    on, as the learning rate's step schedule does."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["step"]
    epochs: list[int] = Field(min_length=1)
    factor: float = Field(ge=0)

    def factor_at(self, step: int, steps_per_epoch: int) -> float:
        return self.factor ** sum(step // steps_per_epoch >= e for e in self.epochs)


Schedule = Annotated[Union[Ramp, StepDecay], Field(discriminator="kind")]


def schedule_factor(schedule: Ramp | StepDecay | None, step: int, steps_per_epoch: int | None) -> float:
    """A term's weight at `step` relative to its configured weight (1 without a schedule)."""
    if schedule is None:
        return 1.0
    if steps_per_epoch is None:
        raise ValueError("a term's schedule needs the run's steps per epoch")  # set when training starts
    return schedule.factor_at(step, steps_per_epoch)


class TermFacts(BaseModel):
    kind: str  # the registered term, or the class name of a term given as an object
    weight: float  # as configured (times its schedule's factor at each step)
    temperature: float | None = None  # of its soft targets, where it has one (kd, dkd)
    reads_teacher: bool = False
    schedule: Schedule | None = None


class Weighting(BaseModel):
    terms: dict[str, TermFacts]
    switch: Switch | None = None
    steps_per_epoch: int | None = None  # known once the data is: epoch-based schedules need it

    @classmethod
    def of(cls, terms: Mapping[str, LossTerm], loss, steps_per_epoch: int | None = None) -> "Weighting":
        """The weighting of built terms (registered or given) under a loss config (kdlab.config's
        LossConfig: each term's weight and schedule, its kind by `term_type`, the switch); the terms'
        facts (temperature, whether they read the teacher) come from the objects."""
        return cls(terms={name: TermFacts(kind=loss.term_type(name), weight=loss.terms[name].weight,
                                          temperature=getattr(term, "temperature", None),
                                          reads_teacher=bool(term.needs_teacher), schedule=loss.terms[name].schedule)
                          for name, term in terms.items()}, switch=loss.switch, steps_per_epoch=steps_per_epoch)

    def weights(self, step: int) -> dict[str, float]:
        """Each term's weight at `step`: its schedule, then the switch (which moves from these weights
        to the pure target term)."""
        scheduled = {name: t.weight * schedule_factor(t.schedule, step, self.steps_per_epoch)
                     for name, t in self.terms.items()}
        s = self.switch
        return weights_at(step, scheduled) if s is None else weights_at(step, scheduled, s.to, s.at_step, s.window)

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
