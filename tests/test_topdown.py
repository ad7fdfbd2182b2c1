"""Detect every N frames, follow in between: on real keypoints (YOLO11n-pose on the NTU hug)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from skelcam.realtime.pose import Poses, create_backend
from skelcam.realtime.pose.topdown import DetectionSchedule, boxes_from_keypoints
from skelcam.realtime.tracking import box_iou
from skelcam.train.errors import SkelcamError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
YOLO_ONNX = SHARED / "models" / "yolo11n-pose-640.onnx"
HUG = SHARED / "data" / "videos" / "ntu_sample.avi"

pytestmark = pytest.mark.skipif(not YOLO_ONNX.is_file(), reason="shared/ models not present")


@pytest.fixture(scope="module")
def hug_poses() -> list[Poses]:
    """Real poses of the two NTU people on six consecutive frames (at 960x540)."""
    capture = cv2.VideoCapture(str(HUG))
    frames = [cv2.resize(capture.read()[1], (960, 540), cv2.INTER_AREA) for _ in range(6)]
    capture.release()
    with create_backend("yolo", device="cpu", pose_model=YOLO_ONNX) as yolo:
        return [yolo(frame) for frame in frames]


def test_boxes_from_keypoints_cover_the_person(hug_poses):
    poses = hug_poses[0]
    boxes, kept = boxes_from_keypoints(poses.xy, poses.scores, (540, 960))
    assert list(kept) == [0, 1]
    # the joints' extent grown by 1.25 lands on the detector's box of the same person
    assert (box_iou(boxes, poses.boxes).diagonal() > 0.6).all()
    confident = poses.scores >= 0.3
    for box, xy, seen in zip(boxes, poses.xy, confident, strict=True):
        assert (xy[seen] >= box[:2]).all() and (xy[seen] <= box[2:]).all()


def test_detector_runs_every_n_frames_and_people_are_followed(hug_poses):
    schedule = DetectionSchedule(det_every=3)
    calls = []

    def detect(index: int):
        calls.append(index)
        return hug_poses[index].boxes, hug_poses[index].box_scores

    for index, poses in enumerate(hug_poses):
        boxes, scores = schedule.boxes(lambda index=index: detect(index))
        assert len(boxes) == 2
        # followed boxes stay on the people as they move (IoU with this frame's detections)
        assert (box_iou(boxes, poses.boxes).max(axis=1) > 0.6).all()
        # and keep the score of the detection they were followed from
        source = hug_poses[index if calls[-1] == index else index - 1]
        np.testing.assert_allclose(np.sort(scores), np.sort(source.box_scores), rtol=1e-6)
        schedule.follow(poses, (540, 960))
    assert calls == [0, 3]


def test_a_lost_person_is_dropped_and_nobody_left_means_detect(hug_poses):
    schedule = DetectionSchedule(det_every=10)
    detections = []

    def detect():
        detections.append(1)
        return hug_poses[0].boxes, hug_poses[0].box_scores

    schedule.boxes(detect)
    faded = hug_poses[0].scores.copy()
    faded[1] = 0.1  # the second person's joints fade out
    schedule.follow(Poses.from_arrays(hug_poses[0].xy, faded, hug_poses[0].boxes,
                                      hug_poses[0].box_scores), (540, 960))  # fmt: skip
    boxes, _ = schedule.boxes(detect)
    assert len(boxes) == 1 and len(detections) == 1
    schedule.follow(Poses.empty(), (540, 960))
    schedule.boxes(detect)
    assert len(detections) == 2  # nobody followed: detect at once, not after 10 frames


def test_det_every_must_be_positive():
    with pytest.raises(SkelcamError, match="det_every must be at least 1"):
        DetectionSchedule(det_every=0)
