"""What kdlab's feature terms share: pairing (student, teacher) features in order and the shape
checks (`FeaturePairs`: at, nst, sp, pkt, rkd, kdsvd), and the numerics (those and the stateful
feature terms vid, ofd, crd, reviewkd).

In every feature term the teacher's features are constants (detached), and features are computed
in float32 at least, outside autocast (`wide`, `exact`). Every quantity the FeaturePairs terms take
is invariant to a positive rescaling of the features (per sample, channel or batch, as the method
allows), so features are first divided by their largest magnitude there, a detached constant that
changes neither value nor gradient in exact arithmetic but keeps huge activations from overflowing;
and a zero vector normalises to zero with a finite gradient (`unit`).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field

from ..errors import ConfigError
from .base import LossTerm, StepOutputs, TermSetup

# Which features a term reads: a module path, a list of them, or a symbolic name of the model's
# feature_paths (`@stages`, `@stages[-1]`, `@embedding`, `@stages[1:]`).
Features = Annotated[list[str], Field(min_length=1)] | str
AtLeastOne = Annotated[float, Field(ge=1, allow_inf_nan=False)]


def feature_specs(features: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A term's `Features` option as the tuple of paths or symbolic names it declares."""
    return (features,) if isinstance(features, str) else tuple(features)


def wide(x: torch.Tensor) -> torch.Tensor:
    """Half-precision features (autocast) in float32; float32 and float64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def exact(device: torch.device):
    """Outside autocast: kdlab's feature terms compute in float32 at least."""
    return torch.autocast(device.type, enabled=False) if torch.amp.is_autocast_available(device.type) else nullcontext()


def as_map(x: torch.Tensor) -> torch.Tensor:
    """A feature as (N, C, H, W): vectors (N, D) become (N, D, 1, 1)."""
    return x[:, :, None, None] if x.dim() == 2 else x


def one_value_per_channel(term: str, maps: list[torch.Tensor], paths: tuple[str, ...]) -> None:
    """A training-mode batch norm needs more than one value per channel: a one-line error instead of
    torch's traceback for a batch of one sample at a 1x1 feature (e.g. a last batch of one)."""
    for x, path in zip(maps, paths):
        if x.shape[0] * x[0, 0].numel() == 1:
            raise ConfigError(f"{term}: '{path}' gives one value per channel in this batch ({x.shape[0]} sample of "
                              f"{tuple(x.shape[1:])}), too few for the term's batch norms in training; choose "
                              f"train.batch_size so that no batch holds a single sample (the last one holds "
                              f"num_train % batch_size)")


def unit(x: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    """x / ||x||_2 along dim; a zero vector stays zero, and its gradient is the incoming one (not
    the 1 / eps of F.normalize)."""
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
    return x / torch.where(norm > 0, norm, torch.ones_like(norm))


def rescaled(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """x over its largest magnitude along dims (a detached constant; 1 where x is all zero). For a
    quantity invariant to that rescaling it changes neither value nor gradient, and keeps squares and
    products of huge activations finite."""
    with torch.no_grad():
        scale = x.abs().amax(dim=dims, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return x / scale


def common_size(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps (N, C, H, W) of different resolutions, the larger average-pooled to the smaller one's
    height and width (as RepDistiller's and mdistiller's AT and NST do)."""
    size = (min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3]))
    if tuple(s.shape[2:]) != size:
        s = F.adaptive_avg_pool2d(s, size)
    if tuple(t.shape[2:]) != size:
        t = F.adaptive_avg_pool2d(t, size)
    return s, t


def _shapes(paths: tuple[str, ...], found: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"'{p}' {tuple(found[p].shape[1:])}" for p in paths)


class FeaturePairs(LossTerm):
    """A term on (student, teacher) features paired in order: the i-th student path with the i-th
    teacher path. Subclasses give `pair_loss` (summed over the pairs) or `loss` (all pairs at once),
    and `check` for what the method needs of a pair's shapes."""

    needs_teacher = True
    method = "feature term"  # the registered name, in messages
    maps_only = False  # the method needs maps (N, C, H, W)

    def __init__(self, student: Features, teacher: Features):
        super().__init__()
        self.student_features, self.teacher_features = feature_specs(student), feature_specs(teacher)
        self.specs = (self.student_features, self.teacher_features)  # as given, for messages

    def _given(self, role: int) -> str:
        return ", ".join(self.specs[role])

    def setup(self, ctx: TermSetup) -> None:
        s_paths, t_paths = self.student_features, self.teacher_features
        if len(s_paths) != len(t_paths):
            raise ConfigError(
                f"{self.method}: the student's features ({self._given(0)}: {_shapes(s_paths, ctx.features)}) and the "
                f"teacher's ({self._given(1)}: {_shapes(t_paths, ctx.teacher_features)}) differ in count "
                f"({len(s_paths)} and {len(t_paths)}); {self.method} pairs them in order: name as many of each")
        pairs = [(sp, tp, ctx.features[sp], ctx.teacher_features[tp]) for sp, tp in zip(s_paths, t_paths)]
        if self.maps_only:
            for sp, tp, s, t in pairs:
                if s.dim() != 4 or t.dim() != 4:
                    raise ConfigError(
                        f"{self.method}: student '{sp}' gives {tuple(s.shape[1:])} and teacher '{tp}' gives "
                        f"{tuple(t.shape[1:])}; {self.method} needs feature maps (C, H, W) from both")
        self.check(pairs)

    def check(self, pairs: list[tuple[str, str, torch.Tensor, torch.Tensor]]) -> None:
        """Raise a ConfigError for (student path, teacher path, student, teacher) pairs the method
        cannot use."""

    def forward(self, out: StepOutputs):
        student = [wide(out.features[p]) for p in self.student_features]
        teacher = [wide(out.teacher_features[p]).detach() for p in self.teacher_features]
        with exact(student[0].device):
            return self.loss(student, teacher)

    def loss(self, student: list[torch.Tensor], teacher: list[torch.Tensor]):
        return sum(self.pair_loss(s, t) for s, t in zip(student, teacher))

    def pair_loss(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
