"""`llmtuner COMMAND ...` exactly as a user runs it (`llmtuner.cli.main`), plus test-only instruments chosen by
environment, for tests that need a real CLI run to stall or to meet a full disk:

  PROBE_STALL_SAVE, PROBE_STALL_MARKER, PROBE_STALL_RELEASE
                   as in train_probe.py: stop inside the save of checkpoint-N (its output_dir locked) until the
                   release file appears;
  FAULT_NO_SPACE   fault injection, a test double for a full disk: the first weights or state file written
                   (torch.save, safetensors' save_file, as transformers and peft call them) whose path matches
                   this glob is written, cut to half its size, and then the write raises what a full disk gives:
                   OSError(ENOSPC, "No space left on device"), or with FAULT_STYLE=library the library's own
                   error (safetensors: SafetensorError "... No space left on device (os error 28)"; torch: the
                   RuntimeError of its zip writer, "unexpected pos ..."), as measured on a full tmpfs.
"""

import errno
import fnmatch
import os
import sys
from collections.abc import Callable
from typing import Any

FIRED = "FAULT_NO_SPACE_FIRED"  # a file the probe writes when the fault fired (its content: the path)


def _no_space(kind: str, path: str) -> Exception:
    if os.environ.get("FAULT_STYLE") == "library" and kind == "safetensors":
        from safetensors import SafetensorError

        return SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    if os.environ.get("FAULT_STYLE") == "library" and kind == "torch":
        return RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    return OSError(errno.ENOSPC, "No space left on device", path)


def no_space_patches(pattern: str) -> list[tuple[Any, str, Callable[..., Any]]]:
    """(module, name, failing writer) for every function that writes weights or training state: set them (or
    monkeypatch.setattr them) to make the first write matching `pattern` meet a full disk."""
    import peft.peft_model
    import safetensors.torch
    import torch
    import transformers.modeling_utils

    fired: list[str] = []

    def failing(real: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def write(obj: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            path = os.fspath(target) if isinstance(target, (str, os.PathLike)) else None
            if fired or path is None or not fnmatch.fnmatch(os.path.abspath(path), pattern):
                return real(obj, target, *args, **kwargs)
            fired.append(path)
            real(obj, target, *args, **kwargs)
            os.truncate(path, os.path.getsize(path) // 2)  # what a full disk leaves: the start of the file
            if os.environ.get(FIRED):
                with open(os.environ[FIRED], "w", encoding="utf-8") as handle:
                    handle.write(os.path.abspath(path))
            raise _no_space(kind, path)

        return write

    # safe_save_file: bound at import by the modules that write weights
    targets = [(torch, "save", "torch"), (safetensors.torch, "save_file", "safetensors"),
               (peft.peft_model, "safe_save_file", "safetensors"),
               (transformers.modeling_utils, "safe_save_file", "safetensors")]
    return [(module, name, failing(getattr(module, name), kind)) for module, name, kind in targets]


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if os.environ.get("PROBE_STALL_SAVE"):
        from train_probe import stall_in_checkpoint_save

        stall_in_checkpoint_save(int(os.environ["PROBE_STALL_SAVE"]), os.environ["PROBE_STALL_MARKER"],
                                 os.environ.get("PROBE_STALL_RELEASE"))
    if os.environ.get("FAULT_NO_SPACE"):
        for module, name, writer in no_space_patches(os.environ["FAULT_NO_SPACE"]):
            setattr(module, name, writer)
    from llmtuner.cli import main

    sys.exit(main(sys.argv[1:]))
