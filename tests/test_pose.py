"""Pose backends: mediapipe on real frames, rtm through real onnxruntime sessions on tiny models
with the official exports' input/output signatures, model download/checksum handling, and the
backend factory's errors."""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import sys
import urllib.error
import zipfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from skelcam.realtime.pose import Poses, available_backends, create_backend, model_files
from skelcam.realtime.pose.keypoints import mediapipe_to_coco
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import JOINT_NAMES

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
ONE_PERSON = VIDEOS / "S001C001P001R001A001_rgb.avi"
TWO_PEOPLE = VIDEOS / "ntu_sample.avi"
SIZE = (640, 360)  # the clips are 1920x1080; a third of that keeps the tests fast

has_mediapipe = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(not has_mediapipe, reason="mediapipe not installed")
needs_videos = pytest.mark.skipif(not TWO_PEOPLE.is_file(), reason="shared/ clips not present")


def read_frames(path: Path, step: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
        index += 1
    capture.release()
    return frames


@pytest.fixture(scope="module")
def one_person_poses() -> list[Poses]:
    with create_backend("mediapipe") as backend:
        return [backend(frame) for frame in read_frames(ONE_PERSON, step=20)]


@pytest.fixture(scope="module")
def two_people_counts() -> list[int]:
    with create_backend("mediapipe") as backend:
        return [len(backend(frame)) for frame in read_frames(TWO_PEOPLE, step=3)]


# --- Poses -----------------------------------------------------------------------------------


def test_poses_empty_and_from_arrays():
    empty = Poses.empty()
    assert len(empty) == 0
    assert empty.boxes.shape == (0, 4) and empty.xy.shape == (0, 17, 2)
    assert empty.scores.shape == (0, 17) and empty.box_scores.shape == (0,)

    xy = np.random.default_rng(0).uniform(10, 100, (2, 17, 2))
    scores = np.full((2, 17), 1.5)
    scores[1, :] = 0.5
    poses = Poses.from_arrays(xy, scores)
    assert len(poses) == 2 and poses.xy.dtype == np.float32
    assert poses.scores.max() == 1.0  # clipped into [0, 1]
    np.testing.assert_allclose(poses.boxes[0], [*xy[0].min(0), *xy[0].max(0)], rtol=1e-6)
    np.testing.assert_allclose(poses.box_scores, [1.0, 0.5])
    assert len(poses[np.array([False, True])]) == 1 and len(poses[0]) == 1
    with pytest.raises(ValueError, match="xy"):
        Poses(poses.boxes, poses.xy[:, :5], poses.scores, poses.box_scores)


# --- mediapipe on real frames ------------------------------------------------------------------


@needs_mediapipe
def test_mediapipe_to_coco_mapping_matches_blazepose_indices():
    # nose, eyes 2/5, ears 7/8, then shoulders .. ankles: BlazePose 11..16 and 23..28
    expected = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    assert mediapipe_to_coco() == expected
    assert len(JOINT_NAMES) == len(expected)


@needs_mediapipe
@needs_videos
def test_mediapipe_finds_one_plausible_person(one_person_poses):
    width, height = SIZE
    for poses in one_person_poses:
        assert len(poses) == 1
        seen = poses.scores[0] > 0.5
        assert seen.sum() >= 12
        x, y = poses.xy[0, seen].T
        assert (x >= 0).all() and (x < width).all() and (y >= 0).all() and (y < height).all()
        shoulders_y = poses.xy[0, [5, 6], 1].mean()
        hips_y = poses.xy[0, [11, 12], 1].mean()
        ankles_y = poses.xy[0, [15, 16], 1].mean()
        assert shoulders_y < hips_y < ankles_y
        x1, y1, x2, y2 = poses.boxes[0]
        assert x1 <= x.min() and x.max() <= x2 and y1 <= y.min() and y.max() <= y2


@needs_mediapipe
@needs_videos
def test_mediapipe_left_is_the_persons_left(one_person_poses):
    # In S001 the person faces the camera, so her left side is on the image's right.
    for poses in one_person_poses:
        xy = poses.xy[0]
        assert (
            xy[JOINT_NAMES.index("left_shoulder"), 0] > xy[JOINT_NAMES.index("right_shoulder"), 0]
        )
        assert xy[JOINT_NAMES.index("left_hip"), 0] > xy[JOINT_NAMES.index("right_hip"), 0]


@needs_mediapipe
@needs_videos
def test_mediapipe_finds_both_people_hugging(two_people_counts):
    counts = np.array(two_people_counts)
    assert (counts == 2).mean() >= 0.9, counts  # measured: every frame
    assert (counts > 2).mean() <= 0.1, counts


@needs_mediapipe
def test_mediapipe_black_frame_finds_nobody():
    with create_backend("mediapipe", max_people=2) as backend:
        for _ in range(2):
            poses = backend(np.zeros((360, 640, 3), dtype=np.uint8))
            assert len(poses) == 0 and poses.xy.shape == (0, 17, 2)


@needs_mediapipe
def test_mediapipe_rejects_bad_settings():
    with pytest.raises(SkelcamError, match="model_complexity"):
        create_backend("mediapipe", model_complexity=3)
    with pytest.raises(SkelcamError, match="cannot run on device 'cuda'"):
        create_backend("mediapipe", device="cuda")


# --- the factory -------------------------------------------------------------------------------


def test_unknown_backend_lists_valid_names():
    with pytest.raises(SkelcamError, match="valid: auto, mmpose, rtm, mediapipe"):
        create_backend("openpose")


@pytest.mark.skipif(importlib.util.find_spec("mmpose") is not None, reason="mmpose installed")
def test_missing_mmpose_says_how_to_install():
    with pytest.raises(SkelcamError, match=r'needs .*mmpose.*pip install -e "\.\[mmpose\]"'):
        create_backend("mmpose")


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mediapipe" else real(name)
    )
    with pytest.raises(SkelcamError, match=r'needs mediapipe: pip install -e "\.\[mediapipe\]"'):
        create_backend("mediapipe")


def test_unknown_option_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))
    with pytest.raises(SkelcamError, match="does not take option"):
        create_backend("rtm", model_complexity=1)


@needs_mediapipe
@pytest.mark.skipif(importlib.util.find_spec("mmpose") is not None, reason="mmpose installed")
def test_auto_picks_mediapipe_without_mmpose_or_rtm_models(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))  # empty cache: no RTM models
    assert available_backends() == ["mediapipe"]
    with create_backend("auto", det_model="rtmdet-nano", max_people=1) as backend:
        assert backend.name == "mediapipe" and backend.device == "cpu"
        assert "fastest on a CPU" in backend.reason


# --- rtm on tiny signature-compatible ONNX models ----------------------------------------------

DET_SIZE = 320
# Boxes the tiny detector reports, in its 320x320 input: two people and one low-score box.
DET_OUTPUT = np.array([[[32, 64, 96, 192, 0.9], [200, 40, 260, 200, 0.8], [0, 0, 10, 10, 0.1]]])


def tiny_detector(path: Path) -> Path:
    """An RTMDet end2end signature: input [1,3,320,320] -> dets [1,N,5], labels [1,N]."""
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["dets"],
            value=helper.make_tensor(
                "d", TensorProto.FLOAT, DET_OUTPUT.shape, DET_OUTPUT.flatten().tolist()
            ),
        ),
        helper.make_node(
            "Constant",
            [],
            ["labels"],
            value=helper.make_tensor("l", TensorProto.INT64, (1, 3), [0, 0, 0]),
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_rtmdet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, DET_SIZE, DET_SIZE])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, "n", 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, "n"]),
        ],
    )
    return save(graph, path)


def tiny_pose(path: Path, batch: int | str) -> Path:
    """An RTMPose end2end signature: input [B,3,256,192] -> simcc_x [B,17,384], simcc_y [B,17,512].

    It 'finds' every joint at the reddest pixel of its crop (channel 0, which is red once the
    crop is RGB), with score 0.1 x that pixel's normalised value: the real pre- and
    post-processing must bring the joints back onto a red dot in the frame.
    """
    nodes = [
        helper.make_node("Slice", ["input", "c0", "c1", "c_axis"], ["red"]),
        helper.make_node("ReduceMax", ["red"], ["cols"], axes=[2], keepdims=0),  # [B,1,192]
        helper.make_node("ReduceMax", ["red"], ["rows"], axes=[3], keepdims=0),  # [B,1,256]
    ]
    for name, source in (("simcc_x", "cols"), ("simcc_y", "rows")):
        nodes += [  # two bins per pixel, the same for all 17 joints, times 0.1
            helper.make_node("Unsqueeze", [source, "last"], [f"{name}_u"]),
            helper.make_node("Concat", [f"{name}_u", f"{name}_u"], [f"{name}_c"], axis=-1),
            helper.make_node("Reshape", [f"{name}_c", "flat"], [f"{name}_r"]),
            helper.make_node("Expand", [f"{name}_r", "joints"], [f"{name}_e"]),
            helper.make_node("Mul", [f"{name}_e", "tenth"], [name]),
        ]
    constants = [
        helper.make_tensor("c0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("c1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("c_axis", TensorProto.INT64, [1], [1]),
        helper.make_tensor("last", TensorProto.INT64, [1], [-1]),
        helper.make_tensor("flat", TensorProto.INT64, [3], [0, 1, -1]),
        helper.make_tensor("joints", TensorProto.INT64, [3], [1, 17, 1]),
        helper.make_tensor("tenth", TensorProto.FLOAT, [], [0.1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_rtmpose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 256, 192])],
        [
            helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, 17, 384]),
            helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, 17, 512]),
        ],
        initializer=constants,
    )
    return save(graph, path)


def save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def tiny_models(tmp_path) -> dict[str, Path]:
    return {
        "det": tiny_detector(tmp_path / "det.onnx"),
        "pose": tiny_pose(tmp_path / "pose.onnx", batch=1),
        "pose_batched": tiny_pose(tmp_path / "pose_batched.onnx", batch="batch"),
    }


@pytest.mark.parametrize("pose_key", ["pose", "pose_batched"])
def test_rtm_pre_and_post_processing_round_trip(tiny_models, pose_key):
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    dot = (150, 300)  # x, y: inside the first person's box
    cv2.rectangle(frame, (dot[0] - 2, dot[1] - 2), (dot[0] + 2, dot[1] + 2), (0, 0, 255), -1)

    with create_backend(
        "rtm", device="cpu", det_model=tiny_models["det"], pose_model=tiny_models[pose_key]
    ) as backend:
        assert backend.name == "rtm" and backend.device == "cpu"
        poses = backend(frame)

    assert len(poses) == 2  # the 0.1 box is below the threshold
    # letterbox: 640x480 -> 320x240 at ratio 0.5, so input boxes double in frame pixels
    np.testing.assert_allclose(poses.boxes, [[64, 128, 192, 384], [400, 80, 520, 400]])
    np.testing.assert_allclose(poses.box_scores, [0.9, 0.8], rtol=1e-6)
    # every joint of the first person lands on the red dot, with score 0.1 * (255 - mean) / std
    np.testing.assert_allclose(poses.xy[0], np.tile(dot, (17, 1)), atol=3)
    np.testing.assert_allclose(poses.scores[0], 0.1 * (255 - 123.675) / 58.395, rtol=1e-4)
    # the second person's crop is black: nothing found there, score 0
    assert (poses.scores[1] == 0).all()


def test_rtm_max_people_keeps_the_most_confident(tiny_models):
    with create_backend("rtm", device="cpu", det_model=tiny_models["det"],
                        pose_model=tiny_models["pose"], max_people=1) as backend:  # fmt: skip
        poses = backend(np.zeros((480, 640, 3), dtype=np.uint8))
    np.testing.assert_allclose(poses.box_scores, [0.9], rtol=1e-6)


def test_rtm_rejects_a_model_with_the_wrong_signature(tiny_models):
    with pytest.raises(SkelcamError, match="not an RTMDet end2end export"):
        create_backend(
            "rtm", device="cpu", det_model=tiny_models["pose"], pose_model=tiny_models["pose"]
        )
    with pytest.raises(SkelcamError, match="not a COCO-17 RTMPose"):
        create_backend(
            "rtm", device="cpu", det_model=tiny_models["det"], pose_model=tiny_models["det"]
        )


REAL_DET = VIDEOS.parents[1] / "models" / "rtmdet-nano-person-end2end.onnx"
needs_real_det = pytest.mark.skipif(not REAL_DET.is_file(), reason="shared/ models not present")


@needs_real_det
@needs_videos
@pytest.mark.parametrize(("clip", "people"), [(TWO_PEOPLE, 2), (ONE_PERSON, 1)])
def test_rtm_real_mmdeploy_detector_finds_the_people(clip, people):
    """The real RTMDet-nano export has symbolic input and output dimensions, as MMDeploy writes
    them; it runs at 320x320 and finds each person once."""
    from skelcam.realtime.pose.onnx_session import open_session
    from skelcam.realtime.pose.rtm_backend import RTMDet

    session = open_session(REAL_DET, "cpu", "rtm")
    assert isinstance(session.get_inputs()[0].shape[2], str)
    assert isinstance(session.get_outputs()[0].shape[-1], str)
    detector = RTMDet(session)
    assert detector.input_size == (320, 320)
    for frame in read_frames(clip, step=30):
        boxes, scores = detector(frame)
        assert len(boxes) == people and (scores >= 0.3).all()
        assert (boxes[:, 2:] - boxes[:, :2] > [40, 150]).all()  # person-sized at 640x360
    if people == 2:  # side by side: the two boxes are different people
        centres = (boxes[:, 0] + boxes[:, 2]) / 2
        assert abs(centres[0] - centres[1]) > 40


@needs_real_det
@needs_videos
def test_rtm_backend_runs_on_the_real_detector(tiny_models):
    frame = read_frames(TWO_PEOPLE, step=100)[0]
    with create_backend("rtm", device="cpu", det_model=REAL_DET, pose_model=tiny_models["pose"],
                        input_size=640) as backend:  # fmt: skip
        assert backend.detector.input_size == (640, 640)
        assert len(backend(frame)) == 2


def test_rtm_missing_local_file(tmp_path):
    with pytest.raises(SkelcamError, match="detector model not found"):
        create_backend("rtm", device="cpu", det_model=tmp_path / "nope.onnx")


def test_rtm_garbage_file_is_one_clear_error(tmp_path, tiny_models):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(SkelcamError, match="cannot load ONNX model"):
        create_backend("rtm", device="cpu", det_model=garbage, pose_model=tiny_models["pose"])


# --- model download, cache and checksums -------------------------------------------------------


def sdk_zip(tmp_path: Path, onnx_path: Path) -> Path:
    """A zip laid out like OpenMMLab's onnx_sdk ones: <name>/end2end.onnx plus pipeline files."""
    archive = tmp_path / "tiny-sdk.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(onnx_path, "tiny-sdk/end2end.onnx")
        out.writestr("tiny-sdk/pipeline.json", "{}")
    return archive


def test_download_verifies_and_caches(tmp_path, monkeypatch, tiny_models):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SKELCAM_CACHE", str(cache))
    digest = hashlib.sha256(tiny_models["det"].read_bytes()).hexdigest()
    url = sdk_zip(tmp_path, tiny_models["det"]).as_uri()
    monkeypatch.setitem(model_files.MODELS, "rtmdet-nano", model_files.ModelFile(url, digest))

    assert available_backends(pose_model=tiny_models["pose"]).count("rtm") == 0
    with create_backend("rtm", device="cpu", pose_model=tiny_models["pose"]) as backend:
        assert len(backend(np.zeros((240, 320, 3), np.uint8))) == 2
    cached = model_files.cached_path("rtmdet-nano")
    assert cached == cache / "rtm" / "tiny-sdk.onnx" and cached.read_bytes() == (
        tiny_models["det"].read_bytes()
    )
    assert "rtm" in available_backends(pose_model=tiny_models["pose"])

    cached.write_bytes(b"tampered")
    with pytest.raises(SkelcamError, match="checksum mismatch .* delete the file"):
        create_backend("rtm", device="cpu", pose_model=tiny_models["pose"])


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch, tiny_models):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path / "cache"))
    url = sdk_zip(tmp_path, tiny_models["det"]).as_uri()
    monkeypatch.setitem(model_files.MODELS, "rtmdet-nano", model_files.ModelFile(url, "0" * 64))
    with pytest.raises(SkelcamError, match="checksum mismatch .* end2end.onnx"):
        model_files.fetch("rtmdet-nano")
    assert not model_files.is_cached("rtmdet-nano")


def test_unpublished_checksum_is_recorded_on_first_download(tmp_path, monkeypatch, tiny_models):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path / "cache"))
    url = sdk_zip(tmp_path, tiny_models["det"]).as_uri()
    monkeypatch.setitem(model_files.MODELS, "rtmdet-m", model_files.ModelFile(url, None))
    path = model_files.fetch("rtmdet-m")
    record = path.with_name(path.name + ".sha256")
    assert record.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(b"tampered")
    with pytest.raises(SkelcamError, match="checksum mismatch"):
        model_files.fetch("rtmdet-m")


def test_published_checksum_rejects_a_bad_cached_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))
    path = model_files.cached_path("rtmpose-m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated download")
    with pytest.raises(SkelcamError, match="checksum mismatch"):
        model_files.fetch("rtmpose-m")


def test_offline_download_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SKELCAM_CACHE", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(model_files.urllib.request, "urlopen", no_network)
    with pytest.raises(SkelcamError) as caught:
        create_backend("rtm", device="cpu")
    message = str(caught.value)
    assert message.startswith("cannot download https://download.openmmlab.com/")
    assert "no network" in message and "pass --det-model/--pose-model local paths" in message
    assert "\n" not in message


# --- mmpose glue, against stand-ins for the documented mmdet/mmpose result structures ----------


def test_poses_from_mmpose_reads_pose_data_samples():
    def sample(x: float) -> SimpleNamespace:
        return SimpleNamespace(
            pred_instances=SimpleNamespace(
                keypoints=np.full((1, 17, 2), x),
                keypoint_scores=np.full((1, 17), 0.7),
                bboxes=np.array([[x - 5, x - 5, x + 5, x + 5]]),
                bbox_scores=np.ones(1),
            )
        )

    poses = Poses.from_mmpose([sample(10.0), sample(50.0)])
    assert len(poses) == 2 and poses.xy.dtype == np.float32
    np.testing.assert_allclose(poses.xy[:, 0], [[10, 10], [50, 50]])
    np.testing.assert_allclose(poses.boxes[1], [45, 45, 55, 55])
    assert len(Poses.from_mmpose([])) == 0


def test_mmpose_backend_glue(monkeypatch, tmp_path):
    """Detections are filtered to confident persons, NMS'd, posed, and keep the detector's
    scores; the OpenMMLab packages are replaced by stand-ins with their documented APIs."""
    people = {  # bboxes, scores, labels as mmdet's pred_instances holds them
        "bboxes": np.array([[0, 0, 10, 20], [1, 0, 11, 20], [50, 0, 60, 20], [80, 0, 90, 20]]),
        "scores": np.array([0.9, 0.8, 0.6, 0.95]),
        "labels": np.array([0, 0, 0, 2]),  # the last is a car
    }
    instances = SimpleNamespace(
        cpu=lambda: SimpleNamespace(numpy=lambda: SimpleNamespace(**people))
    )

    def inference_topdown(model, image, bboxes):
        return [
            SimpleNamespace(
                pred_instances=SimpleNamespace(
                    keypoints=np.tile(box[:2], (1, 17, 1)),
                    keypoint_scores=np.ones((1, 17)),
                    bboxes=box[None],
                    bbox_scores=np.ones(1),
                )
            )
            for box in bboxes
        ]

    def nms(dets, thr):  # greedy IoU NMS, as mmpose.evaluation.functional.nms
        keep, order = [], list(np.argsort(-dets[:, 4]))
        while order:
            i = order.pop(0)
            keep.append(i)
            order = [j for j in order if iou(dets[i], dets[j]) <= thr]
        return keep

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
        return w * h / (area - w * h)

    fakes = {
        "torch": SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False)),
        "mmcv": SimpleNamespace(),
        "mmdet": SimpleNamespace(),
        "mmdet.apis": SimpleNamespace(
            init_detector=lambda config, checkpoint, device: SimpleNamespace(cfg={}),
            inference_detector=lambda model, image: SimpleNamespace(pred_instances=instances),
        ),
        "mmpose": SimpleNamespace(),
        "mmpose.apis": SimpleNamespace(
            init_model=lambda config, checkpoint, device: SimpleNamespace(),
            inference_topdown=inference_topdown,
        ),
        "mmpose.utils": SimpleNamespace(adapt_mmdet_pipeline=lambda cfg: cfg),
        "mmpose.evaluation.functional": SimpleNamespace(nms=nms),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: SimpleNamespace(origin=None) if name in fakes else real(name),
    )
    config = tmp_path / "config.py"
    config.write_text("")

    with create_backend("mmpose", device="auto", det_config=str(config),
                        pose_config=str(config), max_people=4) as backend:  # fmt: skip
        assert backend.name == "mmpose" and backend.device == "cpu"
        poses = backend(np.zeros((100, 100, 3), np.uint8))
    # the 0.8 box overlaps the 0.9 one (NMS), the car is not a person
    np.testing.assert_allclose(poses.boxes, [[0, 0, 10, 20], [50, 0, 60, 20]])
    np.testing.assert_allclose(poses.box_scores, [0.9, 0.6])
    np.testing.assert_allclose(poses.xy[1, 0], [50, 0])
