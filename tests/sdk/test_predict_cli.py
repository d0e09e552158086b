"""``gldpose predict`` on an image, a folder and a small video; errors exit with status 2."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gldpose_sdk.cli import main

pytest.importorskip("torch", reason="torch not installed")


@pytest.fixture()
def images(tmp_path: Path, rng: np.random.Generator,
           make_face) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    for i, (h, w) in enumerate(((96, 80), (120, 120), (70, 90))):
        cv2.imwrite(str(folder / f"face{i}.png"), make_face(rng, h, w))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _args(model: Path, *rest: str) -> list[str]:
    return ["--model", str(model), "--backend", "pytorch", "--detector", "none", *rest]


def test_image(tiny_model_dir: Path, images: Path, tmp_path: Path,
               capsys: pytest.CaptureFixture[str]) -> None:
    out, js = tmp_path / "annotated.jpg", tmp_path / "poses.jsonl"
    assert main([str(images / "face1.png"), *_args(tiny_model_dir, "--out", str(out),
                                                     "--json", str(js))]) == 0
    annotated = cv2.imread(str(out))
    assert annotated.shape == (120, 120, 3)
    assert not np.array_equal(annotated, cv2.imread(str(images / "face1.png")))  # drawn on
    (record,) = _lines(js)
    assert record["frame"] == 0 and record["source"].endswith("face1.png")
    (pose,) = record["poses"]
    assert set(pose) >= {"yaw_deg", "pitch_deg", "roll_deg", "yaw_std_deg", "box", "score"}
    stdout = capsys.readouterr().out
    assert "face1.png" in stdout and f"{pose['yaw_deg']:.1f}" in stdout


def test_folder(tiny_model_dir: Path, images: Path, tmp_path: Path) -> None:
    out, js = tmp_path / "annotated", tmp_path / "poses.jsonl"
    assert main([str(images), *_args(tiny_model_dir, "--out", str(out), "--json", str(js))]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["face0.png", "face1.png", "face2.png"]
    records = _lines(js)
    assert [Path(r["source"]).name for r in records] == ["face0.png", "face1.png", "face2.png"]
    assert all(len(r["poses"]) == 1 for r in records)


def test_video(tiny_model_dir: Path, tmp_path: Path,
               make_face) -> None:  # type: ignore[no-untyped-def]
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 64))
    for i in range(4):
        writer.write(make_face(np.random.default_rng(i), 64, 80))
    writer.release()
    out, js = tmp_path / "annotated.avi", tmp_path / "poses.jsonl"
    assert main([str(video), *_args(tiny_model_dir, "--out", str(out), "--json", str(js),
                                    "--max-frames", "3")]) == 0
    records = _lines(js)
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert all(r["poses"][0]["track_id"] is not None for r in records)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


@pytest.mark.parametrize("case, phrase", [("missing", "source not found"),
                                          ("unreadable", "cannot decode image"),
                                          ("backend", "no onnx artefact"),
                                          ("model", "not a gldpose model folder")])
def test_errors_exit_2_without_traceback(case: str, phrase: str, tiny_model_dir: Path,
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad_image = tmp_path / "broken.jpg"
    bad_image.write_bytes(b"not a jpeg")
    good = tmp_path / "ok.png"
    cv2.imwrite(str(good), np.full((40, 40, 3), 128, np.uint8))
    argv = {
        "missing": [str(tmp_path / "nope.png"), *_args(tiny_model_dir)],
        "unreadable": [str(bad_image), *_args(tiny_model_dir)],
        "backend": [str(good), "--model", str(tiny_model_dir), "--backend", "onnxruntime",
                    "--detector", "none"],
        "model": [str(good), *_args(tmp_path / "no_model")],
    }[case]
    if case == "backend":
        pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert phrase in err and "Traceback" not in err
