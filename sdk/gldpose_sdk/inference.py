"""Network crops -> poses: backend, decode, flip averaging, std calibration, quality flag.

The one place where logits become :class:`~gldpose_sdk.pose.Pose` objects, whatever the
backend: every runtime returns logits, decoded here with the manifest's bins by the shared decode
(compiled or numpy); the manifest's expectation map (when it has one) undoes the shrinkage of
the training target at the ends of the bin range; its calibration maps the raw std to a
calibrated one; and each pose gets its quality checks (:class:`~gldpose_sdk.config.QualityThresholds`).
"""
from __future__ import annotations

import functools

import numpy as np

from gldpose_sdk.backends.base import Backend, non_finite_logits
from gldpose_sdk.config import QualityThresholds
from gldpose_sdk.decode import MappedDecode, decode_logits
from gldpose_sdk.errors import InputError
from gldpose_sdk.face_crops import FaceCrops
from gldpose_sdk.manifest import BinSpec, Manifest
from gldpose_sdk.pose import Pose, PoseQuality
from gldpose_sdk.preprocess import to_network_input

_FLIP_SIGN = np.array([-1.0, 1.0, -1.0], dtype=np.float32)   # mirror: -yaw, pitch, -roll


@functools.lru_cache(maxsize=8)
def _bin_centres(bins: BinSpec) -> np.ndarray:
    """``bins.centres_deg()`` computed once per bin layout (read-only), not on every call."""
    centres = bins.centres_deg()
    centres.setflags(write=False)
    return centres


def angles_from_logits(logits: np.ndarray, manifest: Manifest) -> tuple[np.ndarray, np.ndarray]:
    """Angles and raw std ``[N, 3]`` (degrees) from logits ``[N, 3, bins]``: the decode.

    Softmax expectation and standard deviation over the manifest's bins, then its
    :class:`~gldpose_sdk.manifest.ExpectationMap` when it has one (the angle through the map,
    the std times the map's local slope). Every backend's output and ``gldpose_train``'s
    evaluation go through here.
    """
    angles, std = decode_logits(logits, _bin_centres(manifest.bins))
    if manifest.expectation_map is not None:
        return manifest.expectation_map.map(angles, std)
    return angles, std


def average_flipped(angles: np.ndarray, std: np.ndarray, angles_mirrored: np.ndarray,
                    std_mirrored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip averaging: the mirrored crop's yaw and roll negated back, then the mean of the two."""
    return (angles + angles_mirrored * _FLIP_SIGN) / 2, (std + std_mirrored) / 2


def predict_angles(backend: Backend, crops_bgr: np.ndarray, manifest: Manifest,
                   flip_average: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Angles and raw std ``[N, 3]`` (degrees) for uint8 BGR crops ``[N, S, S, 3]``."""
    n = crops_bgr.shape[0]
    batch = crops_bgr
    if flip_average:
        batch = np.concatenate([crops_bgr, crops_bgr[:, :, ::-1]])
    logits = backend.infer(to_network_input(batch, backend.input_layout, manifest.input))
    angles, std = angles_from_logits(logits, manifest)
    if flip_average:
        return average_flipped(angles[:n], std[:n], angles[n:], std[n:])
    return angles, std


def calibrated_std(raw_std: np.ndarray, manifest: Manifest) -> np.ndarray:
    """The manifest's calibration applied to raw stds ``[N, 3]`` (unchanged without one)."""
    return manifest.calibration.apply(raw_std) if manifest.calibration is not None else raw_std


def decode_calibrated(logits: np.ndarray, manifest: Manifest
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles, raw std and calibrated std ``[N, 3]`` (degrees) from logits ``[N, 3, bins]``.

    :func:`angles_from_logits` then :func:`calibrated_std`, in one call of the compiled decode
    when it is built (the same numbers, tested). It prepares the manifest's tables on every
    call; a caller decoding repeatedly with one model keeps a :class:`PoseDecoder` instead
    (as :class:`~gldpose_sdk.estimator.PoseEstimator` does).
    """
    return _mapped_decode(manifest)(logits)


def _mapped_decode(manifest: Manifest) -> MappedDecode:
    """The compiled decode with the manifest's bins, expectation map and calibration."""
    expectation_map, calibration = manifest.expectation_map, manifest.calibration
    return MappedDecode(_bin_centres(manifest.bins),
                        expectation_map.knots if expectation_map is not None else None,
                        calibration.knots if calibration is not None else None)


@functools.lru_cache(maxsize=8)
def _float32_limits(limits: QualityThresholds) -> tuple[tuple[float, ...], float, float]:
    """The limits that float32 values are compared with, rounded to float32 as numpy would
    (so that a Python-float comparison decides exactly as the float32 arrays' own)."""
    def f32(v: float) -> float:
        return float(np.float32(v))
    return (tuple(map(f32, limits.max_std_deg)), f32(limits.min_brightness),
            f32(limits.min_contrast))


def build_poses(faces: FaceCrops, angles: np.ndarray, std: np.ndarray, raw_std: np.ndarray,
                limits: QualityThresholds) -> list[Pose]:
    """The :class:`Pose` objects of a batch from its arrays, with their quality checks
    (:meth:`PoseDecoder.poses` with these limits)."""
    return _poses(faces, angles, std, raw_std, _float32_limits(limits), limits.min_inside_frac)


def _poses(faces: FaceCrops, angles: np.ndarray, std: np.ndarray, raw_std: np.ndarray,
           limits: tuple[tuple[float, ...], float, float], min_inside: float) -> list[Pose]:
    """The Pose objects, with limits as :func:`_float32_limits` gives them.

    The arrays become Python floats once per batch (``tolist``) and the quality limits are
    compared as Python floats (against their float32 roundings): at batch 1 this is part of
    the per-face cost around the network (issue 12), where numpy's per-call overhead (three
    comparisons of one-row arrays) made the whole step 19 us per face instead of 9 (warm).
    """
    (max_yaw, max_pitch, max_roll), min_light, min_spread = limits
    angle_rows, std_rows, raw_rows = angles.tolist(), std.tolist(), raw_std.tolist()
    light, spread = faces.brightness.tolist(), faces.contrast.tolist()
    poses = []
    for i, box in enumerate(faces.boxes):   # boxes and inside fractions are Python floats
        yaw_std, pitch_std, roll_std = std_rows[i]
        reasons = []
        if yaw_std > max_yaw:
            reasons.append("uncertain yaw")
        if pitch_std > max_pitch:
            reasons.append("uncertain pitch")
        if roll_std > max_roll:
            reasons.append("uncertain roll")
        inside = faces.inside_frac[i]
        if inside < min_inside:
            reasons.append("outside frame")
        if light[i] < min_light:
            reasons.append("dark")
        if spread[i] < min_spread:
            reasons.append("flat")
        quality = PoseQuality(inside, light[i], spread[i], tuple(reasons))
        poses.append(Pose(*angle_rows[i], yaw_std, pitch_std, roll_std, box=box,
                          score=faces.scores[i], raw_std_deg=tuple(raw_rows[i]),
                          quality=quality))
    return poses


class PoseDecoder:
    """Logits -> :class:`Pose` objects for one model and one set of quality limits.

    What does not change between calls is prepared once: the manifest's bin centres,
    expectation map and calibration (:class:`~gldpose_sdk.decode.MappedDecode`) and the
    quality limits as float32 roundings. Looking them up on every call (an ``lru_cache`` keyed
    by a frozen dataclass hashes all its fields) cost about 40 us of the batch-1 path right
    after the network, more than the decode and the Pose objects themselves (issue 12,
    measured). :class:`~gldpose_sdk.estimator.PoseEstimator` keeps one.

    Attributes:
        manifest: the model's manifest.
        quality: the limits of the poses' quality checks.
    """

    def __init__(self, manifest: Manifest, quality: QualityThresholds) -> None:
        self.manifest = manifest
        self.quality = quality
        self._decode = _mapped_decode(manifest)
        self._limits = _float32_limits(quality)
        self._min_inside = quality.min_inside_frac

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Angles, raw std and calibrated std ``[N, 3]`` (degrees) from logits ``[N, 3, bins]``:
        :func:`decode_calibrated` for this model. Raises InputError for bad logits."""
        return self._decode(logits)

    def poses(self, faces: FaceCrops, angles: np.ndarray, std: np.ndarray,
              raw_std: np.ndarray) -> list[Pose]:
        """One :class:`Pose` per crop of ``faces`` from its arrays, with its quality checks."""
        return _poses(faces, angles, std, raw_std, self._limits, self._min_inside)


def infer_poses(backend: Backend, faces: FaceCrops, decoder: PoseDecoder,
                flip_average: bool = False) -> list[Pose]:
    """One :class:`Pose` per crop of ``faces``: the network, the decode, the Pose objects.

    ``flip_average``: also run the mirrored crops and average (EstimatorConfig.flip_average).
    """
    manifest = decoder.manifest
    if flip_average:   # the two views are averaged between the map and the calibration
        angles, raw_std = predict_angles(backend, faces.crops_bgr, manifest, True)
        std = calibrated_std(raw_std, manifest)
    else:
        logits = backend.infer(to_network_input(faces.crops_bgr, backend.input_layout,
                                                manifest.input), check_finite=False)
        try:   # the decode checks every logit (the backend's own scan was skipped)
            angles, raw_std, std = decoder.decode(logits)
        except InputError as exc:   # a backend's logits of the right shape: NaN or Inf
            raise non_finite_logits(backend.name) from exc
    return decoder.poses(faces, angles, std, raw_std)
