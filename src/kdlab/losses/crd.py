"""Contrastive representation distillation (Tian et al., "Contrastive Representation Distillation",
ICLR 2020).

Student and teacher features are embedded by learned heads (linear to `feat_dim`, then l2-normalised):
v_s, v_t. Two memory banks of num_train x feat_dim rows hold a momentum average of each training
sample's student and teacher embeddings. For a batch sample i (row y_i of the training split) and
`nce_k` rows j drawn uniformly from the training split, the teacher-anchored scores are
P_t(j) = exp(v_t . M_s[j] / nce_t) / Z_t against the student bank, and the student-anchored ones
P_s(j) = exp(v_s . M_t[j] / nce_t) / Z_s against the teacher bank. With M = num_train and K = nce_k,
NCE (the reference's ContrastLoss, its Eq. 18) gives each side

  L = -1/B sum_i [ log P(y_i) / (P(y_i) + K/M + eps) + sum_j log (K/M) / (P(j) + K/M + eps) ],  eps = 1e-7,

and the term is L_s + L_t. Z_s and Z_t are estimated once, on the first training batch, as
M times the mean of that batch's exp(score / nce_t) (the positives and the negatives), and then kept.
After each step the banks' rows of the batch move to the new embeddings:
M[y] <- normalise(nce_m * M[y] + (1 - nce_m) * v). The banks start uniform in +-1/sqrt(feat_dim / 3).

Follows RepDistiller (crd/criterion.py: CRDLoss, Embed, ContrastLoss; crd/memory.py: ContrastMemory;
defaults from train_student.py: feat_dim 128, nce_k 16384, nce_t 0.07, nce_m 0.5); mdistiller's
distillers/CRD.py is the same code. What differs, and why:
- Negatives (`negatives`): `other_class` (default), as the references' training scripts draw them:
  `contrast_idx` from CIFAR100InstanceSample (mode "exact"), K rows drawn with replacement from the
  training samples of other classes than the positive's (its training label, label noise included).
  `any`: uniformly over all training rows, what ContrastMemory draws without `contrast_idx` (its
  AliasMethod over equal weights); a draw may then hit the positive's own row. Either way from
  torch's generator of the features' device, so a run resumed on CPU draws what the uninterrupted
  run drew.
- Scores are computed in log space (log P = score / nce_t - log Z, log(P + c) by logaddexp) and Z is
  kept as log Z: the same values where the reference's exp does not overflow, finite where it would
  (small nce_t). The l2 normalisation divides by the row's largest magnitude first, so huge features
  do not overflow the norm; an all-zero row stays zero instead of the reference's 0/0.
- The term computes in float32 (at least) outside autocast, as kdlab's feature terms do.

Features: `student` and `teacher` (default `@embedding`, the reference's pooled feature, its
feat[-1]), one each; maps are flattened. Learns the two heads (parameters); keeps the two banks and
log Z (`log_z`: student-anchored, teacher-anchored; nan until the first batch) as buffers, saved with
the run's checkpoints. For small CPU runs scale `nce_k` and `feat_dim` down by options; the banks hold
2 x num_train x feat_dim floats, and each step gathers 2 x B x (nce_k + 1) x feat_dim of them.
Refused under torchrun: the banks would be per process, each updated from its own shard (the
references train CRD in one process).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from ..values import Count, Fraction, Positive
from .base import LOSS_TERMS, LossTerm, StepOutputs, TermSetup
from .pairs import exact, wide

EPS = 1e-7  # the reference's eps in the NCE denominators


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row divided by its l2 norm; scaled by its largest magnitude first, so no square overflows
    or underflows (the result and its gradient do not depend on that scale). An all-zero row stays
    zero, with F.normalize's finite gradient there."""
    peak = x.detach().abs().amax(1, keepdim=True)
    x = x / torch.where(peak > 0, peak, torch.ones_like(peak))
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)


def nce_loss(log_p: torch.Tensor, num_train: int) -> torch.Tensor:
    """NCE over (B, K + 1) log-probabilities, the positive first: -1/B sum of the log posteriors that
    the positive came from the data and each negative from the noise (prior K/M each)."""
    k = log_p.shape[1] - 1
    noise = k / num_train
    log_den = torch.logaddexp(log_p, log_p.new_tensor(math.log(noise + EPS)))
    data = (log_p[:, 0] - log_den[:, 0]).sum()
    rest = (math.log(noise) - log_den[:, 1:]).sum()
    return -(data + rest) / log_p.shape[0]


@LOSS_TERMS.register("crd")
class CRD(LossTerm):
    needs_teacher = True

    def __init__(self, feat_dim: Count = 128, nce_k: Count = 16384, nce_t: Positive = 0.07, nce_m: Fraction = 0.5,
                 negatives: Literal["other_class", "any"] = "other_class", student: str = "@embedding",
                 teacher: str = "@embedding"):
        super().__init__()
        self.feat_dim, self.nce_k, self.nce_t, self.nce_m = int(feat_dim), int(nce_k), float(nce_t), float(nce_m)
        self.negatives = negatives
        self.student_features, self.teacher_features = (student,), (teacher,)
        self.embed_student: nn.Linear | None = None
        self.embed_teacher: nn.Linear | None = None
        self.num_train = 0

    def setup(self, ctx: TermSetup):
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise ConfigError(f"crd keeps its memory banks per process: under torchrun ({dist.get_world_size()} "
                              f"processes) each would see only its own shard of every batch, and a resumed run would "
                              f"restart every rank from rank 0's banks; run crd in one process")
        for role, paths in (("student", self.student_features), ("teacher", self.teacher_features)):
            if len(paths) != 1:
                raise ConfigError(f"crd reads one {role} feature; '{role}' gives {len(paths)}: {list(paths)} "
                                  f"(index a symbolic name, e.g. @stages[-1])")
        s = ctx.features[self.student_features[0]]
        t = ctx.teacher_features[self.teacher_features[0]]
        self.num_train = int(ctx.num_train)
        # In the reference's order: the heads, then the student's bank, then the teacher's.
        self.embed_student = nn.Linear(s[0].numel(), self.feat_dim).to(s.device)
        self.embed_teacher = nn.Linear(t[0].numel(), self.feat_dim).to(s.device)
        bound = 1.0 / math.sqrt(self.feat_dim / 3)
        for name in ("memory_student", "memory_teacher"):
            bank = torch.rand(self.num_train, self.feat_dim) * (2 * bound) - bound
            self.register_buffer(name, bank.to(s.device))
        self.register_buffer("log_z", torch.full((2,), float("nan"), device=s.device))
        if self.negatives == "other_class":
            self.index_classes(ctx.train_labels, s.device)

    def index_classes(self, labels: torch.Tensor | None, device: torch.device) -> None:
        """The training rows sorted by label, and where each class's block starts and how long it is:
        a draw among the other classes' rows is then a uniform draw over the rows outside one block.
        Not saved with the run (they are the data's)."""
        if labels is None:
            raise ConfigError("crd with negatives 'other_class' needs the training labels (TermSetup.train_labels); "
                              "give them, or negatives 'any'")
        labels = labels.to(device=device, dtype=torch.long)
        if len(labels) != self.num_train:
            raise ConfigError(f"crd: {len(labels)} training labels for {self.num_train} training rows")
        count = torch.bincount(labels)
        if int(count.max()) == self.num_train:
            raise ConfigError("crd with negatives 'other_class' needs training samples of at least two classes; "
                              "use negatives 'any'")
        self.register_buffer("row_label", labels, persistent=False)
        self.register_buffer("by_label", torch.argsort(labels, stable=True), persistent=False)
        self.register_buffer("class_count", count, persistent=False)
        self.register_buffer("class_start", torch.cumsum(count, 0) - count, persistent=False)

    def embed(self, out: StepOutputs) -> tuple[torch.Tensor, torch.Tensor]:
        s = wide(out.features[self.student_features[0]])
        t = wide(out.teacher_features[self.teacher_features[0]]).detach()
        return unit_rows(self.embed_student(s.flatten(1))), unit_rows(self.embed_teacher(t.flatten(1)))

    def draw(self, position: torch.Tensor) -> torch.Tensor:
        """(B, K + 1) rows of the banks: each sample's own row, then K drawn uniformly with replacement,
        from the other classes' rows (`other_class`) or from all rows (`any`)."""
        shape = (len(position), self.nce_k)
        if self.negatives == "any":
            drawn = torch.randint(self.num_train, shape, device=position.device)
        else:
            label = self.row_label[position]
            start, count = self.class_start[label][:, None], self.class_count[label][:, None]
            others = self.num_train - count
            # the u-th of the rows outside the class's block, in label order
            u = (torch.rand(shape, device=position.device, dtype=torch.float64) * others).long().clamp_max(others - 1)
            drawn = self.by_label[u + (u >= start) * count]
        return torch.cat([position[:, None], drawn], 1)

    def contrast(self, v_s: torch.Tensor, v_t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The two NCE losses on given rows (B, K + 1); sets log Z on first use. Does not touch the banks."""
        scores = []
        for v, bank in ((v_s, self.memory_teacher), (v_t, self.memory_student)):
            weights = bank.index_select(0, rows.flatten()).view(*rows.shape, -1)
            scores.append(torch.bmm(weights, v[:, :, None]).squeeze(2) / self.nce_t)
        scores = torch.stack(scores)  # (2, B, K + 1)
        with torch.no_grad():  # M * mean(exp(score)) per side, in log space; kept once set
            count = scores[0].numel()
            estimate = torch.logsumexp(scores.flatten(1), 1) - math.log(count) + math.log(self.num_train)
            self.log_z.copy_(torch.where(torch.isnan(self.log_z), estimate, self.log_z))
        log_p = scores - self.log_z[:, None, None]
        return nce_loss(log_p[0], self.num_train) + nce_loss(log_p[1], self.num_train)

    @torch.no_grad()
    def update_memory(self, v_s: torch.Tensor, v_t: torch.Tensor, position: torch.Tensor) -> None:
        """Rows `position` of each bank <- normalise(nce_m * row + (1 - nce_m) * v); other rows stay."""
        for bank, v in ((self.memory_student, v_s), (self.memory_teacher, v_t)):
            mixed = bank.index_select(0, position) * self.nce_m + v.to(bank.dtype) * (1 - self.nce_m)
            bank.index_copy_(0, position, mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True).clamp_min(1e-12))

    def forward(self, out: StepOutputs):
        position = out.batch["position"]
        with exact(position.device):
            v_s, v_t = self.embed(out)
            loss = self.contrast(v_s, v_t, self.draw(position))
        self.update_memory(v_s.detach(), v_t.detach(), position)
        return loss
