"""What a torch checkpoint declares (tensor names, shapes, dtypes), read without allocating it.

``torch.load`` allocates every storage a checkpoint declares before its caller can look at a
shape, so a 1.5 KB file declaring a huge tensor costs gigabytes. :func:`checkpoint_tensors`
reads the checkpoint's pickle with a restricted unpickler that resolves only
``collections.OrderedDict``, torch's tensor and parameter rebuild functions (replaced here by
functions that return :class:`TensorInfo` descriptions) and the typed storage classes; any other
global is refused, so no code runs. Both ``torch.save`` formats are read: the zip format (since
PyTorch 1.6) and the older pickle stream (Hopenet's 2018 releases). Every declared storage is
checked against the bytes the file really holds, and every tensor against its storage, so a
``torch.load(weights_only=True)`` of a checked file allocates no more than the file's size.
Used by :func:`gldpose_sdk.model.import_hopenet`.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import math
import pickle
import struct
import zipfile
from typing import IO, Any

import torch

from gldpose_sdk.errors import ModelFileError

#: Largest checkpoint :func:`gldpose_sdk.model.import_hopenet` reads (Hopenet's ResNet50 files
#: are about 95 MB).
MAX_CHECKPOINT_BYTES = 1 << 30
#: Largest pickle inside a checkpoint (a ResNet50 state dict's is about 40 KB).
MAX_PICKLE_BYTES = 16 << 20
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C   # torch.serialization.MAGIC_NUMBER (pre-1.6 format)
_STORAGE_DTYPES = {"BFloat16Storage": torch.bfloat16, "DoubleStorage": torch.float64,
                   "FloatStorage": torch.float32, "HalfStorage": torch.float16,
                   "LongStorage": torch.int64}
FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageType:
    name: str
    dtype: torch.dtype


@dataclasses.dataclass(frozen=True, slots=True)
class StorageInfo:
    """A storage a checkpoint declares: its key, dtype and element count (nothing allocated)."""

    key: str
    dtype: torch.dtype
    numel: int

    @property
    def nbytes(self) -> int:
        """Bytes the storage would take."""
        return self.numel * self.dtype.itemsize


@dataclasses.dataclass(frozen=True, slots=True)
class TensorInfo:
    """A tensor a checkpoint declares: shape, dtype, and where it lies in its storage."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    storage: StorageInfo

    @property
    def dtype(self) -> torch.dtype:
        """The storage's dtype."""
        return self.storage.dtype


def _describe_tensor(storage: object, offset: object, size: object, stride: object,
                     *_rest: object) -> TensorInfo:
    """Stands in for ``torch._utils._rebuild_tensor[_v2]`` while reading the pickle."""
    dims = (size, stride)
    if not isinstance(storage, StorageInfo) or not _is_count(offset) or not all(
            isinstance(d, tuple) and all(_is_count(v) for v in d) for d in dims) \
            or len(size) != len(stride) or len(size) > 8:
        raise pickle.UnpicklingError("a tensor record is malformed (storage, offset, size, "
                                     "stride expected)")
    return TensorInfo(size, stride, offset, storage)


def _parameter_data(data: object, *_rest: object) -> object:
    """Stands in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    return data


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 62


class _TensorInfoUnpickler(pickle.Unpickler):
    """Reads a checkpoint pickle into :class:`TensorInfo` objects and plain containers.

    Only ``collections.OrderedDict``, torch's tensor and parameter rebuild functions (replaced
    by :func:`_describe_tensor`) and typed storage classes are resolved; every other global
    is refused, so no code runs and no tensor memory is allocated.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        super().__init__(fh)
        self.storages: dict[str, StorageInfo] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _describe_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _parameter_data
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid: Any) -> StorageInfo:
        # zip format: ("storage", type, key, location, numel);
        # pre-1.6 format: ("storage", type, key, location, numel, view_metadata).
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")
                and isinstance(pid[1], _StorageType) and _is_count(pid[4])
                and isinstance(pid[2], (str, bytes)) and (len(pid) == 5 or pid[5] is None)):
            raise pickle.UnpicklingError(f"unsupported storage record {str(pid)[:80]}")
        key = pid[2].decode("ascii", "replace") if isinstance(pid[2], bytes) else pid[2]
        info = self.storages.setdefault(key, StorageInfo(key, pid[1].dtype, pid[4]))
        if (info.dtype, info.numel) != (pid[1].dtype, pid[4]):
            raise pickle.UnpicklingError(f"storage {key} is declared twice differently")
        return info


def checkpoint_tensors(data: bytes, source: str) -> Any:
    """The object a torch checkpoint holds, with tensors as :class:`TensorInfo` descriptions.

    Reads the zip format (``torch.save`` since 1.6) and the older pickle-stream format
    (Hopenet's 2018 files) without allocating any tensor, and checks that every declared
    storage is backed by as many bytes in ``data`` as it claims and that every tensor lies
    inside its storage.

    Raises:
        ModelFileError: not a torch checkpoint, a refused global, or inconsistent sizes.
    """
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            obj, unpickler = _zip_pickle(data, source)
        else:
            obj, unpickler = _legacy_pickle(data, source)
    except ModelFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, RecursionError, OverflowError, MemoryError, zipfile.BadZipFile,
            struct.error, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot load {source} as a torch checkpoint safely: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    for info in _tensor_infos(obj):
        extent = sum((n - 1) * s for n, s in zip(info.shape, info.stride)) + 1
        if math.prod(info.shape) and info.offset + extent > info.storage.numel:
            raise ModelFileError(f"{source}: a tensor of shape {info.shape} reaches past the end "
                                 f"of its storage ({info.storage.numel} elements)")
    return obj


def _zip_pickle(data: bytes, source: str) -> tuple[Any, _TensorInfoUnpickler]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        records = {i.filename: i for i in archive.infolist()}
        pickles = [n for n in records if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelFileError(f"{source} is a zip file but not a torch checkpoint (no single "
                                 "data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        if records[pickles[0]].file_size > MAX_PICKLE_BYTES:
            raise ModelFileError(f"{source}: its pickle is larger than {MAX_PICKLE_BYTES} bytes")
        unpickler = _TensorInfoUnpickler(io.BytesIO(archive.read(pickles[0])))
        obj = unpickler.load()
    for info in unpickler.storages.values():
        record = records.get(f"{prefix}data/{info.key}")
        if record is None or record.compress_type != zipfile.ZIP_STORED or \
                record.file_size != info.nbytes or record.file_size > len(data):
            found = "no record" if record is None else f"{record.file_size} stored bytes"
            raise ModelFileError(f"{source}: storage {info.key} declares {info.nbytes} bytes "
                                 f"but the file holds {found}")
    return obj, unpickler


def _legacy_pickle(data: bytes, source: str) -> tuple[Any, _TensorInfoUnpickler]:
    fh = io.BytesIO(data)
    header = [_TensorInfoUnpickler(fh).load() for _ in range(3)]  # magic, protocol, sys info
    if header[0] != _LEGACY_MAGIC or not isinstance(header[2], dict):
        raise ModelFileError(f"{source} is not a torch checkpoint (no torch.save header)")
    unpickler = _TensorInfoUnpickler(fh)
    obj = unpickler.load()
    keys = _TensorInfoUnpickler(fh).load()
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(unpickler.storages):
        raise ModelFileError(f"{source}: its storage list does not match its tensors")
    needed = sum(8 + info.nbytes for info in unpickler.storages.values())
    if needed > len(data) - fh.tell():
        raise ModelFileError(f"{source}: its tensors declare {needed} bytes of data but the file "
                             f"holds {len(data) - fh.tell()} after the pickle (truncated or "
                             "forged)")
    return obj, unpickler


def _tensor_infos(obj: Any) -> list[TensorInfo]:
    if isinstance(obj, TensorInfo):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensor_infos(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensor_infos(v)]
    return []
