"""Training on several processes: `torchrun --nproc-per-node N -m train fit ...`.

torchrun starts N copies of the command and tells each one its place in the environment
(`WORLD_SIZE`, `RANK`, `LOCAL_RANK`, and where they meet, `MASTER_ADDR:MASTER_PORT`). `session`
joins them into one process group for the length of a `fit` (NCCL between GPUs, Gloo between CPU
processes) and gives each process its GPU (the one numbered `LOCAL_RANK` on its node). `Session`
holds the few collective steps the training loop needs. A process started without torchrun gets
a session of one whose steps are no-ops, so a single-process run computes exactly what it did
before distributed training existed.

Errors: every rank runs the same code on the same files, so a mistake in the input (a missing
pickle, an unknown split) fails on every rank at once, and a failure on one rank (a GPU out of
memory, a full disk on the rank that writes) makes the others' next collective fail with "peer
closed". Either way the run must end with one line, not N copies of it or N-1 follow-on errors.
So the first rank to fail claims the report with an atomic counter in the rendezvous store,
which every process can reach, and says why; the others end quietly (`ReportedElsewhere`), and
torchrun, seeing a process exit non-zero, stops the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from skelcam.train.errors import ReportedElsewhere, SkelcamError

# How long a failing rank waits for the rendezvous store when claiming the error report; a store
# that does not answer within it has gone with the process that hosted it, which failed first.
CLAIM_TIMEOUT = timedelta(seconds=10)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def pick_device(name: str) -> torch.device:
    """The device of a single-process run: `auto` is CUDA when torch sees a GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SkelcamError(f"device '{name}' asked for, but torch sees no CUDA GPU")
    return torch.device(name)


@dataclass
class Session:
    """This process's place in the run, and the collectives that keep the ranks in step."""

    device: torch.device
    rank: int = 0
    world: int = 1
    store: dist.Store | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0 is the one that prints and writes files."""
        return self.rank == 0

    def sum(self, values: Sequence[float]) -> list[float]:
        """`values` summed over the ranks (float64: exact for the counts it carries)."""
        if self.world == 1:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return total.tolist()

    def average_batchnorm(self, model: nn.Module) -> None:
        """Average the BatchNorm running statistics over the ranks.

        DDP is built with `forward_sync_buffers=False`, so each rank's statistics follow the
        batches of its own shard (instead of being overwritten by rank 0's before every step,
        which would make the saved statistics rank 0's shard's alone). Averaging them once an
        epoch gives every rank the same statistics, estimated from all of the epoch's windows,
        before validation and the checkpoint.
        """
        if self.world == 1:
            return
        for module in model.modules():
            if isinstance(module, BATCHNORMS) and module.running_mean is not None:
                for stat in (module.running_mean, module.running_var):
                    dist.all_reduce(stat)
                    stat.div_(self.world)

    def gather(self, value: str) -> list[str]:
        """Every rank's `value`, in rank order."""
        if self.world == 1:
            return [value]
        values: list[str] = [""] * self.world
        dist.all_gather_object(values, value)
        return values

    def write_on_main(self, write: Callable[[], object]) -> None:
        """Run `write` on rank 0 only; every rank returns once it is done.

        One writer, because the ranks hold the same weights and usually share the output folder.
        The barrier means that when the next epoch starts, or `fit` returns on any rank, the
        file is complete, whichever process looks at it (a resume, an export, a test).
        """
        if self.is_main:
            write()
        if self.world > 1:
            dist.barrier()

    def claim_report(self) -> bool:
        """Whether this rank is the first of the run to fail, and so the one to say why."""
        if self.store is None:
            return True
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        try:
            self.store.set_timeout(CLAIM_TIMEOUT)
            return self.store.add(f"skelcam/failures/{restart}", 1) == 1
        except RuntimeError:  # torch.distributed.DistError included
            return False


_active: Session | None = None


@contextmanager
def session(device_name: str) -> Iterator[Session]:
    """This process's `Session`: a process group when started by torchrun, else a run of one.

    Re-entrant, so that `python -m train fit` can open it around loading the data (whose errors
    then get one report too) and `train.fit.fit` around training, for callers that use it alone;
    a nested call gets the outer session, device included.
    On leaving, the process group is destroyed (also after an error: a process that exits with a
    live Gloo group aborts instead of exiting with its status).
    """
    global _active
    if _active is not None:
        yield _active
        return
    if "WORLD_SIZE" not in os.environ:
        _active = Session(pick_device(device_name))
        try:
            yield _active
        finally:
            _active = None
        return
    try:
        local_rank = int(os.environ["LOCAL_RANK"])
        store, rank, world = next(dist.rendezvous("env://"))
    except (KeyError, ValueError, RuntimeError) as exc:
        raise SkelcamError(f"WORLD_SIZE is set, but this process cannot join the others "
                           f"(start it with torchrun): {str(exc).splitlines()[0]}") from None
    _active = Session(torch.device("cpu"), rank, world, store)
    # The group's keys under the prefix torch's own env:// initialisation gives them; the
    # store itself is kept for `claim_report`, which works even before the group exists.
    group_store = dist.PrefixStore("default_pg", store)
    try:
        _active.device = _rank_device(device_name, local_rank)
        if _active.device.type == "cuda":
            torch.cuda.set_device(_active.device)
            dist.init_process_group("nccl", store=group_store, rank=rank, world_size=world,
                                    device_id=_active.device)
        else:
            dist.init_process_group("gloo", store=group_store, rank=rank, world_size=world)
        yield _active
    except BaseException as exc:
        if not _active.claim_report():
            raise ReportedElsewhere from exc
        if isinstance(exc, SkelcamError) and world > 1:
            raise SkelcamError(f"rank {rank}: {exc}") from None
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        _active = None


def _rank_device(name: str, local_rank: int) -> torch.device:
    """A torchrun process's device: CPU, or its node's GPU number `LOCAL_RANK`."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise SkelcamError(f"under torchrun --device is auto, cpu or cuda, not '{name}': each "
                           "process takes the GPU numbered by its LOCAL_RANK")
    count = torch.cuda.device_count()
    if count == 0:
        raise SkelcamError("device 'cuda' asked for, but torch sees no CUDA GPU")
    if local_rank >= count:
        raise SkelcamError(f"LOCAL_RANK {local_rank}, but torch sees {count} GPU(s) here: start "
                           f"at most {count} processes per node (--nproc-per-node)")
    return torch.device("cuda", local_rank)
