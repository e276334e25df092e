"""Overhaul of feature distillation (Heo et al., "A Comprehensive Overhaul of Feature Distillation",
ICCV 2019).

The student distils the teacher's pre-ReLU features: what the teacher's ReLU would keep is copied,
what it would zero only has to stay below it.
- Teacher transform, the margin ReLU: t' = max(t, m_c), with the per-channel margin m_c = E[x | x < 0]
  of the channel's pre-ReLU response x ~ N(mu_c, sigma_c^2), taken from the batch-norm layer that makes
  it: sigma_c = |gamma_c|, mu_c = beta_c (its affine weight and bias), so
  m_c = mu_c - sigma_c phi(mu_c / sigma_c) / Phi(-mu_c / sigma_c), or -3 sigma_c where Phi(-mu_c / sigma_c)
  <= 0.001 (the reference's guard).
- Student transform, the connector: a convolution (kernel `kernel_size`, default 1, no bias) and a
  batch norm, mapping the student's pre-ReLU features to the teacher's channels.
- Partial L2 distance: d(t', s) = sum over elements of (s - t')^2, except where s <= t' <= 0 (the
  teacher's ReLU would give zero and the student is already below): those add nothing.
Per feature pair the distance is summed over channels and positions and averaged over the batch; pair
i of F (shallow to deep) weighs 1 / 2^(F - 1 - i), the deepest 1. The teacher's map is average-pooled
to the connector's output size first (mdistiller; the original code assumes equal sizes).

Follows mdistiller (distillers/OFD.py: `feat_loss`, `ConnectorConvBN`, the margins in
`init_ofd_modules`) and the authors' code it reproduces (clovaai/overhaul-distillation, whose
`max(t, m)`-then-mask form is the same distance). The reference's loss weight is 0.001 (mdistiller
CFG.OFD.LOSS.FEAT_WEIGHT; the original divides the summed distance by 1000 and the batch size): it is
this term's `weight` in a config. The connector's convolution starts from N(0, 2 / (k^2 C_t)), its batch
norm from weight 1, bias 0, as the reference's. The term computes in float32 at least, outside
autocast; a training batch of one sample at a 1x1 student feature (one value per channel for the
connector's batch norm) is a one-line error.

Which batch norm gives the margin of a teacher feature at path P, in this order:
1. `margin_bn`, when given: one teacher module path (or symbolic name) per teacher feature;
2. P itself, when it is a batch norm: its output is the pre-ReLU feature. This is the reference's
   choice for pre-activation networks (its WideResNet taps, and takes the margin from, the batch norm
   that reads each stage's output: `get_bn_before_relu` gives `block2.layer[0].bn1`, ...), and what
   kdlab's wide ResNets and VGGs name in `@preact`;
3. P a parameter-free tap (an nn.Identity) inside a block, as kdlab's post-activation blocks name the
   sum before their ReLU (`stage1.2.preact`): the block's last batch norm (in registration order)
   outside its shortcut (children named `shortcut` or `downsample`), i.e. the residual branch's last:
   `bn2` of a basic block, `bn3` of a bottleneck, as the reference's `get_bn_before_relu` gives (its
   approximation: the shortcut's share of the sum is left out);
otherwise a one-line error. A pre-activation ResNet's stage output (kdlab's `resnet8` ... `resnet110`:
their `@preact` are the blocks' outputs, plain sums) is made by no batch norm: distil the batch norms
that read the stage outputs there, as OFD does (for `resnet8`: `blocks.1.bn1`, `blocks.2.bn1`, `bn`),
giving them as `student` and `teacher`. The margin's batch norm must have the feature's channels. The
margins are buffers (saved with the run), computed once from the teacher as loaded when training
starts.

Features: `student` and `teacher` (default `@preact[1:]` on both: every stage's pre-ReLU feature but
the stem's, the reference's preact_feats[1:]; the student's are pre-ReLU too), maps (N, C, H, W)
paired in order; a path, a list of them or symbolic names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..values import Count
from .base import LOSS_TERMS, LossTerm, StepOutputs, TermSetup, resolve_paths
from .pairs import Features, exact, feature_specs, one_value_per_channel, wide

SHORTCUTS = ("shortcut", "downsample")  # a residual block's shortcut branch, by its child's name


def bn_margin(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per channel, E[x | x < 0] for x ~ N(bias, weight^2), or -3|weight| where P(x < 0) <= 0.001."""
    sigma = weight.detach().double().abs().clamp_min(1e-12)
    mu = bias.detach().double()
    below = torch.special.ndtr(-mu / sigma)  # P(x < 0)
    density = torch.exp(-0.5 * (mu / sigma) ** 2) / math.sqrt(2 * math.pi)
    truncated = mu - sigma * density / below.clamp_min(1e-300)
    return torch.where(below > 1e-3, truncated, -3 * sigma).float()


def partial_l2(s: torch.Tensor, t: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """Per sample, sum over elements of (s - max(t, m))^2, leaving out s <= max(t, m) <= 0."""
    target = torch.maximum(t, margin)
    keep = (s > target) | (target > 0)
    return ((s - target) ** 2 * keep).flatten(1).sum(1)


def connector(s_channels: int, t_channels: int, kernel_size: int) -> nn.Sequential:
    conv = nn.Conv2d(s_channels, t_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (kernel_size * kernel_size * t_channels)))
    return nn.Sequential(conv, nn.BatchNorm2d(t_channels))


def is_bn(module: nn.Module | None) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine


def margin_bn_of(model: nn.Module, path: str) -> str | None:
    """The path of the batch norm that makes the pre-ReLU feature at `path`, by the convention of
    this module's docstring (2 and 3), or None."""
    modules = dict(model.named_modules())
    tapped = modules.get(path)
    if is_bn(tapped):
        return path
    if tapped is None or "." not in path or any(True for _ in tapped.children()) or any(True for _ in tapped.parameters()):
        return None
    parent = path.rsplit(".", 1)[0]
    inside = [name for name, m in modules[parent].named_modules()
              if is_bn(m) and name.split(".", 1)[0] not in SHORTCUTS]
    return f"{parent}.{inside[-1]}" if inside else None


@LOSS_TERMS.register("ofd")
class OFD(LossTerm):
    needs_teacher = True

    def __init__(self, kernel_size: Count = 1, margin_bn: Features | None = None,
                 student: Features = "@preact[1:]", teacher: Features = "@preact[1:]"):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigError(f"ofd: kernel_size {kernel_size} must be odd (the connector keeps the feature's size)")
        self.kernel_size = int(kernel_size)
        self.margin_bn = feature_specs(margin_bn) if margin_bn is not None else None
        self.student_features, self.teacher_features = feature_specs(student), feature_specs(teacher)
        self.connectors = nn.ModuleList()
        self._bn_params: list[tuple[torch.Tensor, torch.Tensor]] = []

    def bind(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """Resolve the features, then read each margin's batch norm from the teacher (setup sees
        features only, not modules)."""
        super().bind(student, teacher)
        if teacher is None:
            raise ConfigError("ofd reads the teacher's batch norms: it needs a teacher")
        modules = dict(teacher.named_modules())
        if self.margin_bn is not None:
            paths = resolve_paths(teacher, self.margin_bn, "teacher")
            if len(paths) != len(self.teacher_features):
                raise ConfigError(f"ofd: margin_bn names {len(paths)} batch norms for {len(self.teacher_features)} "
                                  f"teacher features {list(self.teacher_features)}; give one per feature")
            for path in paths:
                if not is_bn(modules.get(path)):
                    what = "no module" if path not in modules else f"a {type(modules[path]).__name__}"
                    raise ConfigError(f"ofd: margin_bn '{path}' is {what} of the teacher, not an affine batch norm")
        else:
            paths = tuple(margin_bn_of(teacher, p) for p in self.teacher_features)
            for feature, path in zip(self.teacher_features, paths):
                if path is None:
                    what = "no module" if feature not in modules else f"a {type(modules[feature]).__name__}"
                    raise ConfigError(
                        f"ofd: no batch norm makes the teacher's '{feature}' ({what}): OFD's margin comes from the batch "
                        f"norm whose output is the pre-ReLU feature. Tap batch norms (on a pre-activation network, "
                        f"those that read each stage's output) as `teacher` and `student`, or name one per teacher "
                        f"feature in margin_bn")
        self._bn_params = [(modules[p].weight.detach().clone(), modules[p].bias.detach().clone()) for p in paths]
        self.margin_paths = paths

    def setup(self, ctx: TermSetup):
        s_paths, t_paths = self.student_features, self.teacher_features
        if len(s_paths) != len(t_paths) or not s_paths:
            raise ConfigError(f"ofd: the student features {list(s_paths)} and teacher features {list(t_paths)} "
                              f"must pair up one to one (give as many of each)")
        if len(self._bn_params) != len(t_paths):
            raise ConfigError("ofd: bind(student, teacher) must run before setup: the margins come from the teacher")
        for i, (s_path, t_path) in enumerate(zip(s_paths, t_paths)):
            s, t = ctx.features[s_path], ctx.teacher_features[t_path]
            for path, x in ((s_path, s), (t_path, t)):
                if x.dim() != 4:
                    raise ConfigError(f"ofd: feature '{path}' has shape {tuple(x.shape[1:])}; OFD distils maps (C, H, W)")
            weight, bias = self._bn_params[i]
            if weight.numel() != t.shape[1]:
                raise ConfigError(f"ofd: the margin's batch norm '{self.margin_paths[i]}' has {weight.numel()} channels, "
                                  f"teacher feature '{t_path}' {t.shape[1]}; name the right one in margin_bn")
            self.register_buffer(f"margin{i}", bn_margin(weight, bias).to(t.device)[None, :, None, None])
            conv_bn = connector(s.shape[1], t.shape[1], self.kernel_size).to(device=s.device)
            self.connectors.append(conv_bn.to(memory_format=torch.channels_last))

    def margins(self) -> list[torch.Tensor]:
        return [getattr(self, f"margin{i}") for i in range(len(self.connectors))]

    def forward(self, out: StepOutputs):
        student = [wide(out.features[p]) for p in self.student_features]
        teacher = [wide(out.teacher_features[p]).detach() for p in self.teacher_features]
        if self.training:
            one_value_per_channel("ofd", student, self.student_features)
        n = len(self.connectors)
        with exact(student[0].device):
            loss = 0.0
            for i, (conv_bn, margin, s, t) in enumerate(zip(self.connectors, self.margins(), student, teacher)):
                s = conv_bn(s)
                t = F.adaptive_avg_pool2d(t, s.shape[2:])
                loss = loss + partial_l2(s, t, margin.to(s.dtype)).mean() / 2 ** (n - 1 - i)
            return loss
