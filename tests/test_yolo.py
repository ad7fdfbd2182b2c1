"""The yolo backend on the real YOLO11n-pose export in ../shared/models, on real video frames:
people found, joints in place, letterbox and decode/NMS arithmetic, weights resolution, and one
clear line for each kind of bad input."""

from __future__ import annotations

import importlib.util
import socket
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from skelcam.realtime.pose import available_backends, create_backend, model_files
from skelcam.realtime.pose.yolo_backend import CHANNELS, Letterbox, decode, letterbox
from skelcam.realtime.pose.yolo_export import converted_path
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import JOINT_NAMES

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VIDEOS = SHARED / "data" / "videos"
YOLO_ONNX = SHARED / "models" / "yolo11n-pose-640.onnx"
YOLO_PT = SHARED / "models" / "yolo11n-pose.pt"
RTMDET = SHARED / "models" / "rtmdet-nano-person-end2end.onnx"

pytestmark = pytest.mark.skipif(not YOLO_ONNX.is_file(), reason="shared/ models not present")
has_ultralytics = importlib.util.find_spec("ultralytics") is not None

L_SHOULDER, R_SHOULDER = JOINT_NAMES.index("left_shoulder"), JOINT_NAMES.index("right_shoulder")
L_HIP, R_HIP = JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("right_hip")


def frames_at(name: str, indices: list[int], size: tuple[int, int] | None = None) -> list:
    capture = cv2.VideoCapture(str(VIDEOS / name))
    frames, index = [], 0
    while index <= max(indices):
        ok, frame = capture.read()
        if not ok:
            break
        if index in indices:
            frames.append(frame if size is None else cv2.resize(frame, size, cv2.INTER_AREA))
        index += 1
    capture.release()
    assert len(frames) == len(indices)
    return frames


@pytest.fixture(scope="module")
def backend():
    with create_backend("yolo", device="cpu", pose_model=YOLO_ONNX) as yolo:
        yield yolo


def assert_joints_in_boxes(poses, slack: float = 0.1) -> None:
    """Every confident joint lies inside its person's box (grown by `slack` of its size)."""
    for box, xy, scores in zip(poses.boxes, poses.xy, poses.scores, strict=True):
        grow = slack * np.array([box[0] - box[2], box[1] - box[3], box[2] - box[0],
                                 box[3] - box[1]])  # fmt: skip
        x1, y1, x2, y2 = box + grow
        seen = xy[scores > 0.5]
        assert len(seen) >= 10
        assert (seen[:, 0] >= x1).all() and (seen[:, 0] <= x2).all()
        assert (seen[:, 1] >= y1).all() and (seen[:, 1] <= y2).all()


def test_two_people_hugging_are_two(backend):
    for frame in frames_at("ntu_sample.avi", [0, 20, 40, 60], size=(960, 540)):
        poses = backend(frame)
        assert len(poses) == 2, poses.box_scores
        assert_joints_in_boxes(poses)
        for xy in poses.xy:
            # shoulders and hips agree on which way the person faces
            shoulders = np.sign(xy[L_SHOULDER, 0] - xy[R_SHOULDER, 0])
            hips = np.sign(xy[L_HIP, 0] - xy[R_HIP, 0])
            assert shoulders == hips
            assert xy[[L_SHOULDER, R_SHOULDER], 1].mean() < xy[[L_HIP, R_HIP], 1].mean()


def test_one_person_facing_the_camera(backend):
    for frame in frames_at("S001C001P001R001A001_rgb.avi", [0, 50, 100], size=(960, 540)):
        poses = backend(frame)
        assert len(poses) == 1
        assert_joints_in_boxes(poses)
        xy = poses.xy[0]  # she faces the camera: her left is on the image's right
        assert xy[L_SHOULDER, 0] > xy[R_SHOULDER, 0] and xy[L_HIP, 0] > xy[R_HIP, 0]
        assert poses.scores.dtype == np.float32 and 0 <= poses.scores.min() <= 1


def test_several_pedestrians_in_one_pass(backend):
    # vtest's walkers are small (60-110 px in 768x576): at 640 this model finds the nearer ones
    for frame in frames_at("vtest.avi", [530, 600]):
        poses = backend(frame)
        assert len(poses) >= 3, poses.box_scores
        assert_joints_in_boxes(poses, slack=0.25)
        height, width = frame.shape[:2]
        assert (poses.boxes >= 0).all() and (poses.boxes[:, [0, 2]] <= width).all()
        assert (poses.boxes[:, [1, 3]] <= height).all()


def test_max_people_keeps_the_most_confident():
    frame = frames_at("vtest.avi", [600])[0]
    with create_backend("yolo", device="cpu", pose_model=YOLO_ONNX, max_people=2) as yolo:
        poses = yolo(frame)
    assert len(poses) == 2 and poses.box_scores[0] >= poses.box_scores[1]


def test_letterbox_round_trip_lands_on_the_same_pixel():
    frame = np.zeros((480, 768, 3), np.uint8)
    point = np.array([600.0, 100.0])
    cv2.circle(frame, point.astype(int).tolist(), 6, (0, 0, 255), -1)  # red in BGR
    tensor, box = letterbox(frame, (640, 640))
    assert tensor.shape == (1, 3, 640, 640) and tensor.dtype == np.float32
    assert box == Letterbox(640 / 768, (0, 120))  # 768x480 -> 640x400, 120 rows above and below
    np.testing.assert_allclose(tensor[0, :, 0, 0], 114 / 255, rtol=1e-6)  # grey padding
    x, y = np.rint(box.to_input(point)).astype(int)
    assert tensor[0, 0, y, x] == 1.0 and tensor[0, 2, y, x] == 0.0  # RGB: the dot is red
    np.testing.assert_allclose(box.to_frame(box.to_input(point)), point, atol=1e-4)


def raw_output(frame: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(YOLO_ONNX), providers=["CPUExecutionProvider"])
    tensor, _ = letterbox(frame, (640, 640))
    return session.run(None, {"images": tensor})[0]


def test_decode_suppresses_duplicates_of_the_real_output():
    output = raw_output(frames_at("ntu_sample.avi", [30])[0])
    assert output.shape == (1, CHANNELS, 8400)
    confident = (output[0, 4] > 0.25).sum()
    assert confident > 10  # many anchors see each person ...
    boxes, scores, joints = decode(output, 0.25, 0.7)
    assert len(boxes) == 2  # ... one box each survives
    assert (scores > 0.25).all() and (np.diff(scores) <= 0).all()
    assert joints.shape == (2, 17, 3) and (boxes[:, 2:] > boxes[:, :2]).all()
    # the kept rows are anchors of the raw output, unchanged
    best = output[0, :, output[0, 4].argmax()]
    np.testing.assert_allclose(joints[0].reshape(-1), best[5:], rtol=1e-6)
    np.testing.assert_allclose(boxes[0], [*(best[:2] - best[2:4] / 2), *(best[:2] + best[2:4] / 2)],
                               rtol=1e-5)  # fmt: skip


def test_decode_thresholds_and_keeps_separate_people():
    anchors = np.zeros((CHANNELS, 4), np.float32)
    anchors[:5, 0] = [100, 100, 40, 80, 0.9]  # a person
    anchors[:5, 1] = [102, 101, 40, 80, 0.8]  # the same person again
    anchors[:5, 2] = [300, 100, 40, 80, 0.7]  # someone else
    anchors[:5, 3] = [500, 100, 40, 80, 0.2]  # below the threshold
    boxes, scores, _ = decode(anchors[None], 0.25, 0.7)
    np.testing.assert_allclose(scores, [0.9, 0.7])
    np.testing.assert_allclose(boxes[1], [280, 60, 320, 140])
    assert len(decode(anchors[None], 0.25, 0.7, max_det=1)[0]) == 1
    assert len(decode(anchors[None], 0.95, 0.7)[0]) == 0  # nobody: empty arrays, no error


# --- weights and bad input ---------------------------------------------------------------------


def dynamic_yolo_signature(path: Path, channels: int = CHANNELS,
                           declared: int | str = CHANNELS) -> Path:  # fmt: skip
    """An ONNX file with a dynamic-shape YOLO-pose signature (images [1,3,h,w] -> output0
    [1,`declared`,n], `channels` at run time) that reports nobody: for the input-size and
    signature rules, which need no real weights."""
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output0"], value=helper.make_tensor(
            "o", TensorProto.FLOAT, (1, channels, 1), [0.0] * channels))],
        "dynamic_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, declared, "n"])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def test_dynamic_model_takes_any_multiple_of_32(tmp_path):
    model = dynamic_yolo_signature(tmp_path / "dyn.onnx")
    with create_backend("yolo", device="cpu", pose_model=model, input_size=352) as yolo:
        assert yolo.model.fixed_hw is None and yolo.model.input_size == 352
        assert len(yolo(np.zeros((480, 640, 3), np.uint8))) == 0
    with create_backend("yolo", device="cpu", pose_model=model) as yolo:
        assert yolo.model.input_size == 640
    with pytest.raises(SkelcamError, match="not a multiple of 32; use e.g. 320"):
        create_backend("yolo", device="cpu", pose_model=model, input_size=330)


def test_symbolic_channel_count_is_checked_on_a_run(tmp_path):
    # Ultralytics' dynamic export without onnxslim declares output0 [batch, 'Concat..._dim_1',
    # 'anchors']: a pose model is told apart from a detection export (84 channels) by running it.
    pose = dynamic_yolo_signature(tmp_path / "pose.onnx", declared="c")
    with create_backend("yolo", device="cpu", pose_model=pose, input_size=320) as yolo:
        assert len(yolo(np.zeros((480, 640, 3), np.uint8))) == 0
    detect = dynamic_yolo_signature(tmp_path / "detect.onnx", channels=84, declared="c")
    with pytest.raises(SkelcamError, match=r"is not a YOLO pose model: .*output \[1, 56, N\]"):
        create_backend("yolo", device="cpu", pose_model=detect)


def test_fixed_model_refuses_another_input_size():
    with pytest.raises(SkelcamError) as caught:
        create_backend("yolo", device="cpu", pose_model=YOLO_ONNX, input_size=320)
    message = str(caught.value)
    assert "fixed 640x640 input, not 320" in message and "imgsz=320" in message
    assert "\n" not in message
    with create_backend("yolo", device="cpu", pose_model=YOLO_ONNX, input_size=640) as yolo:
        assert yolo.model.input_size == 640


def test_a_file_that_is_not_onnx_is_one_line(tmp_path):
    garbage = tmp_path / "weights.onnx"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(SkelcamError) as caught:
        create_backend("yolo", device="cpu", pose_model=garbage)
    message = str(caught.value)
    assert message.startswith("cannot load ONNX model") and "give a YOLO pose .onnx" in message
    assert "\n" not in message


def test_an_onnx_that_is_not_yolo_pose_names_the_shapes():
    with pytest.raises(SkelcamError, match=r"is not a YOLO pose model: .*output \[1, 56, N\]"):
        create_backend("yolo", device="cpu", pose_model=RTMDET)


def test_missing_file_lists_the_model_names(tmp_path):
    with pytest.raises(SkelcamError, match="pose model not found: .* one of: yolo11n-pose"):
        create_backend("yolo", device="cpu", pose_model=tmp_path / "nope.onnx")


@pytest.mark.skipif(has_ultralytics, reason="ultralytics installed")
def test_pt_without_ultralytics_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))
    install = r'needs ultralytics: pip install -e "\.\[ultralytics\]"'
    with pytest.raises(SkelcamError, match=install):
        create_backend("yolo", device="cpu", pose_model=YOLO_PT)


def test_pt_with_a_cached_export_runs_without_ultralytics(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))
    cached = converted_path(YOLO_PT, None)
    cached.parent.mkdir(parents=True)
    cached.symlink_to(YOLO_ONNX)  # as if converted before
    assert cached.name.startswith("yolo11n-pose-869e83fcdffd-640")
    assert "yolo" in available_backends(pose_model=YOLO_PT)
    with create_backend("yolo", device="cpu", pose_model=YOLO_PT) as yolo:
        assert len(yolo(frames_at("ntu_sample.avi", [30], (960, 540))[0])) == 2


def test_download_by_name_verifies_the_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))
    release = model_files.MODELS["yolo11n-pose"]
    assert release.url.startswith("https://github.com/ultralytics/assets/releases/download/")
    local = model_files.ModelFile(YOLO_PT.as_uri(), release.sha256, None, "yolo", release.hint)
    monkeypatch.setitem(model_files.MODELS, "yolo11n-pose", local)
    path = model_files.fetch("yolo11n-pose")  # the published SHA-256 matches the real file
    assert path == tmp_path / "yolo" / "yolo11n-pose.pt"
    assert path.read_bytes() == YOLO_PT.read_bytes()
    path.write_bytes(b"tampered")
    with pytest.raises(SkelcamError, match="checksum mismatch"):
        model_files.fetch("yolo11n-pose")


def test_offline_download_by_name_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(model_files.urllib.request, "urlopen", no_network)
    assert "yolo" not in available_backends()
    with pytest.raises(SkelcamError) as caught:
        create_backend("yolo", device="cpu")
    message = str(caught.value)
    assert message.startswith("cannot download https://github.com/ultralytics/")
    assert "pass --pose-model a local .onnx or .pt file" in message and "\n" not in message


def test_auto_runs_yolo_when_its_model_is_named_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))  # nothing cached: no rtm, no default yolo
    assert available_backends(pose_model=YOLO_ONNX)[0] == "yolo"
    with create_backend("auto", device="cpu", pose_model=YOLO_ONNX, max_people=4) as backend:
        assert backend.name == "yolo" and "one-stage" in backend.reason
    with create_backend("yolo", device="cpu", pose_model=YOLO_ONNX) as backend:
        assert backend.reason == ""  # named by the caller: nothing to explain
