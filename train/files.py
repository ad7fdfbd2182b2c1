"""Atomic file writes: a file is either its old self or completely written, never half.

Checkpoints, converted pickles, ONNX models and metrics files all go through `atomic_write`, so
an interrupted run (Ctrl-C, a full disk) never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write `path` via a temporary sibling and `os.replace`; remove the temporary on failure.

    The temporary lives in the same directory because `os.replace` is only atomic within one
    filesystem. It is opened with mode "xb", which honours the umask (unlike `tempfile`'s 0600).
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
