"""The result type: one head pose with its uncertainty and where the face is."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Pose:
    """Head pose of one face, in degrees, in the 300W-LP convention (DESIGN 1).

    Attributes:
        yaw_deg, pitch_deg, roll_deg: the angles (softmax expectation over bins).
        yaw_std_deg, pitch_std_deg, roll_std_deg: standard deviation of each predicted
            distribution: the model's own uncertainty, in degrees.
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
        return out
