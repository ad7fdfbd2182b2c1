"""Turn an Ultralytics YOLO-pose `.pt` checkpoint into an ONNX file, once, into the model cache.

Only the export needs `ultralytics` (and torch); running the ONNX file needs onnxruntime alone.
The exporter writes its result next to the checkpoint, so the checkpoint is first copied into a
temporary folder inside the cache: a user's (possibly read-only) weights folder is never written
to. The cached name carries the checkpoint's SHA-256 prefix and the input size, so a changed
checkpoint or another size is exported anew and a converted file is never used for the wrong one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from skelcam.train.errors import SkelcamError

from .model_files import cache_dir

log = logging.getLogger(__name__)

DEFAULT_SIZE = 640  # what the Ultralytics pose models are trained at


def converted_path(checkpoint: Path, input_size: int | None) -> Path:
    """Where the ONNX export of `checkpoint` at `input_size` (None: the default) is cached."""
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
    return cache_dir() / "yolo" / f"{checkpoint.stem}-{digest}-{input_size or DEFAULT_SIZE}.onnx"


def export_onnx(checkpoint: Path, input_size: int | None) -> Path:
    """The cached ONNX export of `checkpoint` (fixed `input_size` square input), made if missing."""
    out = converted_path(checkpoint, input_size)
    if out.is_file():
        return out
    if importlib.util.find_spec("ultralytics") is None:
        raise SkelcamError(
            f"{checkpoint} is a PyTorch checkpoint; converting it to ONNX needs ultralytics: "
            'pip install -e ".[ultralytics]" (or give an exported .onnx file)'
        )
    from ultralytics import YOLO

    size = input_size or DEFAULT_SIZE
    log.info("exporting %s to ONNX at %d (once; cached as %s)", checkpoint, size, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        copy = Path(tmp) / checkpoint.name
        shutil.copyfile(checkpoint, copy)
        try:
            exported = YOLO(str(copy)).export(format="onnx", imgsz=size, dynamic=False)
        except Exception as error:  # ultralytics raises bare Exceptions for bad checkpoints
            detail = " ".join(str(error).split())
            raise SkelcamError(f"cannot convert {checkpoint} to ONNX: {detail}") from error
        os.replace(exported, out)
    return out
