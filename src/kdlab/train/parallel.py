"""Data-parallel training under `torchrun` (PyTorch DDP); one process is the case world = 1.

    torchrun --nproc-per-node 4 -m kdlab run CONFIG

Every rank draws the same global batch from the epoch's seeded permutation, augments it with the
same generator, and keeps its own contiguous shard: rank r trains on exactly the samples one
process would have given to positions [r·b, (r+1)·b) of that batch, so `train.batch_size` stays the
global batch. DDP averages gradients over ranks; each rank's loss is scaled by its share of the
batch, so a short last batch weighs samples as one process would. What still differs from one
process: BatchNorm statistics are per rank (as in plain DDP) and dropout draws per rank.

Rank 0 alone holds the run's lock and writes records; the others read its checkpoints to resume.
The backend is NCCL for CUDA devices and gloo on CPUs (how it is tested here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError, KdlabError

T = TypeVar("T")


def launched_ranks() -> int:
    """The number of processes torchrun started for this run (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_writer() -> bool:
    """Whether this process may print and write: rank 0, or the only process."""
    return os.environ.get("RANK", "0") == "0"


@dataclass(frozen=True)
class Ranks:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def writes(self) -> bool:
        return self.rank == 0

    @classmethod
    def join(cls, device_type: str) -> "Ranks":
        """This process's place among torchrun's processes; starts the process group on first use."""
        world = launched_ranks()
        if world == 1:
            return cls()
        if not dist.is_initialized():
            if device_type == "cuda":
                torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        return cls(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))

    def device(self, device: torch.device) -> torch.device:
        return torch.device("cuda", self.local_rank) if device.type == "cuda" and self.world > 1 else device

    def check(self, batch_size: int, has_probes: bool) -> None:
        if self.world == 1:
            return
        if batch_size % self.world:
            raise ConfigError(f"train.batch_size={batch_size} is the global batch and must split evenly over "
                              f"{self.world} processes; use a multiple of {self.world}")
        if has_probes:
            raise ConfigError("record.probes watch every step's whole batch, which no single process holds "
                              "under torchrun; run a run with probes in one process")

    def shard(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """This rank's contiguous part of a global batch; None when the batch is too short to give
        every rank a sample (only a last batch can be: it is skipped by all ranks alike)."""
        if self.world == 1:
            return batch
        n = len(batch["label"])
        if n < self.world:
            return None
        return {k: v.tensor_split(self.world)[self.rank] for k, v in batch.items()}

    def loss_share(self, local: int, total: int) -> float:
        """The factor that makes DDP's mean over ranks the mean over the global batch's samples."""
        return 1.0 if self.world == 1 else local * self.world / total

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        ids = [self.local_rank] if next(model.parameters()).is_cuda else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def average_grads(self, params: list[nn.Parameter]) -> None:
        """Average gradients of parameters DDP does not own (a loss term's own, e.g. a regressor)."""
        grads = [p.grad for p in params if p.grad is not None]
        if self.world == 1 or not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(values)
        return values

    def on_writer(self, fn: Callable[[], T]) -> T:
        """`fn()` run by rank 0 alone; its result on every rank, or its KdlabError raised on every rank
        (so that all processes stop with the same one-line error instead of waiting for each other)."""
        if self.world == 1:
            return fn()
        result, error = None, None
        if self.writes:
            try:
                result = fn()
            except KdlabError as e:
                error = e
        result, error = self.from_writer((result, error))
        if error is not None:
            raise error
        return result

    def wait(self) -> None:
        """Until every rank has come here."""
        if self.world > 1:
            dist.barrier()

    def from_writer(self, obj: T) -> T:
        """Rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out


def shutdown(finished: bool) -> None:
    """End the process group. After a normal finish, wait for every rank first: a rank that tears
    its group down while another still receives (the summary's broadcast) aborts that one."""
    if dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
