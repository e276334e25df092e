"""P1 App. C.4: the weight trajectory projected on the eigendirections of what the trained layer sees."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..values import Count
from .base import PROBES, Probe


@PROBES.register("eigen_projections")
class EigenProjections(Probe):
    """P1 §C.4: the weight trajectory projected on the eigendirections v_j of the Gram matrix of
    what the trained layer sees: random features (random_features: head) or inputs (mlp: first
    layer). Records ||(W_t - W_0) v_j|| after every step, for the top `count` directions: the
    displacement from initialisation, so that runs from different random inits are comparable and
    an MLP's large random first layer does not drown what training adds. P1's own measure, the raw
    ||W_t v_j||, is recorded beside it (`raw_projections`)."""

    def __init__(self, dataset, model, config, objective, pipeline, count: Count = 64):
        x = pipeline.eval(dataset.train.batch())["inputs"]
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
        self.proj: list[np.ndarray] = []
        self.raw: list[np.ndarray] = []
        self._record()

    def _record(self) -> None:
        w = self.layer.weight.detach().float().cpu()  # (out, d)
        self.proj.append(torch.linalg.vector_norm((w - self.initial) @ self.directions.T, dim=0).numpy())
        self.raw.append(torch.linalg.vector_norm(w @ self.directions.T, dim=0).numpy())

    def on_step(self, step, batch, logits, teacher_logits, model):
        self.steps.append(step + 1)
        self._record()

    def state(self):
        return {"steps": np.array(self.steps), "projections": np.stack(self.proj), "raw_projections": np.stack(self.raw),
                "eigenvalues": self.eigenvalues, "initial": self.initial.numpy()}

    def load(self, state, step):
        keep = state["steps"] <= step
        self.initial = torch.as_tensor(state["initial"])
        self.steps = state["steps"][keep].tolist()
        self.proj = list(state["projections"][keep])
        self.raw = list(state["raw_projections"][keep])
