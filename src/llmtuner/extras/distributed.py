"""Process-group set-up around the trainer: several processes on a machine without CUDA, and a clean exit.

Why this exists: without a CUDA device, transformers builds accelerate's state with no communication backend,
and accelerate then counts one process even when torchrun/deepspeed started two. Two-process ZeRO then either
fails DeepSpeed's batch-size check or -- worse -- trains every rank on the same batches; without DeepSpeed each
rank trains alone, on all the data, and both write the same output folder. Creating the state ourselves with the
gloo backend (and telling the trainer to use it) makes the ranks one data-parallel run. On a GPU nothing here
runs: the trainer's own NCCL set-up is the right one.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from .logging import get_logger

logger = get_logger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_cpu_process_group(training_kwargs: dict[str, Any]) -> None:
    """Before Seq2SeqTrainingArguments is built, on a machine without CUDA: a gloo process group for DeepSpeed (even
    in a single process: DeepSpeed needs one) and for a launch of several processes.

    Adds `accelerator_config.use_configured_state` to `training_kwargs` so the trainer keeps that state.
    """
    deepspeed = bool(training_kwargs.get("deepspeed"))
    if not deepspeed and launched_world_size() <= 1:
        return
    import torch

    if torch.cuda.is_available():
        return
    if "LOCAL_RANK" not in os.environ:  # plain `python train.py`: a world of one, no launcher
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    from accelerate import PartialState

    previous = os.environ.get("ACCELERATE_USE_DEEPSPEED")
    if deepspeed:
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"  # makes PartialState take the DeepSpeed path
    else:
        training_kwargs["use_cpu"] = True  # the trainer's own PartialState(cpu=...) must match the one made here
    try:
        # cpu=True is what makes accelerate count the launched processes (MULTI_CPU) rather than train each alone
        state = PartialState(backend="gloo", cpu=not deepspeed)
    finally:  # leave the variable as the launcher set it (accelerate launch --use_deepspeed sets it too)
        if previous is None:
            os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)
        else:
            os.environ["ACCELERATE_USE_DEEPSPEED"] = previous
    accelerator_config = dict(training_kwargs.get("accelerator_config") or {})
    accelerator_config["use_configured_state"] = True
    training_kwargs["accelerator_config"] = accelerator_config
    logger.info("%s on CPU: gloo process group, rank %d of %d.", "DeepSpeed" if deepspeed else "Data-parallel training",
                state.process_index, state.num_processes)


def cleanup_distributed(finished: bool) -> None:
    """Destroy the process group before exit: gloo threads left running abort the process at interpreter shutdown.

    After a run that `finished`, wait for every rank first: a rank that tears its connections down while another
    still has collectives in flight (ZeRO-3's last gathers) can abort with "terminate called without an active
    exception". After a failure, do not wait: the other ranks may never arrive, and the launcher stops them.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if finished:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def launched_world_size() -> int:
    """How many processes torchrun/deepspeed/accelerate started for this run (WORLD_SIZE; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_launched_rank() -> bool:
    """True in a rank that a launcher started together with other ranks."""
    return launched_world_size() > 1


def exit_finished_rank() -> None:
    """In a rank of a finished multi-process run, end the process at once, skipping the interpreter's
    finalization; a single process returns and exits as usual.

    Why: ZeRO-3 keeps the process group on every parameter (`ds_process_group`) and in DeepSpeed's module state,
    so `destroy_process_group` cannot free it; gloo's worker threads are then torn down during finalization, and
    now and then a rank aborts there ("terminate called without an active exception", SIGABRT) after everything
    was saved, and the launcher reports the finished run as failed. By the time this runs the work is on disk
    (saves are atomic and the output folder's lock is released), so only logging and stdio need flushing.
    """
    import contextlib
    import logging
    import sys

    if not is_launched_rank():
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or vanished reader: nothing more can reach it
            stream.flush()
    os._exit(0)
