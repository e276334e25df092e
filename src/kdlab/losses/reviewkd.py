"""Knowledge review (Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021).

Each of the teacher's levels is distilled from the student's features of that level *and the
deeper ones*: the student's levels (shallow to deep; the deepest the pooled embedding as a 1x1 map)
are fused from deep to shallow by attention-based fusion (ABF), and each fused output is compared with
the teacher's feature of its level by the hierarchical context loss (HCL).

ABF at level i (student feature x_i, C_i channels, size h_i x w_i; the teacher's feature there C'_i
channels, size h'_i x w'_i):
  a = BN(conv1x1(x_i)) to `mid` channels;
  at every level but the deepest, fuse with the residual r from the level below it:
    r <- nearest-upsample(r) to h_i x w_i; (u, v) = sigmoid(conv1x1([a, r])) (2 maps, with bias);
    a <- a * u + r * v;
  a <- nearest-resize(a) to h'_i x w'_i where it differs; the level's output is BN(conv3x3(a)) (C'_i
  channels) and a is the residual passed up to level i - 1.
HCL of an output o and the teacher's t: the mean squared error of the maps, plus that of their
adaptive average pools to 4x4, 2x2 and 1x1 (only the pools smaller than the map's height), weighted
1, 1/2, 1/4, 1/8 in turn and divided by the sum of the weights used. The term is the sum over levels.
`mid` = min(`max_mid_channel`, the channels of the student's deepest level).

Follows the authors' code (dvlab-research/ReviewKD, CIFAR-100/model/reviewkd.py: ABF, ReviewKD and
`hcl`; the same as mdistiller's distillers/ReviewKD.py): convolutions without bias but the attention's,
conv1x1 and conv3x3 initialised kaiming-uniform (a = 1), the rest PyTorch's defaults. The
references' `shapes` and `out_shapes` (the student's and the teacher's sizes per level) and
`in_channels` / `out_channels` are read here from the features' shapes; `max_mid_channel` is
mdistiller's REVIEWKD.MAX_MID_CHANNEL (512). The references ramp the loss in over the first 20 epochs
(min(1, epoch / 20)); here that is the term's weight schedule, `schedule: {kind: ramp, epochs: 20}`,
with the loss weight (the references': 1.0 by default, mdistiller's CIFAR config 5.0) as `weight`.

Features: `student` (default `@stages[1:]` then `@embedding`: the references' student stage outputs
but the stem's, with the pooled feature) and `teacher` (default `@preact[1:]` then `@embedding`: the
references' teacher reads pre-ReLU stage features), a path, a list of them or symbolic names, paired
level by level, shallow to deep; vectors (N, D) are (N, D, 1, 1) maps.
The ABFs are parameters made in `setup` (their batch norms' running statistics buffers), trained with
the student and saved with the run. A level of size 1x1 needs a batch of more than one sample in
training (its batch norms have one value per channel otherwise), as in the references: a batch of one
there is a one-line error. The term computes in float32 at least, outside autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..values import Count
from .base import LOSS_TERMS, LossTerm, StepOutputs, TermSetup
from .pairs import Features, as_map, exact, feature_specs, one_value_per_channel, wide

POOLS = (4, 2, 1)  # HCL's pyramid, the reference's


class ABF(nn.Module):
    """Attention-based fusion of one level: the student's feature, fused with the residual from below."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels))
        self.att_conv = nn.Sequential(nn.Conv2d(2 * mid_channels, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None, out_size: tuple[int, int]):
        a = self.conv1(x)
        if self.att_conv is not None:
            residual = F.interpolate(residual, size=a.shape[2:], mode="nearest")
            att = self.att_conv(torch.cat([a, residual], 1))
            a = a * att[:, 0:1] + residual * att[:, 1:2]
        if tuple(a.shape[2:]) != tuple(out_size):
            a = F.interpolate(a, size=tuple(out_size), mode="nearest")
        return self.conv2(a), a


def hcl(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """Hierarchical context loss, summed over levels."""
    total = student[0].new_zeros(())
    for s, t in zip(student, teacher):
        loss, weight, weights = F.mse_loss(s, t), 1.0, 1.0
        for size in POOLS:
            if size >= s.shape[2]:
                continue
            weight /= 2
            loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(s, size), F.adaptive_avg_pool2d(t, size))
            weights += weight
        total = total + loss / weights
    return total


@LOSS_TERMS.register("reviewkd")
class ReviewKD(LossTerm):
    needs_teacher = True

    def __init__(self, max_mid_channel: Count = 512, student: Features = ("@stages[1:]", "@embedding"),
                 teacher: Features = ("@preact[1:]", "@embedding")):
        super().__init__()
        self.max_mid_channel = int(max_mid_channel)
        self.student_features, self.teacher_features = feature_specs(student), feature_specs(teacher)
        self.abfs = nn.ModuleList()  # one per level, shallow to deep
        self.out_sizes: list[tuple[int, int]] = []

    def setup(self, ctx: TermSetup):
        s_paths, t_paths = self.student_features, self.teacher_features
        if len(s_paths) != len(t_paths) or not s_paths:
            raise ConfigError(f"reviewkd: the student features {list(s_paths)} and teacher features {list(t_paths)} "
                              f"must pair up level by level (give as many of each, shallow to deep)")
        s_maps, t_maps = [], []
        for role, paths, found, maps in (("student", s_paths, ctx.features, s_maps),
                                         ("teacher", t_paths, ctx.teacher_features, t_maps)):
            for path in paths:
                x = found[path]
                if x.dim() not in (2, 4):
                    raise ConfigError(f"reviewkd: {role} feature '{path}' has shape {tuple(x.shape[1:])}: "
                                      f"neither maps (C, H, W) nor vectors (D)")
                maps.append(as_map(x))
        mid = min(self.max_mid_channel, s_maps[-1].shape[1])
        last = len(s_maps) - 1
        for i, (s, t) in enumerate(zip(s_maps, t_maps)):
            abf = ABF(s.shape[1], mid, t.shape[1], fuse=i < last).to(device=s.device)
            self.abfs.append(abf.to(memory_format=torch.channels_last))
            self.out_sizes.append((t.shape[2], t.shape[3]))

    def fuse(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The ABF outputs, shallow to deep, from the student's features (shallow to deep)."""
        outputs: list[torch.Tensor] = []
        residual = None
        for abf, x, size in reversed(list(zip(self.abfs, features, self.out_sizes))):
            y, residual = abf(as_map(x), residual, size)
            outputs.insert(0, y)
        return outputs

    def forward(self, out: StepOutputs):
        student = [as_map(wide(out.features[p])) for p in self.student_features]
        teacher = [as_map(wide(out.teacher_features[p])).detach() for p in self.teacher_features]
        if self.training:  # each level's batch norms see the student's size, then the teacher's
            one_value_per_channel("reviewkd", student + teacher, self.student_features + self.teacher_features)
        with exact(student[0].device):
            return hcl(self.fuse(student), teacher)
