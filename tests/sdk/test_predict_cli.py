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


def test_image_into_a_folder_and_a_bad_extension(tiny_model_dir: Path, images: Path,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` without an extension is a folder (as for a folder source); an extension OpenCV
    cannot write is a named error with exit status 2, not OpenCV's exception."""
    out = tmp_path / "annotated"
    assert main([str(images / "face1.png"), *_args(tiny_model_dir, "--out", str(out))]) == 0
    assert cv2.imread(str(out / "face1.png")).shape == (120, 120, 3)
    assert main([str(images / "face1.png"),
                 *_args(tiny_model_dir, "--out", str(tmp_path / "annotated.xyz"))]) == 2
    err = capsys.readouterr().err
    assert "no writer for '.xyz'" in err and "Traceback" not in err
    assert not (tmp_path / "annotated.xyz").exists()


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


def test_folder_with_bad_files_reports_skips_and_exits_1(
        tiny_model_dir: Path, images: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Corrupt, cut-off and empty files are reported one line each; the good ones still run."""
    good = cv2.imencode(".jpg", cv2.imread(str(images / "face1.png")))[1].tobytes()
    (images / "a_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 10)
    (images / "b_empty.png").write_bytes(b"")
    (images / "c_header_only.jpg").write_bytes(good[:200])
    (images / "d_folder.jpg").mkdir()  # not a file: not an input at all
    js = tmp_path / "poses.jsonl"
    code = main([str(images), *_args(tiny_model_dir, "--json", str(js))])
    out, err = capsys.readouterr()
    assert code == 1
    skipped = [line for line in err.splitlines() if line.startswith("gldpose predict: skipped")]
    assert len(skipped) == 3 and "Traceback" not in err
    for name, line in zip(("a_corrupt.jpg", "b_empty.png", "c_header_only.jpg"), skipped):
        assert name in line and "cannot decode image" in line
    records = _lines(js)
    assert [Path(r["source"]).name for r in records] == [
        "a_corrupt.jpg", "b_empty.png", "c_header_only.jpg", "face0.png", "face1.png",
        "face2.png"]
    assert [len(r["poses"]) for r in records] == [0, 0, 0, 1, 1, 1]
    assert all("error" in r for r in records[:3]) and not any("error" in r for r in records[3:])
    assert "3 face(s) in 3 frame(s)" in out and "3 image(s) failed" in out
    for name in ("face0.png", "face1.png", "face2.png"):  # processed after the bad files
        assert name in out


def test_folder_whose_images_all_fail_exits_1_and_empty_folder_exits_2(
        tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"garbage")
    assert main([str(bad), *_args(tiny_model_dir)]) == 1
    assert "skipped" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert main([str(empty), *_args(tiny_model_dir)]) == 2
    assert "no images" in capsys.readouterr().err


def test_folder_image_refused_by_the_estimator_is_skipped(
        tiny_model_dir: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An image that decodes but is refused (here: 1 px high) is skipped like a corrupt one."""
    cv2.imwrite(str(images / "z_sliver.png"), np.zeros((1, 50, 3), np.uint8))
    assert main([str(images), *_args(tiny_model_dir)]) == 1
    out, err = capsys.readouterr()
    (line,) = [text for text in err.splitlines() if "skipped" in text]
    assert "z_sliver.png" in line and "too small" in line
    assert "3 face(s) in 3 frame(s)" in out


def test_built_in_model_by_name(images: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """``--model fast`` loads the built-in mobilenet_v3_small; an unknown name is a folder that
    is not there (exit 2, named)."""
    js = tmp_path / "poses.jsonl"
    with caplog.at_level("INFO", logger="gldpose_sdk.cli"):
        assert main([str(images / "face1.png"), "--model", "fast", "--backend", "pytorch",
                     "--detector", "none", "--json", str(js), "-v"]) == 0
    (record,) = _lines(js)
    assert len(record["poses"]) == 1
    assert "'backbone': 'mobilenet_v3_small'" in caplog.text
    assert "models/fast" in caplog.text
    assert main([str(images / "face1.png"), "--model", "fastest", "--detector", "none"]) == 2
    assert "not a gldpose model folder" in capsys.readouterr().err
