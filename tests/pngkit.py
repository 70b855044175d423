"""Reading the pixels of a PNG screenshot without an imaging library (Chromium writes 8-bit RGB or
RGBA, not interlaced), so a browser test can assert what its screenshot shows."""

from __future__ import annotations

import struct
import zlib


def decode(data: bytes) -> tuple[int, int, list[bytearray], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and not interlace, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        previous = line
    return width, height, rows, bpp


class Image:
    def __init__(self, data: bytes) -> None:
        self.width, self.height, self.rows, self.bpp = decode(data)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        row = self.rows[y]
        return tuple(row[x * self.bpp : x * self.bpp + 3])  # type: ignore[return-value]

    def colours(self, x0: int, y0: int, x1: int, y1: int) -> dict[tuple[int, int, int], int]:
        """How many pixels of each colour the box [x0, x1) x [y0, y1) holds."""
        counts: dict[tuple[int, int, int], int] = {}
        for y in range(max(0, y0), min(self.height, y1)):
            for x in range(max(0, x0), min(self.width, x1)):
                colour = self.pixel(x, y)
                counts[colour] = counts.get(colour, 0) + 1
        return counts
