"""The result type: one head pose with its uncertainty and where the face is."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: A face box ``(x0, y0, x1, y1)`` in pixels (the one definition of the project).
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PoseQuality:
    """Why a pose can or cannot be trusted (see ``EstimatorConfig.quality``).

    Attributes:
        inside_frame_frac: share of the model's crop that lay inside the frame (1 for crops).
        brightness: mean crop brightness, 0..1.
        contrast: standard deviation of the crop's pixels, 0..1.
        reasons: the failed checks (``"uncertain yaw"``, ``"outside frame"``, ``"dark"``,
            ``"flat"``); empty when the pose is reliable.
    """

    inside_frame_frac: float = 1.0
    brightness: float = 0.5
    contrast: float = 0.2
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pose:
    """Head pose of one face, in degrees, in the 300W-LP convention (DESIGN 1).

    Attributes:
        yaw_deg, pitch_deg, roll_deg: the angles (softmax expectation over bins).
        yaw_std_deg, pitch_std_deg, roll_std_deg: the uncertainty of each angle, in degrees:
            the predicted distribution's standard deviation, mapped through the model's
            calibration when its manifest has one (about 68% of errors are within one std).
        raw_std_deg: the uncalibrated standard deviations (yaw, pitch, roll).
        quality: brightness, contrast, share inside the frame and the failed checks.
        box: face box ``(x0, y0, x1, y1)`` in pixels of the input frame (the tight box, before
            the model's crop margin); for a bare crop, the crop's own extent.
        score: detector confidence in [0, 1] (1.0 when the box was given by the caller).
        track_id: identity across video frames (None outside tracking).
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    yaw_std_deg: float
    pitch_std_deg: float
    roll_std_deg: float
    box: Box
    score: float = 1.0
    track_id: int | None = None
    raw_std_deg: tuple[float, float, float] | None = None
    quality: PoseQuality = field(default_factory=PoseQuality)

    @property
    def is_reliable(self) -> bool:
        """True when no quality check failed (see :class:`PoseQuality`)."""
        return not self.quality.reasons

    @property
    def angles_deg(self) -> np.ndarray:
        """``[yaw, pitch, roll]`` float64."""
        return np.array([self.yaw_deg, self.pitch_deg, self.roll_deg])

    @property
    def std_deg(self) -> np.ndarray:
        """``[yaw_std, pitch_std, roll_std]`` float64."""
        return np.array([self.yaw_std_deg, self.pitch_std_deg, self.roll_std_deg])

    def rotation_matrix(self) -> np.ndarray:
        """3x3 rotation of the head in the DESIGN 1 convention (see ``gldpose_sdk.rotation``)."""
        from gldpose_sdk.rotation import rotation_matrix

        return rotation_matrix(self.yaw_deg, self.pitch_deg, self.roll_deg)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (box as a list)."""
        out = asdict(self)
        out["box"] = [float(v) for v in self.box]
        out["is_reliable"] = self.is_reliable
        return out
