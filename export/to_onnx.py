"""Export a skelcam checkpoint to the ONNX model the live loop runs, and verify it.

    python export/to_onnx.py                      # weights/skelcam_penn15.pt -> .onnx beside it
    python export/to_onnx.py --model daily        # a shipped model by name (skelcam --model)
    python export/to_onnx.py --checkpoint runs/ntu/best.pt --out ntu.onnx

The graph takes what the live loop has in hand, pixel keypoints [N, M, T, 17, 2] and scores
[N, M, T, 17] with a dynamic batch N (every tracked person in one call), and returns class logits
[N, K]: the preprocessing is inside it. Class names, window, persons per sample, keypoint layout
and model version are written to the ONNX metadata.

Every export is verified and the result printed as a table: onnx.checker, logits of ONNX Runtime
against PyTorch on real clips (max abs difference < 1e-4, same top-1 on every clip), batch sizes 1
and 5, and the file size. Any failure exits non-zero and leaves no ONNX file behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from skelcam.realtime.classifier import ONNX_FORMAT, ActionClassifier
from skelcam.train.checkpoint import load_model
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError, print_error
from skelcam.train.files import atomic_write
from skelcam.train.model import SkeletonClassifier
from skelcam.train.shipped import DEFAULT_MODEL, MODELS
from skelcam.train.skeleton import LAYOUT
from skelcam.train.windowing import sample_window, select_persons

DEFAULT_OPSET = 18
TOLERANCE = 1e-4
# Real clips to compare ONNX Runtime with PyTorch on: any COCO-17 PYSKL pickle works, since the
# check compares logits, not labels. The shared data set sits beside the repository.
DEFAULT_VERIFY_DATA = Path(__file__).resolve().parents[2] / "shared/data/pyskl/custom16_coco17.pkl"


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def model_version(checkpoint: Path) -> str:
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
    return f"{checkpoint.stem}@{digest}"


def _metadata_value(value: Any) -> str:
    """A calibration entry as ONNX metadata text: JSON for tables and lists, a name as it is,
    a number in full precision."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value if isinstance(value, str) else repr(float(value))


def export_onnx(model: SkeletonClassifier, class_names: list[str], out: Path, opset: int,
                version: str, calibration: dict[str, Any] | None = None) -> None:
    """Write the ONNX file atomically, with skelcam's metadata.

    `calibration` (from `python -m train calibrate`, kept in the checkpoint) adds the softmax
    `temperature` and the "no known action" `unknown_threshold` that the live loop applies,
    `unknown_thresholds`, the threshold per pose backend it was calibrated on, and
    `time_spans`, the window spans the live loop averages, and `unknown_score`, the score
    the thresholds apply to ("probability" or "energy"), both as they were chosen under.
    """

    config = model.config
    example = (
        torch.zeros(2, config.num_persons, config.window, 17, 2),
        torch.zeros(2, config.num_persons, config.window, 17),
    )
    batch = torch.export.Dim("batch")
    # The exporter logs a warning for every torchvision operator it cannot register; we use none.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            input_names=["keypoints", "scores"],
            output_names=["logits"],
            dynamic_shapes={"keypoints": {0: batch}, "scores": {0: batch}},
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    # The exporter records each node's Python stack trace, with absolute paths of this checkout:
    # drop them, so the file is the same from any clone and reveals no local paths.
    for node in proto.graph.node:
        del node.metadata_props[:]
    metadata = {
        "format": ONNX_FORMAT,
        "layout": LAYOUT,
        "class_names": json.dumps(class_names),
        "window": str(config.window),
        "num_persons": str(config.num_persons),
        "used_joints": json.dumps(config.used_joints),
        "model_version": version,
        "config": json.dumps(config.to_dict()),
        "inputs": "keypoints [N, M, T, 17, 2] pixels; scores [N, M, T, 17] in [0, 1]",
        **{key: _metadata_value(value) for key, value in (calibration or {}).items()},
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "skelcam"
    atomic_write(out, lambda handle: handle.write(proto.SerializeToString()))


def real_windows(path: Path, window: int, persons: int, count: int) -> tuple[np.ndarray, ...]:
    """`count` real clips from a PYSKL pickle, resampled exactly as evaluation does."""
    data = load_pyskl(path)
    step = max(1, len(data.clips) // count)
    keypoints, scores = [], []
    for clip in data.clips[::step][:count]:
        kp, sc = select_persons(clip.keypoints, clip.scores, persons)
        kp, sc = sample_window(kp, sc, window)
        keypoints.append(kp)
        scores.append(sc)
    return np.stack(keypoints), np.stack(scores)


def verify(model: SkeletonClassifier, onnx_path: Path, keypoints: np.ndarray,
           scores: np.ndarray, source: str) -> list[Check]:
    """Compare the exported file with the PyTorch model it came from."""
    import onnx

    checks = []
    try:
        onnx.checker.check_model(str(onnx_path), full_check=True)
        checks.append(Check("onnx.checker", True, "valid"))
    except onnx.checker.ValidationError as exc:
        checks.append(Check("onnx.checker", False, str(exc).splitlines()[0]))
        return checks

    classifier = ActionClassifier(onnx_path, device="cpu")
    with torch.no_grad():
        reference = model(torch.from_numpy(keypoints), torch.from_numpy(scores)).numpy()
    got = classifier.logits(keypoints, scores)
    diff = float(np.abs(got - reference).max())
    checks.append(Check(f"logits vs PyTorch ({len(keypoints)} clips, {source})",
                        diff < TOLERANCE, f"max |diff| = {diff:.2e} (< {TOLERANCE:.0e})"))
    agree = int((got.argmax(1) == reference.argmax(1)).sum())
    checks.append(Check("top-1 agreement", agree == len(keypoints), f"{agree}/{len(keypoints)}"))
    for batch in (1, 5):
        out = classifier.logits(keypoints[:batch], scores[:batch])
        ok = out.shape == (batch, len(classifier.labels)) and np.allclose(
            out, reference[:batch], atol=TOLERANCE)
        checks.append(Check(f"dynamic batch {batch}", ok, f"output {tuple(out.shape)}"))
    size_kib = onnx_path.stat().st_size / 1024
    checks.append(Check("file size", True, f"{size_kib:.0f} KiB"))
    return checks


def print_checks(console: Console, checks: list[Check], out: Path) -> None:
    table = Table(title=f"ONNX export verification: {out}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for c in checks:
        table.add_row(c.name, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail)
    console.print(table)


def run(checkpoint: Path, out: Path, opset: int, verify_data: Path | None,
        console: Console) -> bool:
    model, class_names, state = load_model(checkpoint)
    if not out.parent.is_dir():
        raise SkelcamError(f"output folder '{out.parent}' does not exist")
    export_onnx(model, class_names, out, opset, model_version(checkpoint),
                state.get("calibration"))
    config = model.config
    if verify_data is not None and verify_data.is_file():
        keypoints, scores = real_windows(verify_data, config.window, config.num_persons, 32)
        source = verify_data.name
    else:
        # No real clips on this machine: random skeletons inside a 640x480 frame still compare
        # every operator of the graph.
        rng = np.random.default_rng(0)
        shape = (32, config.num_persons, config.window, 17)
        keypoints = (rng.random((*shape, 2)) * [640, 480]).astype(np.float32)
        scores = rng.random(shape).astype(np.float32)
        source = "random skeletons"
    checks = verify(model, out, keypoints, scores, source)
    print_checks(console, checks, out)
    if not all(c.passed for c in checks):
        out.unlink(missing_ok=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a skelcam checkpoint to ONNX.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", choices=tuple(MODELS),
                        help=f"a shipped model's checkpoint (default: {DEFAULT_MODEL})")
    source.add_argument("--checkpoint", type=Path, help="any skelcam checkpoint")
    parser.add_argument("--out", type=Path, help="default: the checkpoint's path with .onnx")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--verify-data", type=Path, default=DEFAULT_VERIFY_DATA,
                        help="a COCO-17 PYSKL pickle whose clips are used for the parity check")
    args = parser.parse_args(argv)
    console = Console()
    checkpoint = args.checkpoint or MODELS[args.model or DEFAULT_MODEL].checkpoint
    out = args.out or checkpoint.with_suffix(".onnx")
    try:
        ok = run(checkpoint, out, args.opset, args.verify_data, console)
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    if not ok:
        print_error("verification failed; no model written")
        return 1
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
