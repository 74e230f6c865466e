#!/usr/bin/env python3
"""Convert the bundled CSV tables to the .npy arrays the examples read.

Needs only the Python standard library. The .npy files are committed, so
this runs only when the tables change; `make-npy.py --check` verifies that
the committed arrays match the tables.
"""
import csv
import gzip
import io
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The arrays go where the examples' tenant, "demo", keeps its files.
OUT = HERE.parent / "tenants" / "demo"


def npy_bytes(values, shape, dtype):
    """Encode a flat list as a version 1.0 .npy image (C order)."""
    fmt = {"<f4": "f", "<f8": "d", "<i8": "q"}[dtype]
    shape_text = "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape_text)
    # Pad with spaces so that the data starts on a 64-byte boundary.
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    body = struct.pack("<%d%s" % (len(values), fmt), *values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("ascii") + body


def digits():
    """digits.csv.gz: 64 pixel columns then the label, no header line."""
    with gzip.open(HERE / "digits.csv.gz", "rt") as f:
        rows = [list(map(int, r)) for r in csv.reader(f)]
    pixels = [float(v) for r in rows for v in r[:64]]
    labels = [r[64] for r in rows]
    return {
        "digits_x.npy": npy_bytes(pixels, (len(rows), 64), "<f4"),
        "digits_y.npy": npy_bytes(labels, (len(rows),), "<i8"),
    }


def iris():
    """iris.csv: a shape line, then 4 features and the label."""
    with open(HERE / "iris.csv") as f:
        rows = list(csv.reader(f))[1:]
    features = [float(v) for r in rows for v in r[:4]]
    labels = [int(r[4]) for r in rows]
    return {
        "iris_x.npy": npy_bytes(features, (len(rows), 4), "<f8"),
        "iris_y.npy": npy_bytes(labels, (len(rows),), "<i8"),
    }


def flights():
    """flights-20k.csv.gz: date,delay,distance,origin,destination."""
    with gzip.open(HERE / "flights-20k.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    return {
        "flights_delay.npy": npy_bytes([float(r["delay"]) for r in rows], (len(rows),), "<f8"),
        "flights_distance.npy": npy_bytes([float(r["distance"]) for r in rows], (len(rows),), "<f8"),
    }


def main():
    arrays = {**digits(), **iris(), **flights()}
    check = "--check" in sys.argv[1:]
    stale = []
    for name, data in sorted(arrays.items()):
        path = OUT / name
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print("wrote %s (%d bytes)" % (name, len(data)))
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
