"""Calibration of the predicted std (issue 10): raw std -> an honest 1-sigma band, per angle.

The softmax distribution of a GLD-trained model is about as wide as its training targets (sigma
4 bins = 12 degrees), whatever the real error, so its raw std says little in degrees. The fit
here is a monotone map from raw std to the 68.27% quantile of the absolute error: the raw stds
are split into quantile bins, each bin's knot is (median raw std, 68.27% quantile of |error|),
and the knots are made non-decreasing by pooling adjacent violators. About 68% of errors then
fall within one calibrated std, in every range of raw std, and the std still grows where the
model is less sure. Coverage is reported in-sample and cross-fitted (fit on one half, measure on
the other), the honest figure.
"""
from __future__ import annotations

import numpy as np

from gldpose_sdk.manifest import ANGLE_NAMES, AngleCalibration, Calibration
from gldpose_train import TrainError

ONE_SIGMA = 0.682689492137


def _pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``y`` (the PAV algorithm)."""
    blocks: list[list[float]] = []   # [value, weight, count]
    for value, weight in zip(y.tolist(), w.tolist()):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(c, v) for v, _, c in blocks])


def fit_angle(raw_std_deg: np.ndarray, abs_error_deg: np.ndarray,
              max_knots: int = 12, min_per_knot: int = 40) -> AngleCalibration:
    """Fit one angle's map (see the module docstring).

    Raises:
        TrainError: fewer than ``min_per_knot`` samples, or non-finite inputs.
    """
    s = np.asarray(raw_std_deg, np.float64).ravel()
    e = np.asarray(abs_error_deg, np.float64).ravel()
    if s.shape != e.shape or len(s) < min_per_knot or not (np.isfinite(s).all()
                                                           and np.isfinite(e).all()):
        raise TrainError(f"calibration needs at least {min_per_knot} finite (std, error) pairs, "
                         f"got {len(s)}")
    knots = int(max(1, min(max_knots, len(s) // min_per_knot)))
    order = np.argsort(s, kind="stable")
    xs, ys, ws = [], [], []
    for part in np.array_split(order, knots):
        xs.append(float(np.median(s[part])))
        ys.append(float(np.quantile(e[part], ONE_SIGMA)))
        ws.append(float(len(part)))
    ys_mono = _pool_adjacent_violators(np.array(ys), np.array(ws))
    raw, cal = [], []
    for x, y in zip(xs, ys_mono):
        y = max(float(y), 0.05)
        if raw and x <= raw[-1] + 1e-6:           # tied raw stds: keep the larger band
            cal[-1] = max(cal[-1], y)
            continue
        raw.append(max(x, 1e-3))
        cal.append(max(y, cal[-1]) if cal else y)
    return AngleCalibration(tuple(raw), tuple(cal))


def fit_calibration(raw_std_deg: np.ndarray, abs_error_deg: np.ndarray,
                    fitted_on: str = "") -> Calibration:
    """Per-angle calibration from ``[N, 3]`` raw stds and absolute errors, with coverage.

    ``within_1std``/``within_2std`` hold the cross-fitted coverage (two folds).
    """
    per_angle = [fit_angle(raw_std_deg[:, k], abs_error_deg[:, k]) for k in range(3)]
    calibration = Calibration(*per_angle, fitted_on=fitted_on)
    cross = cross_fitted_coverage(raw_std_deg, abs_error_deg)
    return Calibration(*per_angle, fitted_on=fitted_on,
                       within_1std=tuple(cross["within_1std"]),
                       within_2std=tuple(cross["within_2std"])) if cross else calibration


def coverage(calibration: Calibration, raw_std_deg: np.ndarray,
             abs_error_deg: np.ndarray) -> dict[str, list[float]]:
    """Share of errors within 1 and 2 calibrated stds, per angle (yaw, pitch, roll)."""
    std = calibration.apply(raw_std_deg)
    e = np.asarray(abs_error_deg)
    return {"within_1std": [float(v) for v in np.mean(e <= std, axis=0)],
            "within_2std": [float(v) for v in np.mean(e <= 2 * std, axis=0)],
            "mean_std": [float(v) for v in std.mean(axis=0)]}


def cross_fitted_coverage(raw_std_deg: np.ndarray, abs_error_deg: np.ndarray,
                          seed: int = 0) -> dict[str, list[float]] | None:
    """Coverage measured on each half with the map fitted on the other half (None if too few)."""
    n = len(raw_std_deg)
    fold = np.random.default_rng(seed).permutation(n) % 2 == 0
    hits1, hits2 = np.zeros(3), np.zeros(3)
    try:
        for test in (fold, ~fold):
            cal = Calibration(*[fit_angle(raw_std_deg[~test, k], abs_error_deg[~test, k])
                                for k in range(3)])
            std = cal.apply(raw_std_deg[test])
            hits1 += np.sum(abs_error_deg[test] <= std, axis=0)
            hits2 += np.sum(abs_error_deg[test] <= 2 * std, axis=0)
    except TrainError:
        return None
    return {"within_1std": [float(v) for v in hits1 / n],
            "within_2std": [float(v) for v in hits2 / n]}


def describe(calibration: Calibration) -> str:
    """One line per angle: knots and coverage."""
    lines = []
    for k, name in enumerate(ANGLE_NAMES):
        c = getattr(calibration, name)
        cov = (f"; cross-fitted coverage {calibration.within_1std[k]:.1%} within 1 std, "
               f"{calibration.within_2std[k]:.1%} within 2" if calibration.within_1std else "")
        lines.append(f"{name}: raw std {c.raw_std_deg[0]:.1f}..{c.raw_std_deg[-1]:.1f} -> "
                     f"{c.std_deg[0]:.1f}..{c.std_deg[-1]:.1f} deg ({len(c.raw_std_deg)} knots)"
                     + cov)
    return "\n".join(lines)
