"""P1 App. C.5: are the per-channel updates constructive?"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import PROBES, Probe, mu_star


@PROBES.register("constructive_updates")
class ConstructiveUpdates(Probe):
    """P1 §C.5: is the update a (x, k) pair sends to w_k constructive? With q the loss's target and
    p the student's probabilities (both at the loss's temperature), the negative gradient on w_k is
    (q_k - p_k) x_k, constructive when (q_k - p_k)(x_k . mu*_k) > 0. Counted over the non-zero
    channels, for the one-hot target and, where a teacher is present, the distillation target.
    Four counting rules, because P1 states its one-hot rule but not how it counted distillation:
      constructive_<t>      the rule above, over the non-zero channels (kdlab's);
      constructive_all_<t>  the same over all K channels, a zero channel counting as harmless;
      sign_rule_<t>         P1's literal rule over all (x, k): right when (x_k . mu*_k > 0) == (q_k > 0).
                            Soft targets are never 0, so for distillation it is capped near
                            (1 + similar channels) / K, about 40%: it cannot give P1's 97.77%;
      logit_rule_kd         "non-zero target" read as a positive teacher logit: (x_k . mu*_k > 0) == (f_k > 0)."""

    def __init__(self, dataset, model, config, objective, pipeline):
        self.mu = mu_star(dataset, "constructive_updates")
        self.T = objective.temperature()  # None without distillation: then no KD counts are taken
        self.sums: dict[str, torch.Tensor] = {}  # on the device: read once an epoch, not every step
        self.steps = 0

    def _add(self, name: str, q: torch.Tensor, p: torch.Tensor, dots: torch.Tensor, nonzero: torch.Tensor,
             teacher_logits: torch.Tensor | None = None) -> None:
        constructive = ((q - p) * dots > 0) & nonzero
        fractions = {f"constructive_{name}": constructive.sum() / nonzero.sum().clamp_min(1),
                     # over all K channels: a zero channel gets no update, so it does no harm
                     f"constructive_all_{name}": (constructive | ~nonzero).float().mean(),
                     f"sign_rule_{name}": ((dots > 0) == (q > 0)).float().mean()}
        if teacher_logits is not None:  # "non-zero target" read as a positive teacher logit
            fractions[f"logit_rule_{name}"] = ((dots > 0) == (teacher_logits > 0)).float().mean()
        for key, value in fractions.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    @torch.no_grad()
    def on_step(self, step, batch, logits, teacher_logits, model):
        x, y = batch["inputs"], batch["label"]
        if self.mu.device != x.device:  # moved once, on the first step
            self.mu = self.mu.to(x.device)
        dots = torch.einsum("nkd,kd->nk", x, self.mu)
        nonzero = x.abs().sum(-1) > 0
        k = logits.shape[1]
        self._add("onehot", F.one_hot(y, k).float(), logits.softmax(1), dots, nonzero)
        if teacher_logits is not None and self.T is not None:
            self._add("kd", (teacher_logits / self.T).softmax(1), (logits / self.T).softmax(1), dots, nonzero,
                      teacher_logits)
        self.steps += 1

    def epoch_metrics(self, model):
        out = {k: float(v) / self.steps for k, v in self.sums.items()} if self.steps else {}
        self.sums, self.steps = {}, 0
        return out
