"""The ONNX export of the shipped checkpoint, checked the way the live loop will use it.

The live loop never runs PyTorch: it runs the exported graph, with the preprocessing inside. So
these tests export the real shipped checkpoint (not a toy model) with the real exporter into a
temporary folder and check what matters downstream:

* the exporter's own verification passes, and it can fail (it is not a table of constants);
* on real COCO-17 clips ONNX Runtime gives PyTorch's logits (max abs diff < 1e-4, same top-1);
* the metadata the classifier relies on round-trips from the checkpoint's config;
* the batch axis is dynamic (the loop batches every tracked person into one call);
* the export is deterministic, and the committed `weights/skelcam_penn15.onnx` is exactly what the
  exporter produces from `weights/skelcam_penn15.pt` today ("regenerates bit-for-bit");
* user mistakes (missing or foreign checkpoint) end in one error line, never a traceback.

No accuracy of the shipped weights is asserted: they are provisional and will be replaced.
One export with verification costs ~20 s on a loaded 2-core machine, so it happens once per module
(a second, bare export is needed for the determinism check).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from rich.console import Console

from skelcam.export.to_onnx import (
    DEFAULT_OPSET,
    TOLERANCE,
    export_onnx,
    main,
    model_version,
    real_windows,
    run,
    verify,
)
from skelcam.realtime.classifier import ONNX_FORMAT, ActionClassifier
from skelcam.train.calibrate import merge_calibration
from skelcam.train.checkpoint import load_model, read_checkpoint
from skelcam.train.errors import SkelcamError
from skelcam.train.model import ModelConfig, SkeletonClassifier
from skelcam.train.shipped import CHECKPOINT, ONNX_MODEL
from skelcam.train.skeleton import LAYOUT, NUM_JOINTS

REPO = Path(__file__).resolve().parents[1]
# Real COCO-17 clips (read-only, beside the repository; never copied into it).
CUSTOM16 = REPO.parent / "shared" / "data" / "pyskl" / "custom16_coco17.pkl"
# The exporter's own check already runs 32 clips; 16 more keep this file quick on a busy CPU.
PARITY_CLIPS = 16

needs_custom16 = pytest.mark.skipif(
    not CUSTOM16.is_file(), reason=f"real clips not found at {CUSTOM16}"
)


def quiet_console() -> Console:
    """A console that records instead of printing, so the verification table can be inspected."""
    return Console(file=io.StringIO(), record=True, width=200)


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def exported(export_dir: Path) -> tuple[Path, str]:
    """The shipped checkpoint exported and verified on real clips by `run` (the CLI's core)."""
    out = export_dir / "skelcam.onnx"
    console = quiet_console()
    verify_data = CUSTOM16 if CUSTOM16.is_file() else None
    ok = run(CHECKPOINT, out, DEFAULT_OPSET, verify_data, console)
    return out, console.export_text() if ok else f"run() returned False\n{console.export_text()}"


@pytest.fixture(scope="module")
def shipped() -> tuple[SkeletonClassifier, list[str], dict]:
    return load_model(CHECKPOINT)


@pytest.fixture(scope="module")
def clips(shipped: tuple[SkeletonClassifier, list[str], dict]) -> tuple[np.ndarray, np.ndarray]:
    """Real clip windows resampled exactly as evaluation and the exporter's check do."""
    if not CUSTOM16.is_file():
        pytest.skip(f"real clips not found at {CUSTOM16}")
    config = shipped[0].config
    return real_windows(CUSTOM16, config.window, config.num_persons, PARITY_CLIPS)


@pytest.fixture(scope="module")
def reference(
    shipped: tuple[SkeletonClassifier, list[str], dict], clips: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """PyTorch logits of the shipped checkpoint on `clips`, computed once (the slow part)."""
    with torch.no_grad():
        return shipped[0](*map(torch.from_numpy, clips)).numpy()


def test_export_verification_passes(exported: tuple[Path, str]) -> None:
    """The exporter's own checks all pass on the shipped checkpoint and the file is kept."""
    out, table = exported
    assert out.is_file(), table
    assert "FAIL" not in table
    for check in ("onnx.checker", "logits vs PyTorch", "top-1 agreement", "dynamic batch 1",
                  "dynamic batch 5", "file size"):
        assert check in table, f"verification table lacks '{check}':\n{table}"
    if CUSTOM16.is_file():
        # The parity check must have used real clips, not the random fallback.
        assert CUSTOM16.name in table
    onnx.checker.check_model(str(out), full_check=True)


def test_verification_catches_a_model_that_differs(
    exported: tuple[Path, str], clips: tuple[np.ndarray, np.ndarray]
) -> None:
    """`verify` really compares numbers: a PyTorch model nudged after export must fail it.

    Without this a verification table that always said "pass" would satisfy the test above.
    """
    out, _ = exported
    model, _, _ = load_model(CHECKPOINT)
    with torch.no_grad():
        model.head.bias += 0.01  # 100x the tolerance on every logit; top-1 is unchanged
    keypoints, scores = (a[:5] for a in clips)  # 5: verify also runs a batch of 5
    checks = {c.name.split(" (")[0]: c for c in verify(model, out, keypoints, scores, "custom16")}
    assert not checks["logits vs PyTorch"].passed
    assert not checks["dynamic batch 1"].passed
    assert checks["onnx.checker"].passed


@needs_custom16
def test_parity_with_pytorch_on_real_clips(
    exported: tuple[Path, str],
    shipped: tuple[SkeletonClassifier, list[str], dict],
    clips: tuple[np.ndarray, np.ndarray],
    reference: np.ndarray,
) -> None:
    """ONNX Runtime and PyTorch agree on real clips: the live loop predicts what we evaluated."""
    out, _ = exported
    config = shipped[0].config
    keypoints, scores = clips
    assert keypoints.shape == (PARITY_CLIPS, config.num_persons, config.window, NUM_JOINTS, 2)
    got = ActionClassifier(out, device="cpu").logits(keypoints, scores)
    assert got.shape == reference.shape
    assert np.abs(got - reference).max() < TOLERANCE
    np.testing.assert_array_equal(got.argmax(1), reference.argmax(1))
    # Real clips give varied predictions; identical rows would mean the input was ignored.
    assert np.ptp(reference, axis=0).max() > 0.1


def test_metadata_round_trips_from_the_checkpoint(exported: tuple[Path, str]) -> None:
    """Everything the classifier reads from the ONNX file equals the checkpoint it came from."""
    out, _ = exported
    state = read_checkpoint(CHECKPOINT)
    config = state["config"]
    meta = metadata(out)
    assert meta["format"] == ONNX_FORMAT
    assert meta["layout"] == LAYOUT
    assert json.loads(meta["class_names"]) == state["class_names"]
    assert int(meta["window"]) == config["window"]
    assert int(meta["num_persons"]) == config["num_persons"]
    assert json.loads(meta["used_joints"]) == config["used_joints"]
    # An older checkpoint lacks config fields added since; the metadata holds them with the
    # defaults the model was rebuilt with, and every stored field unchanged.
    assert json.loads(meta["config"]) == ModelConfig.from_dict(config).to_dict()
    # The version names the exact checkpoint bytes, computed here independently of the exporter.
    digest = hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest()[:12]
    assert meta["model_version"] == f"{CHECKPOINT.stem}@{digest}"

    classifier = ActionClassifier(out, device="cpu")
    assert classifier.labels == state["class_names"]
    assert classifier.window == config["window"]
    assert classifier.num_persons == config["num_persons"]
    assert classifier.version == meta["model_version"]


def test_batch_axis_is_dynamic(
    exported: tuple[Path, str],
    shipped: tuple[SkeletonClassifier, list[str], dict],
    clips: tuple[np.ndarray, np.ndarray],
    reference: np.ndarray,
) -> None:
    """Batch 1 and 5 both run and match PyTorch row for row (every tracked person in one call)."""
    out, _ = exported
    graph = onnx.load(str(out)).graph
    for value in (*graph.input, *graph.output):
        first = value.type.tensor_type.shape.dim[0]
        assert first.dim_param and not first.HasField("dim_value"), f"{value.name}: fixed batch"
    names = shipped[1]
    classifier = ActionClassifier(out, device="cpu")
    keypoints, scores = clips
    # The model is row-independent in eval mode, so the rows of the batch-16 reference apply.
    for batch in (1, 5):
        got = classifier.logits(keypoints[:batch], scores[:batch])
        assert got.shape == (batch, len(names))
        assert np.abs(got - reference[:batch]).max() < TOLERANCE


def test_export_is_deterministic(
    exported: tuple[Path, str],
    export_dir: Path,
    shipped: tuple[SkeletonClassifier, list[str], dict],
) -> None:
    """Two exports of one checkpoint are byte-identical, so a committed file can be re-checked."""
    first, _ = exported
    second = export_dir / "again.onnx"
    model, names, state = shipped
    export_onnx(model, names, second, DEFAULT_OPSET, model_version(CHECKPOINT),
                state.get("calibration"))
    assert first.read_bytes() == second.read_bytes(), "two exports of the same checkpoint differ"
    # The atomic write leaves no temporary files behind.
    assert sorted(p.name for p in export_dir.iterdir()) == ["again.onnx", "skelcam.onnx"]


def test_calibration_travels_into_the_onnx_metadata(
    exported: tuple[Path, str], shipped: tuple[SkeletonClassifier, list[str], dict]
) -> None:
    """The temperature and no-known-action threshold that `train calibrate` stored in the
    checkpoint are what the exported model's classifier applies."""
    fresh, _ = exported
    calibration = shipped[2]["calibration"]
    classifier = ActionClassifier(fresh, device="cpu")
    assert classifier.temperature == pytest.approx(calibration["temperature"])
    assert classifier.unknown_threshold == pytest.approx(calibration["unknown_threshold"])
    assert classifier.unknown_score == calibration.get("unknown_score", "probability")
    upper = 1 if classifier.unknown_score == "probability" else np.inf
    assert 0 < classifier.unknown_threshold < upper and classifier.temperature != 1.0


def test_per_backend_thresholds_travel_into_the_onnx_metadata(
    tmp_path: Path, shipped: tuple[SkeletonClassifier, list[str], dict]
) -> None:
    """Thresholds calibrated on two pose backends reach the live classifier: each backend gets
    its own, any other backend the lowest, and the temperature stays the common one."""
    model, names, _ = shipped
    calibration = merge_calibration(None, 0.62, "mediapipe", 0.27)
    calibration = merge_calibration(calibration, 0.62, "yolo", 0.22)
    out = tmp_path / "per_backend.onnx"
    export_onnx(model, names, out, DEFAULT_OPSET, "test", calibration)
    classifier = ActionClassifier(out, device="cpu")
    assert classifier.unknown_thresholds == pytest.approx({"mediapipe": 0.27, "yolo": 0.22})
    assert classifier.temperature == pytest.approx(0.62)
    assert classifier.unknown_threshold == pytest.approx(0.22)
    classifier.use_pose_backend("mediapipe")
    assert classifier.unknown_threshold == pytest.approx(0.27)
    assert classifier.threshold_backend == "mediapipe"
    classifier.use_pose_backend("rtm")
    assert classifier.unknown_threshold == pytest.approx(0.22)
    assert classifier.threshold_backend is None


def test_time_spans_travel_into_the_onnx_metadata(
    tmp_path: Path, shipped: tuple[SkeletonClassifier, list[str], dict]
) -> None:
    """The time spans a calibration was chosen under reach the live classifier; a file
    without them classifies the window alone, and a file with nonsense in them is refused in
    one line."""
    model, names, _ = shipped
    calibration = merge_calibration(None, 0.62, "mediapipe", 0.27, (1.0, 2.0))
    out = tmp_path / "spans.onnx"
    export_onnx(model, names, out, DEFAULT_OPSET, "test", calibration)
    assert ActionClassifier(out, device="cpu").time_spans == (1.0, 2.0)
    export_onnx(model, names, out, DEFAULT_OPSET, "test", {"temperature": 0.62})
    assert ActionClassifier(out, device="cpu").time_spans == (1.0,)
    export_onnx(model, names, out, DEFAULT_OPSET, "test", {"time_spans": [1.0, -2.0]})
    with pytest.raises(SkelcamError, match="time_spans") as info:
        ActionClassifier(out, device="cpu")
    assert "\n" not in str(info.value)


def test_committed_onnx_computes_what_the_checkpoint_does(
    exported: tuple[Path, str], clips: tuple[np.ndarray, np.ndarray]
) -> None:
    """The ONNX file users run gives the logits of a fresh export of the committed checkpoint.

    Weaker than the byte check below, but it separates "wrong weights shipped" (this fails) from
    "right weights, stale metadata or exporter" (only the byte check fails).
    """
    fresh, _ = exported
    committed = ActionClassifier(ONNX_MODEL, device="cpu")
    assert committed.labels == ActionClassifier(fresh, device="cpu").labels
    diff = np.abs(committed.logits(*clips) - ActionClassifier(fresh, device="cpu").logits(*clips))
    assert diff.max() < TOLERANCE


def test_committed_onnx_is_a_fresh_export_bit_for_bit(exported: tuple[Path, str]) -> None:
    """`python export/to_onnx.py` regenerates the committed ONNX file byte for byte.

    Fails when the weights were retrained, the exporter or its metadata changed, or the pinned
    torch differs, without the ONNX file being regenerated; the message says which part differs.
    """
    fresh, _ = exported
    if ONNX_MODEL.read_bytes() == fresh.read_bytes():
        return
    old, new = onnx.load(str(ONNX_MODEL)), onnx.load(str(fresh))
    old_meta, new_meta = metadata(ONNX_MODEL), metadata(fresh)
    changed = sorted(k for k in old_meta.keys() | new_meta.keys()
                     if old_meta.get(k) != new_meta.get(k))
    weights_equal = ([t.SerializeToString() for t in old.graph.initializer]
                     == [t.SerializeToString() for t in new.graph.initializer])
    node_info_equal = ([n.metadata_props for n in old.graph.node]
                       == [n.metadata_props for n in new.graph.node])
    for proto in (old, new):
        for node in proto.graph.node:
            del node.metadata_props[:]
    nodes_equal = list(old.graph.node) == list(new.graph.node)
    pytest.fail(
        f"{ONNX_MODEL.name} is not a fresh export of {CHECKPOINT.name}: model metadata keys "
        f"that differ {changed or 'none'}; weights {'equal' if weights_equal else 'DIFFER'}; "
        f"operators {'equal' if nodes_equal else 'DIFFER'}; per-node debug info (source paths "
        f"and line numbers) {'equal' if node_info_equal else 'DIFFERS'}. "
        "Regenerate it with: python export/to_onnx.py"
    )


def test_export_does_not_depend_on_the_checkout_location(exported: tuple[Path, str]) -> None:
    """The ONNX bytes must not embed where the repository happens to be checked out.

    Otherwise a fresh clone elsewhere (CI, a user's machine) cannot regenerate the committed file
    bit for bit, and the shipped model leaks the developer's directory layout.
    """
    fresh, _ = exported
    data = fresh.read_bytes()
    count = data.count(str(REPO).encode())
    assert count == 0, f"the export embeds the checkout path {REPO} {count} times"


def test_missing_checkpoint_exits_with_one_line(tmp_path: Path) -> None:
    """The command line reports a missing checkpoint as one line on stderr, no traceback.

    Run as a subprocess because that is how users meet it; pytest's long tmp path also checks
    that the message is not wrapped onto several lines when stderr is not a terminal.
    """
    missing = tmp_path / "missing.pt"
    result = subprocess.run(
        [sys.executable, "export/to_onnx.py", "--checkpoint", str(missing),
         "--out", str(tmp_path / "out.onnx")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "does not exist" in lines[0] and str(missing) in lines[0]
    assert not (tmp_path / "out.onnx").exists()


def test_foreign_checkpoint_is_rejected_clearly(
    tmp_path: Path, shipped: tuple[SkeletonClassifier, list[str], dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bare state_dict (the usual non-skelcam .pt) is named as such, not a KeyError.

    A bare state_dict is the likeliest foreign file: someone saves `model.state_dict()` directly.
    """
    foreign = tmp_path / "state_dict.pt"
    torch.save(shipped[0].state_dict(), foreign)
    out = tmp_path / "out.onnx"
    with pytest.raises(SkelcamError, match="not a skelcam checkpoint"):
        run(foreign, out, DEFAULT_OPSET, None, quiet_console())

    assert main(["--checkpoint", str(foreign), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a skelcam checkpoint" in err
    assert not out.exists()


def test_unreadable_checkpoint_and_missing_output_folder(tmp_path: Path) -> None:
    """Random bytes and a non-existent output folder are user errors, reported as SkelcamError."""
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(SkelcamError, match="cannot read checkpoint"):
        run(garbage, tmp_path / "out.onnx", DEFAULT_OPSET, None, quiet_console())
    with pytest.raises(SkelcamError, match="does not exist"):
        run(CHECKPOINT, tmp_path / "nowhere" / "out.onnx", DEFAULT_OPSET, None, quiet_console())
    assert list(tmp_path.iterdir()) == [garbage]
