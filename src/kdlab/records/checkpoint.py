"""Checkpoints. Weights as safetensors (no pickle code can run on load); the training state as a tensors-only
torch file read back with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import RunError
from ..io import atomic_path


def save_weights(path: Path, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def load_weights(path: Path, model: nn.Module) -> None:
    if not Path(path).is_file():
        raise RunError(f"checkpoint {path} does not exist")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise RunError(f"checkpoint {path} is not a readable safetensors file ({e})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise RunError(
            f"checkpoint {path} is for another architecture than {type(model).__name__} "
            f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors, e.g. '{first}')"
        )
    model.load_state_dict(state)


def save_state(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unreadable or truncated: do not trust it
        raise RunError(f"training state {path} is unreadable ({e}); remove it to restart from scratch") from None
