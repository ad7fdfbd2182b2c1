"""`ActionClassifier`, the ONNX Runtime wrapper the live loop calls, on the shipped ONNX file.

The live loop trusts this class for three things, each tested here on the real shipped model and
real ONNX Runtime sessions:

* what to feed it: window, persons and class names come from the file's metadata, and a wrong
  input shape is refused with a ValueError instead of a cryptic ONNX Runtime error;
* where it runs: the providers the session really got are reported, 'auto' falls back to the CPU
  with one warning, 'cuda' without a usable GPU is a SkelcamError (never a silent CPU fallback);
* what it returns: per-person rows that do not depend on who else is in the batch, probabilities
  that sum to 1, and top-k lists in descending order;

plus one-line errors for a missing, corrupt or foreign (non-skelcam) ONNX file, and agreement of
`train.evaluate` between the ONNX file and the checkpoint it was exported from. No accuracy of the
shipped weights is asserted: they are provisional and will be replaced.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from skelcam.export.to_onnx import real_windows
from skelcam.realtime.classifier import ONNX_FORMAT, ActionClassifier, Prediction
from skelcam.train.convert import convert_penn_action
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.evaluate import evaluate
from skelcam.train.shipped import CHECKPOINT, LABELS, ONNX_MODEL
from skelcam.train.skeleton import LAYOUT, NUM_JOINTS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CUSTOM16 = SHARED / "pyskl" / "custom16_coco17.pkl"
PENN_MATS = SHARED / "penn_action_train"
PENN_CLIPS = 40


def tiny_onnx(path: Path, metadata: dict[str, str] | None = None) -> Path:
    """A valid one-node ONNX model (y = x), optionally with metadata: a foreign model."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


@pytest.fixture(scope="session")
def cuda_usable(tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Whether ONNX Runtime can really run on a GPU here, asked of ONNX Runtime directly.

    `get_available_providers()` lists CUDA whenever onnxruntime-gpu is installed, GPU or not, so
    only a session's own provider list tells; probing a tiny model keeps this independent of the
    class under test.
    """
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    probe = tiny_onnx(tmp_path_factory.mktemp("probe") / "probe.onnx")
    session = ort.InferenceSession(
        str(probe), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    return session.get_providers()[0] == "CUDAExecutionProvider"


@pytest.fixture(scope="module")
def classifier() -> ActionClassifier:
    return ActionClassifier(ONNX_MODEL, device="cpu")


@pytest.fixture(scope="module")
def windows(classifier: ActionClassifier) -> tuple[np.ndarray, np.ndarray]:
    """Five real clips, resampled to the model's window as evaluation does."""
    if not CUSTOM16.is_file():
        pytest.skip(f"real clips not found at {CUSTOM16}")
    return real_windows(CUSTOM16, classifier.window, classifier.num_persons, 5)


def test_metadata_is_read_from_the_file(classifier: ActionClassifier) -> None:
    """Labels, window and persons come from the ONNX metadata, and agree with labels.txt."""
    lines = [line.strip() for line in LABELS.read_text().splitlines() if line.strip()]
    assert classifier.labels == lines
    meta = {p.key: p.value for p in onnx.load(str(ONNX_MODEL)).metadata_props}
    assert meta["format"] == ONNX_FORMAT and meta["layout"] == LAYOUT
    assert classifier.window == int(meta["window"])
    assert classifier.num_persons == int(meta["num_persons"])
    assert classifier.version == meta["model_version"]
    assert classifier.version.startswith(f"{CHECKPOINT.stem}@")
    assert classifier.input_shape == (classifier.num_persons, classifier.window, NUM_JOINTS)
    assert classifier.path == ONNX_MODEL


def test_cpu_device_reports_the_cpu_provider(classifier: ActionClassifier) -> None:
    assert classifier.providers == ["CPUExecutionProvider"]
    assert classifier.device == "cpu"


def test_auto_without_gpu_runs_on_the_cpu_and_warns_only_when_a_gpu_was_possible(
    cuda_usable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """'auto' without a usable GPU runs on the CPU. It logs nothing itself (the command line
    reports `fallback_warning` once, after every input was checked), and a fallback is worth a
    warning only where a GPU could have been used: an NVIDIA driver is installed but CUDA failed.
    Without a driver, as on this CI machine, there is nothing to warn about."""
    from skelcam.realtime.pose.onnx_session import cuda_usable as driver_present

    if cuda_usable:
        pytest.skip("a usable GPU is present: 'auto' does not fall back here")
    with caplog.at_level(logging.WARNING):
        auto = ActionClassifier(ONNX_MODEL, device="auto")
    assert auto.providers == ["CPUExecutionProvider"]
    assert auto.device == "cpu"
    assert not [r for r in caplog.records if r.name.startswith("realtime")]
    assert (auto.fallback_warning is not None) == driver_present(ort)


def test_fallback_prints_nothing_beyond_the_warning(
    cuda_usable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    """The one logged warning (or error) is all the user sees: no native ONNX Runtime lines.

    ONNX Runtime itself writes a multi-line [E:onnxruntime] / [W:onnxruntime] report to stderr
    when the CUDA provider cannot load its libraries; the classifier must keep that quiet.
    """
    if cuda_usable or "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("no CUDA provider that can fail to load here")
    ActionClassifier(ONNX_MODEL, device="auto")
    with pytest.raises(SkelcamError):
        ActionClassifier(ONNX_MODEL, device="cuda")
    err = capfd.readouterr().err
    assert "onnxruntime" not in err, err


def test_cuda_without_gpu_is_an_error(cuda_usable: bool) -> None:
    """Asking for 'cuda' explicitly must not silently run on the CPU."""
    if cuda_usable:
        pytest.skip("a usable GPU is present")
    with pytest.raises(SkelcamError, match="cuda"):
        ActionClassifier(ONNX_MODEL, device="cuda")


def test_cuda_with_gpu_runs_on_it(cuda_usable: bool) -> None:
    """On a GPU machine both 'cuda' and 'auto' really get the CUDA provider."""
    if not cuda_usable:
        pytest.skip("no usable GPU for ONNX Runtime here")
    for device in ("cuda", "auto"):
        gpu = ActionClassifier(ONNX_MODEL, device=device)
        assert gpu.providers[0] == "CUDAExecutionProvider"
        assert gpu.device == "cuda"


def test_unknown_device_is_an_error() -> None:
    with pytest.raises(SkelcamError, match="unknown device 'tpu'"):
        ActionClassifier(ONNX_MODEL, device="tpu")


@pytest.mark.parametrize("batch", [1, 5])
def test_batched_call_shapes_and_probabilities(
    classifier: ActionClassifier, windows: tuple[np.ndarray, np.ndarray], batch: int
) -> None:
    """One call classifies every tracked person: [N, K] out for N windows in."""
    keypoints, scores = (a[:batch] for a in windows)
    logits = classifier.logits(keypoints, scores)
    assert logits.shape == (batch, len(classifier.labels)) and logits.dtype == np.float32
    probabilities = classifier.probabilities(keypoints, scores)
    assert probabilities.shape == logits.shape
    assert np.all(probabilities >= 0) and np.all(probabilities <= 1)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(1), logits.argmax(1))


def test_a_persons_result_does_not_depend_on_the_batch(
    classifier: ActionClassifier, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    """Batching persons is only correct if each row equals that person classified alone."""
    keypoints, scores = windows
    together = classifier.logits(keypoints, scores)
    for i in range(len(keypoints)):
        alone = classifier.logits(keypoints[i:i + 1], scores[i:i + 1])
        np.testing.assert_allclose(alone[0], together[i], atol=1e-5)
    # Different clips give different logits, so the comparison above is not vacuous.
    assert np.abs(together[0] - together[1]).max() > 1e-2


def test_float64_input_gives_the_float32_result(
    classifier: ActionClassifier, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    """numpy defaults to float64; the wrapper must cast rather than let ONNX Runtime reject it."""
    keypoints, scores = windows
    np.testing.assert_allclose(
        classifier.logits(keypoints.astype(np.float64), scores.astype(np.float64)),
        classifier.logits(keypoints, scores), atol=1e-5)


def test_top_k_is_in_descending_order(
    classifier: ActionClassifier, windows: tuple[np.ndarray, np.ndarray]
) -> None:
    """Each row's top-k are the k most probable labels, best first, with their probabilities."""
    probabilities = classifier.probabilities(*windows)
    predictions = classifier.top_k(probabilities, k=5)
    assert len(predictions) == len(probabilities)
    for row, prediction in zip(probabilities, predictions, strict=True):
        assert isinstance(prediction, Prediction)
        assert len(prediction.labels) == len(prediction.probabilities) == 5
        assert prediction.probabilities == sorted(prediction.probabilities, reverse=True)
        expected = sorted(zip(row.tolist(), classifier.labels, strict=True), reverse=True)[:5]
        assert prediction.labels == [label for _, label in expected]
        np.testing.assert_allclose(prediction.probabilities, [p for p, _ in expected])


def test_top_k_clamps_k_to_the_number_of_classes(classifier: ActionClassifier) -> None:
    """Asking for more actions than the model knows returns every class once, not an error."""
    num_classes = len(classifier.labels)
    probabilities = np.full((2, num_classes), 1.0 / num_classes, np.float32)
    probabilities[0, 3] = probabilities[1, 7] = 0.5
    predictions = classifier.top_k(probabilities, k=num_classes + 10)
    for prediction, best in zip(predictions, (3, 7), strict=True):
        assert len(prediction.labels) == num_classes
        assert sorted(prediction.labels) == sorted(classifier.labels)
        assert prediction.labels[0] == classifier.labels[best]
    assert [p.labels for p in classifier.top_k(probabilities, k=1)] == [
        [classifier.labels[3]], [classifier.labels[7]]]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda k, s: (k[:, :, :-1], s[:, :, :-1]), "one frame short of the window"),
        (lambda k, s: (k[..., :13, :], s[..., :13]), "13 joints instead of 17"),
        (lambda k, s: (k[0], s[0]), "no batch axis"),
        (lambda k, s: (np.concatenate([k, k], 1), np.concatenate([s, s], 1)), "extra person"),
        (lambda k, s: (k, s[..., None]), "scores with a trailing axis"),
        (lambda k, s: (np.concatenate([k, k[..., :1]], -1), s), "xy plus a score channel"),
    ],
)
def test_wrong_input_shape_is_a_value_error(
    classifier: ActionClassifier, windows: tuple[np.ndarray, np.ndarray], change, what: str
) -> None:
    """A caller's shape mistake is named in a ValueError, not left to ONNX Runtime's message."""
    keypoints, scores = change(*windows)
    with pytest.raises(ValueError, match="expected keypoints"):
        classifier.logits(keypoints, scores)


def test_missing_file_is_a_skelcam_error(tmp_path: Path) -> None:
    with pytest.raises(SkelcamError, match="does not exist"):
        ActionClassifier(tmp_path / "nope.onnx", device="cpu")


def test_corrupt_file_is_one_line_skelcam_error(tmp_path: Path) -> None:
    """Random bytes named .onnx: ONNX Runtime's multi-line error becomes one line with the name."""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(SkelcamError) as info:
        ActionClassifier(corrupt, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert str(corrupt) in message and "not a loadable ONNX model" in message


def test_foreign_onnx_model_is_not_a_skelcam_classifier(tmp_path: Path) -> None:
    """A valid ONNX file without skelcam's metadata (a pose model, say) is refused by name."""
    foreign = tiny_onnx(tmp_path / "foreign.onnx", {"author": "someone else"})
    with pytest.raises(SkelcamError, match="not a skelcam classifier") as info:
        ActionClassifier(foreign, device="cpu")
    assert "\n" not in str(info.value)


def test_skelcam_model_for_another_keypoint_layout_is_refused(tmp_path: Path) -> None:
    """Feeding COCO-17 keypoints to a model trained on another layout would be silently wrong."""
    other = tiny_onnx(tmp_path / "halpe.onnx", {"format": ONNX_FORMAT, "layout": "halpe26"})
    with pytest.raises(SkelcamError, match="halpe26"):
        ActionClassifier(other, device="cpu")


@pytest.fixture(scope="module")
def penn_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real Penn Action pickle: 40 .mat files spread over all 15 actions, converted."""
    files = sorted(PENN_MATS.glob("*.mat")) if PENN_MATS.is_dir() else []
    if len(files) < PENN_CLIPS:
        pytest.skip(f"Penn Action annotations not found at {PENN_MATS}")
    labels_dir = tmp_path_factory.mktemp("penn_mats")
    # Files are numbered action by action, so an even stride touches every action.
    for f in files[:: len(files) // PENN_CLIPS][:PENN_CLIPS]:
        shutil.copy(f, labels_dir / f.name)
    out = labels_dir.parent / "penn_small.pkl"
    convert_penn_action(labels_dir, out)
    return out


def test_onnx_and_checkpoint_evaluate_the_same(penn_small: Path) -> None:
    """`evaluate --model X.onnx` and `--checkpoint X.pt` agree on real Penn clips.

    This is the promise that the ONNX numbers describe what ships: same input pipeline, same
    logits (to 1e-4), hence the same top-1 and the same per-clip predictions.
    """
    data = load_pyskl(penn_small)
    assert data.num_classes == 15 and len(data.split("train")) == PENN_CLIPS
    from_pt, scores_pt = evaluate(data, "train", checkpoint=CHECKPOINT)
    from_onnx, scores_onnx = evaluate(data, "train", model=ONNX_MODEL)
    assert scores_onnx.shape == scores_pt.shape == (PENN_CLIPS, 15)
    assert np.abs(scores_onnx - scores_pt).max() < 1e-4
    np.testing.assert_array_equal(scores_onnx.argmax(1), scores_pt.argmax(1))
    assert from_onnx.top1 == from_pt.top1
    assert from_onnx.top5 == from_pt.top5
    np.testing.assert_array_equal(from_onnx.confusion, from_pt.confusion)
