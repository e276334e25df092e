"""Probes: measurements taken inside the training loop, named in `record.probes`.

A probe sees every step (the batch, the student's and teacher's logits before the update, the
model after it), adds numbers to each epoch's metrics row and to the summary, and may keep arrays
(saved with every checkpoint, so a resumed run ends with the same record).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

PROBES = Registry("probe", context=("dataset", "model", "config", "inputs"))


class Probe:
    def on_step(self, step: int, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor,
                teacher_logits: torch.Tensor | None, model: nn.Module) -> None:
        pass

    def epoch_metrics(self, model: nn.Module) -> dict[str, float]:
        return {}

    def summary(self, model: nn.Module) -> dict:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, state: dict[str, np.ndarray], step: int) -> None:
        pass


def _mu_star(dataset, name: str) -> torch.Tensor:
    mu = dataset.extras.get("mu_star")
    if mu is None:
        raise ConfigError(f"probe '{name}' needs a dataset with true class directions (synthetic-channels), not '{dataset.name}'")
    return mu


@PROBES.register("constructive_updates")
class ConstructiveUpdates(Probe):
    """P1 §C.5: is the update a (x, k) pair sends to w_k constructive? With q the loss's target and
    p the student's probabilities (both at the loss's temperature), the negative gradient on w_k is
    (q_k - p_k) x_k, constructive when (q_k - p_k)(x_k . mu*_k) > 0. Counted over the non-zero
    channels, for the one-hot target and, where a teacher is present, the distillation target.
    P1's own rule is kept too: over all (x, k), sign-correct when (x_k . mu*_k > 0) == (q_k > 0)."""

    def __init__(self, dataset, model, config, inputs):
        self.mu = _mu_star(dataset, "constructive_updates")
        self.T = config.loss.temperature
        self.sums: dict[str, torch.Tensor] = {}  # on the device: read once an epoch, not every step
        self.steps = 0

    def _add(self, name: str, q: torch.Tensor, p: torch.Tensor, dots: torch.Tensor, nonzero: torch.Tensor) -> None:
        constructive = ((q - p) * dots > 0) & nonzero
        fractions = {f"constructive_{name}": constructive.sum() / nonzero.sum().clamp_min(1),
                     f"sign_rule_{name}": ((dots > 0) == (q > 0)).float().mean()}
        for key, value in fractions.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    @torch.no_grad()
    def on_step(self, step, x, y, logits, teacher_logits, model):
        if self.mu.device != x.device:  # moved once, on the first step
            self.mu = self.mu.to(x.device)
        dots = torch.einsum("nkd,kd->nk", x, self.mu)
        nonzero = x.abs().sum(-1) > 0
        k = logits.shape[1]
        self._add("onehot", F.one_hot(y, k).float(), logits.softmax(1), dots, nonzero)
        if teacher_logits is not None:
            self._add("kd", (teacher_logits / self.T).softmax(1), (logits / self.T).softmax(1), dots, nonzero)
        self.steps += 1

    def epoch_metrics(self, model):
        out = {k: float(v) / self.steps for k, v in self.sums.items()} if self.steps else {}
        self.sums, self.steps = {}, 0
        return out


@PROBES.register("channel_alignment")
class ChannelAlignment(Probe):
    """cos(w_k, mu*_k) per class of a channel_linear model (P1 Fig 23 middle)."""

    def __init__(self, dataset, model, config, inputs):
        self.mu = _mu_star(dataset, "channel_alignment")
        if not isinstance(getattr(model, "weight", None), torch.Tensor) or model.weight.shape != self.mu.shape:
            raise ConfigError("probe 'channel_alignment' needs the channel_linear model")

    def _cos(self, model) -> torch.Tensor:
        return F.cosine_similarity(model.weight.detach().float().cpu(), self.mu, dim=1)

    def epoch_metrics(self, model):
        return {"mean_channel_cos": self._cos(model).mean().item()}

    def summary(self, model):
        return {"channel_cos": self._cos(model).tolist()}


@PROBES.register("eigen_projections")
class EigenProjections(Probe):
    """P1 §C.4: the weight trajectory projected on the eigendirections v_j of the Gram matrix of
    what the trained layer sees: random features (random_features: head) or inputs (mlp: first
    layer). Records ||(W_t - W_0) v_j|| after every step, for the top `count` directions: the
    displacement from initialisation, so that runs from different random inits are comparable and
    an MLP's large random first layer does not drown what training adds."""

    def __init__(self, dataset, model, config, inputs, count: int = 64):
        x = inputs(dataset.train.x)
        if hasattr(model, "features") and hasattr(model, "head"):
            self.layer = model.head
            with torch.no_grad():
                reps = model.features(x)
        elif hasattr(model, "net") and isinstance(model.net[1], nn.Linear):
            self.layer = model.net[1]
            reps = x.flatten(1)
        else:
            raise ConfigError("probe 'eigen_projections' needs the random_features or mlp model")
        # Right singular vectors of the n x d representation = eigenvectors of its d x d Gram matrix.
        _, s, vh = torch.linalg.svd(reps.double().cpu(), full_matrices=False)
        self.directions = vh[:count].float()  # (count, d), by decreasing eigenvalue
        self.initial = self.layer.weight.detach().float().cpu().clone()
        self.eigenvalues = (s[:count] ** 2).numpy()
        self.steps: list[int] = [0]
        self.proj: list[np.ndarray] = [self._project()]

    def _project(self) -> np.ndarray:
        w = self.layer.weight.detach().float().cpu() - self.initial  # (out, d)
        return torch.linalg.vector_norm(w @ self.directions.T, dim=0).numpy()

    def on_step(self, step, x, y, logits, teacher_logits, model):
        self.steps.append(step + 1)
        self.proj.append(self._project())

    def state(self):
        return {"steps": np.array(self.steps), "projections": np.stack(self.proj), "eigenvalues": self.eigenvalues,
                "initial": self.initial.numpy()}

    def load(self, state, step):
        keep = state["steps"] <= step
        self.initial = torch.as_tensor(state["initial"])
        self.steps = state["steps"][keep].tolist()
        self.proj = list(state["projections"][keep])


def build_probes(names: list[str], dataset, model, config, inputs) -> dict[str, Probe]:
    return {n: PROBES.build(n, {}, dataset=dataset, model=model, config=config, inputs=inputs) for n in names}


def save_probe_states(path, probes: dict[str, Probe]) -> None:
    from ..io import write_npz

    arrays = {f"{name}/{k}": v for name, p in probes.items() for k, v in p.state().items()}
    if arrays:
        write_npz(path, **arrays)


def load_probe_states(path, probes: dict[str, Probe], step: int) -> None:
    if not probes or not path.is_file():
        return
    with np.load(path, allow_pickle=False) as z:
        for name, p in probes.items():
            state = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{name}/")}
            if state:
                p.load(state, step)
