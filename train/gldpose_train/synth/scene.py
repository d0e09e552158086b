"""Put heads in front of a camera: build, light, project and rasterise them, and label them.

Each head is seen by a camera whose optical axis passes through the head's pivot (the middle of the
head at eye level); the pivot then lands at ``centre_px``. This makes the label exact for a crop
around the face, which is what the model sees: the apparent rotation is the labelled one for any
focal length, with no extra rotation from being off-axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from gldpose_sdk.rotation import rotation_matrix

from gldpose_train.synth import geometry, materials, parts
from gldpose_train.synth.raster import Canvas, rasterize

# Skin grid (azimuth x height samples): the fine one for faces from FINE_PX_PER_CM up, where the
# coarse one's facets would show; the coarse one is 15 % faster and enough for small faces.
GRID_FINE, GRID_COARSE = (96, 76), (88, 68)
FINE_PX_PER_CM = 8.0


@dataclass(frozen=True)
class Light:
    """Directional light in camera coordinates (x right, y up, z toward the camera)."""

    direction: tuple[float, float, float]
    ambient: float
    diffuse: float
    specular: float
    shininess: float
    tint: tuple[float, float, float]   # BGR multiplier

    @classmethod
    def random(cls, rng: np.random.Generator) -> Light:
        """A random key light from the camera's half-space."""
        d = np.array([rng.uniform(-1, 1), rng.uniform(-0.4, 1), rng.uniform(0.25, 1.2)])
        return cls(direction=tuple(d / np.linalg.norm(d)), ambient=float(rng.uniform(0.2, 0.5)),
                   diffuse=float(rng.uniform(0.55, 0.95)), specular=float(rng.uniform(0.03, 0.2)),
                   shininess=float(rng.uniform(8, 40)), tint=tuple(rng.uniform(0.9, 1.1, 3)))


@dataclass(frozen=True)
class Placement:
    """Where and how a head is seen.

    Attributes:
        yaw_deg, pitch_deg, roll_deg: head pose (DESIGN 1 convention).
        centre_px: image position ``(x, y)`` of the head pivot.
        scale_px_per_cm: image scale at the pivot's depth.
        distance_cm: camera-to-pivot distance (sets the perspective strength).
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    centre_px: tuple[float, float]
    scale_px_per_cm: float
    distance_cm: float = 80.0


@dataclass
class HeadLabel:
    """Ground truth of one rendered head.

    Attributes:
        placement: the placement it was rendered with.
        landmarks_px: float64 ``[68, 2]`` projected iBUG landmarks (pixel centres at integers).
        landmark_depth_cm: float64 ``[68]`` distance from the camera plane.
        visible: bool ``[68]`` landmarks not hidden by the head itself or anything in front.
    """

    placement: Placement
    landmarks_px: np.ndarray
    landmark_depth_cm: np.ndarray
    visible: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Tight face box ``(x0, y0, x1, y1)`` from the landmarks (as the 300W-LP readers do)."""
        lo, hi = self.landmarks_px.min(0), self.landmarks_px.max(0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


@lru_cache(maxsize=2)
def _skin_grid(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return geometry.grid_mesh(*grid)


def _grid_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals ``[n_y, n_theta, 3]`` of a (y, theta) grid surface by central differences."""
    d_theta = np.roll(points, -1, axis=1) - np.roll(points, 1, axis=1)
    d_y = np.gradient(points, axis=0)
    n = np.cross(d_theta, d_y)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    n[0], n[-1] = (0.0, -1.0, 0.0), (0.0, 1.0, 0.0)  # the poles: rows collapsed to a point
    return n


class _Projector:
    """Head frame -> camera frame -> pixels, for one placement."""

    def __init__(self, place: Placement) -> None:
        self.rot = rotation_matrix(place.yaw_deg, place.pitch_deg, place.roll_deg)
        self.place = place
        self.focal = place.scale_px_per_cm * place.distance_cm

    def to_camera(self, points: np.ndarray, rot: np.ndarray | None = None) -> np.ndarray:
        return points @ (self.rot if rot is None else rot).T

    def to_pixels(self, cam: np.ndarray) -> np.ndarray:
        """``[N, 3]``: pixel x, pixel y, depth (cm)."""
        depth = self.place.distance_cm - cam[:, 2]
        cx, cy = self.place.centre_px
        return np.stack([cx + self.focal * cam[:, 0] / depth, cy - self.focal * cam[:, 1] / depth,
                         depth], 1)


def shade(albedo: np.ndarray, cam_points: np.ndarray, cam_normals: np.ndarray, light: Light,
          distance_cm: float, gloss: float = 1.0) -> np.ndarray:
    """Per-vertex colour (BGR 0..1): half-wrapped Lambert plus Blinn-Phong specular."""
    ldir = np.asarray(light.direction)
    ndl = cam_normals @ ldir
    diffuse = np.clip((ndl + 0.25) / 1.25, 0, 1) ** 1.3
    view = np.array([0.0, 0.0, distance_cm]) - cam_points
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    half = view + ldir
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    spec = light.specular * gloss * np.clip((cam_normals * half).sum(1), 0, 1) ** light.shininess
    spec *= ndl > 0
    tint = np.asarray(light.tint)
    lit = albedo * (light.ambient + light.diffuse * diffuse)[:, None] + spec[:, None]
    return np.clip(lit * tint[None, :], 0, 1)


def _body_meshes(shape: geometry.HeadShape) -> list[tuple[np.ndarray, np.ndarray]]:
    neck_v, neck_f = parts.tube(5.3 * shape.width, 5.0, -3.0, -24.0)
    neck_v = neck_v + np.array([0.0, 0.0, -1.6])
    torso_v, torso_f = parts.sphere(tuple(np.linspace(0, 180, 13)), 24)
    torso_v = torso_v[:, [0, 2, 1]] * np.array([19.0, 8.5, 10.0]) + np.array([0.0, -24.5, -2.5])
    return [(neck_v, neck_f), (torso_v, torso_f[:, [0, 2, 1]])]


def render_head(canvas: Canvas, rng: np.random.Generator, place: Placement, light: Light,
                mesh_id: int = 0) -> HeadLabel:
    """Draw one random head (with neck and shoulders) into ``canvas``; return its label.

    The label's ``visible`` flags only account for this head; call :func:`update_visibility`
    after drawing everything else.
    """
    shape = geometry.HeadShape.random(rng)
    app = materials.Appearance.random(rng)
    proj = _Projector(place)
    theta, ys, faces = _skin_grid(GRID_FINE if place.scale_px_per_cm >= FINE_PX_PER_CM
                                  else GRID_COARSE)
    skin = geometry.surface(theta, ys * shape.height, shape)  # the grid spans an average head
    lm = geometry.landmarks_3d(shape)
    lm[36:48] = parts.on_eyeballs(lm[36:48], shape)
    albedo, cover = materials.skin_albedo(skin.reshape(-1, 3), theta.ravel(), shape, app, lm)
    if app.hair_cm > 0:
        volume = app.hair_cm * materials.hair_mask(theta, ys, app, ramp_cm=2.5)
        skin = skin + _grid_normals(skin) * volume[..., None]
    normals = _grid_normals(skin).reshape(-1, 3)
    skin = skin.reshape(-1, 3)
    gloss = 1.0 - 0.7 * cover
    meshes = [(skin, faces, normals, albedo, gloss, None)]
    gaze = rng.uniform([-0.15, -0.1], [0.15, 0.1])
    for centre in parts.eye_centres(shape):
        v, f, polar = parts.eyeball(centre, shape, gaze)
        meshes.append((v, f, parts.vertex_normals(v, f), materials.eye_albedo(polar, app), 3.0,
                       None))
    for side in (-1, 1):
        v, f, bowl = parts.ear(shape, side)
        meshes.append((v, f, parts.vertex_normals(v, f), materials.ear_albedo(bowl, app), 0.6,
                       None))
    body_rot = rotation_matrix(0.35 * place.yaw_deg, 0.2 * place.pitch_deg, 0.3 * place.roll_deg)
    neck_albedo = np.asarray(app.skin) * 0.92
    pixels, tris, colors, offset = [], [], [], 0
    for k, (v, f) in enumerate(_body_meshes(shape)):
        alb = np.broadcast_to(neck_albedo if k == 0 else np.asarray(app.cloth), v.shape)
        # The neck bends: its top follows the head, its bottom the shoulders (linear blend).
        blend = materials.smoothstep((v[:, 1] + 15.0) / 9.0) if k == 0 else np.zeros(len(v))
        meshes.append((v, f, parts.vertex_normals(v, f), alb, 0.3, blend))
    for points, faces_, normals_, albedo_, gloss_, blend in meshes:
        cam = proj.to_camera(points)
        cam_n = proj.to_camera(normals_)
        if blend is not None:
            w = blend[:, None]
            cam = w * cam + (1 - w) * proj.to_camera(points, body_rot)
            cam_n = w * cam_n + (1 - w) * proj.to_camera(normals_, body_rot)
        colors.append(shade(albedo_, cam, cam_n, light, place.distance_cm, gloss_))
        pixels.append(proj.to_pixels(cam))
        tris.append(faces_ + offset)
        offset += len(points)
    # One call for the whole head: the rasteriser's cost is mostly per call, not per triangle.
    rasterize(canvas, np.concatenate(pixels), np.concatenate(tris), np.concatenate(colors), mesh_id)
    _draw_mouth_line(canvas, proj, lm, np.asarray(app.skin))
    if app.has_glasses:
        _draw_glasses(canvas, proj, shape, rng)
    lm_px = proj.to_pixels(proj.to_camera(lm))
    label = HeadLabel(place, lm_px[:, :2].copy(), lm_px[:, 2].copy(), np.ones(68, bool))
    update_visibility(canvas, label)
    return label


def _draw_polyline(canvas: Canvas, proj: _Projector, points: np.ndarray, color: np.ndarray,
                   thick_px: int, tolerance_cm: float) -> None:
    """Draw a 3D polyline where it is not behind what is already drawn (anti-aliased)."""
    height, width = canvas.depth.shape
    px = proj.to_pixels(proj.to_camera(points))
    ix = np.clip(np.round(px[:, 0]).astype(int), 0, width - 1)
    iy = np.clip(np.round(px[:, 1]).astype(int), 0, height - 1)
    seen = px[:, 2] <= canvas.depth[iy, ix] + tolerance_cm
    fixed = np.round(px[:, :2] * 16).astype(np.int64)  # 4 fractional bits for cv2 shift=4
    col = tuple(float(c) for c in color)
    for i in range(len(px) - 1):
        if seen[i] and seen[i + 1]:
            p0 = (int(fixed[i, 0]), int(fixed[i, 1]))
            p1 = (int(fixed[i + 1, 0]), int(fixed[i + 1, 1]))
            cv2.line(canvas.color, p0, p1, col, thick_px, cv2.LINE_AA, shift=4)


def _draw_mouth_line(canvas: Canvas, proj: _Projector, lm: np.ndarray, skin: np.ndarray) -> None:
    """The dark line between the lips, through the inner-lip landmarks (finer than the mesh)."""
    line = lm[[48, 60, 61, 62, 63, 64, 54]]
    thick = max(1, round(0.09 * proj.place.scale_px_per_cm))
    _draw_polyline(canvas, proj, line, skin * 0.35, thick, 0.5)


def _draw_glasses(canvas: Canvas, proj: _Projector, shape: geometry.HeadShape,
                  rng: np.random.Generator) -> None:
    """Draw the glasses frame where it is in front of what is already drawn."""
    color = rng.uniform(0.0, 0.35, 3) if rng.random() < 0.7 else rng.uniform(0.3, 0.8, 3)
    thick = max(1, round(0.16 * proj.place.scale_px_per_cm))
    for line in parts.glasses_curve(shape):
        _draw_polyline(canvas, proj, line, color, thick, 0.6)


def update_visibility(canvas: Canvas, label: HeadLabel, tolerance_cm: float = 0.8) -> None:
    """Mark landmarks hidden by anything nearer in ``canvas`` (or outside it) as not visible."""
    height, width = canvas.depth.shape
    xy = np.round(label.landmarks_px).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    ix, iy = np.clip(xy[:, 0], 0, width - 1), np.clip(xy[:, 1], 0, height - 1)
    # Check a 3x3 neighbourhood: a landmark on a silhouette may sit beside its own pixel.
    best = np.full(68, np.inf)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            best = np.minimum(best, np.abs(canvas.depth[np.clip(iy + dy, 0, height - 1),
                                                        np.clip(ix + dx, 0, width - 1)]
                                           - label.landmark_depth_cm))
    label.visible = inside & (best <= tolerance_cm) & label.visible
