"""Writers of tiny dataset fixtures in each published on-disk format (used by the reader tests)."""
from __future__ import annotations

import csv
import io
import sqlite3
import tarfile
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import scipy.io


def face_image(height: int, width: int, seed: int) -> np.ndarray:
    """A BGR uint8 image with smooth structure (survives JPEG) and a seed-dependent pattern."""
    rng = np.random.default_rng(seed)
    shape = (max(2, height // 16), max(2, width // 16), 3)
    small = rng.integers(0, 256, size=shape, dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def write_300wlp(folder: Path, name: str, ypr_deg: Sequence[float], pt2d: np.ndarray,
                 size: tuple[int, int] = (160, 200), seed: int = 0) -> None:
    """``NAME.jpg`` + ``NAME.mat``, ``Pose_Para`` = [pitch, yaw, roll, tx, ty, tz, s] radians."""
    yaw, pitch, roll = np.radians(np.asarray(ypr_deg, dtype=np.float64))
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pose_para = np.array([[pitch, yaw, roll, 80.0, 90.0, 10.0, 0.0012]])
    scipy.io.savemat(str(path.with_suffix(".mat")), {"Pose_Para": pose_para,
                                                     "pt2d": np.asarray(pt2d, dtype=np.float64)})
    cv2.imwrite(str(path.with_suffix(".jpg")), face_image(*size, seed=seed))


def landmarks(x0: float, y0: float, x1: float, y1: float, count: int = 68,
              missing: Iterable[int] = ()) -> np.ndarray:
    """``[2, count]`` points spanning exactly the box; columns in ``missing`` set to -1."""
    t = np.linspace(0.0, 1.0, count)
    pts = np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t[::-1]])
    pts[:, list(missing)] = -1.0
    return pts


AFLW_SCHEMA = """
CREATE TABLE Faces (face_id INTEGER PRIMARY KEY, file_id VARCHAR(40), db_id VARCHAR(40));
CREATE TABLE FaceImages (image_id INTEGER PRIMARY KEY, db_id VARCHAR(40), file_id VARCHAR(40),
                         filepath VARCHAR(255), bw INTEGER, width INTEGER, height INTEGER);
CREATE TABLE FacePose (face_id INTEGER, roll FLOAT, pitch FLOAT, yaw FLOAT, annot_type_id INTEGER);
CREATE TABLE FaceRect (face_id INTEGER, x INTEGER, y INTEGER, w INTEGER, h INTEGER,
                       annot_type_id INTEGER);
"""


def write_aflw_sqlite(folder: Path, faces: Sequence[dict]) -> None:
    """``aflw.sqlite`` + ``flickr/<filepath>`` images.

    Each face: ``face_id, filepath, yaw, pitch, roll`` (radians), ``rect`` (x, y, w, h), ``seed``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "aflw.sqlite")
    conn.executescript(AFLW_SCHEMA)
    files: dict[str, str] = {}
    for face in faces:
        if face["filepath"] not in files:
            files[face["filepath"]] = f"image{len(files):05d}.jpg"
            conn.execute("INSERT INTO FaceImages VALUES (?, 'flickr', ?, ?, 0, 200, 160)",
                         (len(files), files[face["filepath"]], face["filepath"]))
            image_path = folder / "flickr" / face["filepath"]
            image_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image_path), face_image(160, 200, seed=face["seed"]))
        conn.execute("INSERT INTO Faces VALUES (?, ?, 'flickr')",
                     (face["face_id"], files[face["filepath"]]))
        conn.execute("INSERT INTO FacePose VALUES (?, ?, ?, ?, 1)",
                     (face["face_id"], face["roll"], face["pitch"], face["yaw"]))
        conn.execute("INSERT INTO FaceRect VALUES (?, ?, ?, ?, ?, 1)",
                     (face["face_id"], *face["rect"]))
    conn.commit()
    conn.close()


def write_aflw_txt(folder: Path, name: str, ypr_rad: Sequence[float], size: int,
                   seed: int = 0) -> None:
    """Hopenet's AFLW export: ``NAME.png`` crop + ``NAME.txt`` ``src yaw pitch roll x y w h``."""
    folder.mkdir(parents=True, exist_ok=True)
    yaw, pitch, roll = ypr_rad
    (folder / f"{name}.txt").write_text(
        f"/data/aflw/flickr/0/{name}.png {yaw!r} {pitch!r} {roll!r} 10 20 {size} {size}\n")
    cv2.imwrite(str(folder / f"{name}.png"), face_image(size, size, seed=seed))


def write_afw(folder: Path, images: Sequence[dict]) -> None:
    """AFW ``anno.mat`` (N x 4 cell: name, boxes 2x2, poses 1x3 degrees, 6x2 landmarks) + jpgs.

    Each image: ``name``, ``faces`` = list of ``(box (x1, y1, x2, y2), (yaw, pitch, roll))``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    anno = np.empty((len(images), 4), dtype=object)
    for i, image in enumerate(images):
        n = len(image["faces"])
        boxes, poses, marks = (np.empty((1, n), dtype=object) for _ in range(3))
        for j, (box, pose) in enumerate(image["faces"]):
            x1, y1, x2, y2 = box
            boxes[0, j] = np.array([[x1, y1], [x2, y2]], dtype=np.float64)
            poses[0, j] = np.array([pose], dtype=np.float64)
            marks[0, j] = np.tile([[x1 + 5.0, y1 + 5.0]], (6, 1))
        anno[i] = [image["name"], boxes, poses, marks]
        cv2.imwrite(str(folder / image["name"]), face_image(240, 320, seed=i))
    scipy.io.savemat(str(folder / "anno.mat"), {"anno": anno})


def euler_to_biwi_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """The rotation BIWI would store for these angles (inverse of DESIGN's formula)."""
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])

    def rx(a: float) -> np.ndarray:
        return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])

    def ry(a: float) -> np.ndarray:
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    def rz(a: float) -> np.ndarray:
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    return (rz(-r) @ ry(-y) @ rx(p)).T


def write_biwi_frame(seq: Path, frame: int, rotation: np.ndarray, centre_mm: Sequence[float],
                     seed: int = 0) -> None:
    """``frame_XXXXX_rgb.png`` (640x480) + ``frame_XXXXX_pose.txt`` in BIWI's layout."""
    seq.mkdir(parents=True, exist_ok=True)
    rows = "".join(" ".join(f"{v:.10f}" for v in row) + " \n" for row in rotation)
    centre = " ".join(f"{v:.6f}" for v in centre_mm) + " \n"
    (seq / f"frame_{frame:05d}_pose.txt").write_text(rows + "\n" + centre)
    cv2.imwrite(str(seq / f"frame_{frame:05d}_rgb.png"), face_image(480, 640, seed=seed))


def write_rgb_cal(seq: Path, k: np.ndarray, r: np.ndarray, t: Sequence[float]) -> None:
    """BIWI ``rgb.cal``: K (3 rows), blank, 4 distortion terms, blank, R (3 rows), blank, T."""
    def block(m: np.ndarray) -> str:
        return "".join(" ".join(f"{v:.6f}" for v in row) + " \n" for row in np.atleast_2d(m))
    text = block(k) + "\n" + block(np.zeros((1, 4))) + "\n" + block(r) + "\n" + block(t)
    (seq / "rgb.cal").write_text(text)


def write_crops(folder: Path, rows: Sequence[dict], header: Sequence[str], *, as_tar: bool,
                size: int = 40) -> dict[str, np.ndarray]:
    """``labels.csv`` + images (``images.tar`` written with tarfile, or ``images/``).

    Returns the decoded BGR image of each name (what the reader must return).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    decoded = {}
    blobs = {}
    for i, row in enumerate(rows):
        ok, buf = cv2.imencode(".jpg", face_image(size, size, seed=100 + i))
        assert ok
        blobs[row["name"]] = buf.tobytes()
        decoded[row["name"]] = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if as_tar:
        with tarfile.open(folder / "images.tar", "w") as tar:
            for name, blob in blobs.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (folder / "images").mkdir(exist_ok=True)
        for name, blob in blobs.items():
            (folder / "images" / name).write_bytes(blob)
    return decoded


def read_expected_pose(shared_data: Path, fixture: str) -> dict[str, np.ndarray]:
    """``real-format/expected_pose.csv`` rows of one fixture: image name -> [yaw, pitch, roll]."""
    out = {}
    with open(shared_data / "real-format" / "expected_pose.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["fixture"] == fixture:
                out[row["name"]] = np.array([float(row[k]) for k in ("yaw", "pitch", "roll")])
    return out
