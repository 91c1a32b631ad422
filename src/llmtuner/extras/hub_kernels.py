"""No compiled kernel is fetched from the Hugging Face Hub behind the user's back.

Why: bitsandbytes (0.50) registers its CPU backend when it is imported and, on CPUs with AVX512-BF16 where the
`kernels` package is installed (transformers 5.25 requires it), calls `kernels.get_kernel(...)`: a Hub lookup and
the download of a compiled kernel. peft imports bitsandbytes whenever it is installed, so every train, eval or export
would contact the Hub, even with only local models and data. llmtuner therefore imports bitsandbytes once itself with
the Hub in offline mode: nothing is fetched, a kernel already in the local cache is still used, and otherwise
bitsandbytes keeps its own CPU code (the same results, a slower 4-bit matmul on CPU only).
"""

import importlib.util
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# They warn that the kernel is missing from the cache and suggest `pip install kernels`: not the user's problem.
_QUIET_DURING_IMPORT = ("bitsandbytes.backends.cpu.ops", "kernels")


@contextmanager
def _hub_offline() -> Iterator[None]:
    # huggingface_hub reads HF_HUB_OFFLINE into `constants` once, at its import; `kernels` reads that attribute at each
    # call, so setting it for the duration of the import is the one switch both honour.
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def import_bitsandbytes_offline() -> None:
    """Import bitsandbytes (if installed) with the Hub offline, before peft or transformers import it."""
    if "bitsandbytes" in sys.modules or importlib.util.find_spec("bitsandbytes") is None:
        return
    if importlib.util.find_spec("huggingface_hub") is None:  # without it `kernels` cannot reach the Hub either
        return
    with _hub_offline(), _quiet(_QUIET_DURING_IMPORT):
        import bitsandbytes  # noqa: F401
