"""Per-sample teacher and student quantities, computed stably from logits.

phi(u) = log(u / (1 - u)). For the probability of class y, phi(p_y) = f_y - logsumexp_{k != y} f_k:
no log 0, and exact for saturated probabilities where p_y rounds to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _tensor(a) -> torch.Tensor:
    t = torch.as_tensor(a)
    return t if t.is_floating_point() else t.float()


def logit_margin(logits, cls) -> np.ndarray:
    """phi(softmax(logits)[cls]) per row, as f_cls - logsumexp of the other logits."""
    f = _tensor(logits)
    return _margin_exact(f, torch.as_tensor(cls, dtype=torch.int64)).numpy()


def _margin_exact(f: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    idx = cls.view(-1, 1)
    return f.gather(1, idx).squeeze(1) - torch.logsumexp(f.scatter(1, idx, float("-inf")), dim=1)


class _Softmax:
    """One pass of softmax statistics per model, shared by every quantity of the analysis.

    phi of a row's top class needs log(1 - p_top) = log(sum of the other exponentials / sum of
    all): summing the others directly avoids the cancellation of 1 - p_top. For any other class
    p <= 1/2, so log1p(-p) is exact. Rows whose other exponentials underflow (a logit gap beyond
    ~70) fall back to the exact masked logsumexp.
    """

    def __init__(self, f: torch.Tensor):
        self.f = f
        top, self.argmax = f.max(1, keepdim=True)
        e = (f - top).exp_()
        total = e.sum(1, keepdim=True)
        e.scatter_(1, self.argmax, 0.0)
        rest = e.sum(1)
        e.scatter_(1, self.argmax, 1.0)
        self.log_p = f - (top + total.log())
        self.p = e.div_(total)
        self.argmax = self.argmax.squeeze(1)
        self.log_rest_of_top = (rest / total.squeeze(1)).log()
        self.underflow = rest < torch.finfo(f.dtype).tiny * 1e6

    def log_odds(self, cls: torch.Tensor) -> torch.Tensor:
        idx = cls.view(-1, 1)
        log_p = self.log_p.gather(1, idx).squeeze(1)
        is_top = cls == self.argmax
        out = log_p - torch.where(is_top, self.log_rest_of_top, torch.log1p(-self.p.gather(1, idx).squeeze(1)))
        fix = (is_top & self.underflow).nonzero().squeeze(1)
        if len(fix):
            out[fix] = _margin_exact(self.f[fix], cls[fix])
        return out

    def cross_entropy_from(self, other: "_Softmax") -> torch.Tensor:
        """-sum_k p_other log p_self per row; a fused row-wise dot (einsum), no n x K temporary."""
        return -torch.einsum("nk,nk->n", other.p, self.log_p)

    def kl_from(self, other: "_Softmax") -> torch.Tensor:
        """KL(p_other || p_self) per row in log space, sum_k p_other (log p_other - log p_self): never
        below 0 (CE - H cancels to negative rounding errors for nearly equal rows: 29% of KLs near 4e-9
        came out negative in float32)."""
        return torch.einsum("nk,nk->n", other.p, other.log_p - self.log_p).clamp_min_(0.0)


@dataclass
class Deviations:
    """Everything P1's scatter plots need, one entry per sample."""

    x: np.ndarray  # phi(p_te[y_te]): the teacher's confidence in its own prediction
    y: np.ndarray  # phi(p_st[y_te]): the student's probability of the teacher's prediction
    x_label: np.ndarray  # phi(p_te[y*]) for the label y* (Fig 11)
    y_label: np.ndarray  # phi(p_st[y*])
    p_teacher: np.ndarray  # p_te[y_te]
    p_student: np.ndarray  # p_st[y_te]
    entropy_teacher: np.ndarray
    entropy_student: np.ndarray
    kl: np.ndarray  # KL(p_te || p_st)
    teacher_pred: np.ndarray
    student_pred: np.ndarray
    label: np.ndarray
    noisy: np.ndarray | None = None
    # Where known (from recorded predictions): the samples' ids, and the labels trained on and before noise
    index: np.ndarray | None = None
    trained_label: np.ndarray | None = None
    orig_label: np.ndarray | None = None

    @property
    def teacher_correct(self) -> np.ndarray:
        return self.teacher_pred == self.label

    @property
    def student_correct(self) -> np.ndarray:
        return self.student_pred == self.label

    def __len__(self) -> int:
        return len(self.x)


def deviations(teacher_logits, student_logits, labels, noisy=None, index=None) -> Deviations:
    """Teacher vs student per sample. `labels` is the class y* of the ground-truth variant; `index`
    the samples' ids, kept beside the numbers."""
    with torch.inference_mode():
        ft, fs = _tensor(teacher_logits), _tensor(student_logits)
        if ft.shape != fs.shape:
            raise ValueError(f"teacher logits {tuple(ft.shape)} and student logits {tuple(fs.shape)} differ in shape")
        labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        te, st = _Softmax(ft), _Softmax(fs)
        y_te = te.argmax
        h_te = te.cross_entropy_from(te)
        return Deviations(
            x=te.log_odds(y_te).numpy(),
            y=st.log_odds(y_te).numpy(),
            x_label=te.log_odds(labels_t).numpy(),
            y_label=st.log_odds(labels_t).numpy(),
            p_teacher=te.p.gather(1, y_te.view(-1, 1)).squeeze(1).numpy(),
            p_student=st.p.gather(1, y_te.view(-1, 1)).squeeze(1).numpy(),
            entropy_teacher=h_te.numpy(),
            entropy_student=st.cross_entropy_from(st).numpy(),
            kl=st.kl_from(te).numpy(),
            teacher_pred=y_te.numpy(),
            student_pred=st.argmax.numpy(),
            label=labels_t.numpy(),
            noisy=None if noisy is None else np.asarray(noisy, dtype=bool),
            index=None if index is None else np.asarray(index),
        )
