"""One onnxruntime session per model file, on the device the user asked for.

Shared by every backend that runs ONNX files (rtm, yolo), so they pick CUDA or the CPU through the
same provider table (`base.RUNTIMES`) and report load failures the same way: one line.
"""

from __future__ import annotations

import ctypes.util
from pathlib import Path
from typing import Any

from skelcam.train.errors import SkelcamError

from .base import runtime_for


def open_session(path: Path, device: str, backend: str, hint: str = "") -> Any:
    """An onnxruntime session for `path` on `device`, falling back to the CPU only under 'auto'.

    `backend` names the row of the provider table; `hint` is appended to a load error so it says
    what to give instead.
    """
    import onnxruntime as ort

    cpu = runtime_for(backend, "cpu")
    if device == "auto":
        providers = [runtime_for(backend, "cuda"), cpu] if cuda_usable(ort) else [cpu]
    else:
        providers = list(dict.fromkeys([runtime_for(backend, device), cpu]))
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as error:  # onnxruntime's load errors derive from Exception directly
        detail = " ".join(str(error).split())
        raise SkelcamError(f"cannot load ONNX model {path}: {detail}{hint}") from error
    if device == "cuda" and session.get_providers()[0] != runtime_for(backend, "cuda"):
        raise SkelcamError(
            "onnxruntime cannot use CUDA here (see its log above); install "
            "onnxruntime-gpu matching your CUDA and cuDNN, or use device='cpu'"
        )
    return session


def session_device(session: Any, backend: str) -> str:
    """"cuda" or "cpu": where the session really runs."""
    return "cuda" if session.get_providers()[0] == runtime_for(backend, "cuda") else "cpu"


def cuda_usable(ort: Any) -> bool:
    """CUDA is worth trying: onnxruntime has the provider and an NVIDIA driver is installed.

    (onnxruntime-gpu lists its CUDA provider even on machines without a GPU, and then logs an
    error when a session asks for it, so the driver is looked for first.)
    """
    return "CUDAExecutionProvider" in ort.get_available_providers() and bool(
        ctypes.util.find_library("cuda")
    )
