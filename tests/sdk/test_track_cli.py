"""``gldpose predict`` on a video and a camera index: the tracking path, fps in the progress
bar, the end of the file reported, bad camera indices refused before OpenCV."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from gldpose_sdk import detect
from gldpose_sdk.cli import main

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
CLIP = Path(detect.__file__).parent / "samples" / "clip.avi"


def test_video_goes_through_tracking_with_fps_in_the_bar(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    if not CLIP.is_file():
        pytest.skip(f"no shipped clip at {CLIP}")
    cap = cv2.VideoCapture(str(CLIP))
    frames = [cap.read()[1] for _ in range(20)]
    cap.release()
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (320, 240))
    for frame in frames:
        writer.write(frame)
    writer.release()
    out = tmp_path / "poses.jsonl"
    assert main([str(video), "--backend", "onnxruntime", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "frame/s" in captured.err and "20/20" in captured.err
    assert "video read to the end: 20 of 20 declared frames decoded" in captured.out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(20))
    ids = {p["track_id"] for r in records for p in r["poses"]}
    assert ids == {0} and sum(len(r["poses"]) for r in records) >= 18


@pytest.mark.parametrize("index", ["-1", "100"])
def test_bad_camera_index_is_exit_2(index: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    def no_capture(*args: object) -> None:
        raise AssertionError("cv2.VideoCapture must not be called")

    monkeypatch.setattr(cv2, "VideoCapture", no_capture)
    assert main(["--backend", "onnxruntime", "--", index]) == 2
    assert "camera index must be in 0..99" in capsys.readouterr().err


def test_max_frames_caps_the_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for k in range(8):
        writer.write(np.full((48, 64, 3), 20 * k, np.uint8))
    writer.release()
    assert main([str(video), "--backend", "onnxruntime", "--max-frames", "3"]) == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err and "0 face(s) in 3 frame(s)" in captured.out
