#!/usr/bin/python3
"""Small data sets for scripts/lib/detect-e2e, made with Python's standard library only:
  DIR/images/{normal,odd}/*.png   PNGs of mixed sizes, grayscale and RGB (odd = noise)
  DIR/table.csv                   6 features + a 'kind' label column (normal / odd)
  DIR/table.npy, DIR/table_labels.txt   the same table as float32 .npy, labels one per line
  DIR/idx/{train,t10k}-{images-idx3,labels-idx1}-ubyte   28 x 28 IDX files, class 0 waves, 1 noisy waves
Usage: make-detect-data.py DIR"""
import math
import os
import random
import struct
import sys
import zlib


def png(path, w, h, channels, pixel):
    rows = b"".join(b"\x00" + bytes(pixel(x, y, c) for x in range(w) for c in range(channels)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    color = 0 if channels == 1 else 2
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    root = sys.argv[1]
    rng = random.Random(7)
    sizes = [(20, 20, 1), (24, 16, 3), (16, 16, 1), (18, 22, 3)]
    for kind, count in (("normal", 80), ("odd", 12)):
        os.makedirs(f"{root}/images/{kind}", exist_ok=True)
        for i in range(count):
            w, h, ch = sizes[i % len(sizes)]
            phase = rng.uniform(0, 6.28)
            if kind == "normal":  # smooth diagonal waves
                pixel = lambda x, y, c, p=phase, w=w: int(127 + 120 * math.sin(p + 6.28 * (x + y) / w))
            else:  # noise
                pixel = lambda x, y, c: rng.randrange(256)
            png(f"{root}/images/{kind}/{i:03d}.png", w, h, ch, pixel)
    rows = []
    for i in range(300):
        odd = i % 10 == 9
        z = [rng.gauss(0, 1) for _ in range(3)]
        f = [z[0], z[1], z[2], z[0] + z[1], z[1] - z[2], 0.5 * z[0]]
        if odd:
            f = [v + rng.choice([-6, 6]) * (j == i % 6) for j, v in enumerate(f)]
        rows.append((f, "odd" if odd else "normal"))
    with open(f"{root}/table.csv", "w") as out:
        out.write("a,b,c,d,e,f,kind\n")
        for f, k in rows:
            out.write(",".join(f"{v:.6f}" for v in f) + f",{k}\n")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 6), }" % len(rows)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(f"{root}/table.npy", "wb") as out:
        out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for f, _ in rows:
            out.write(struct.pack("<6f", *f))
    with open(f"{root}/table_labels.txt", "w") as out:
        out.write("".join(k + "\n" for _, k in rows))
    os.makedirs(f"{root}/idx", exist_ok=True)
    for part, count in (("train", 300), ("t10k", 100)):
        labels = [1 if i % 5 == 4 else 0 for i in range(count)]
        pixels = bytearray()
        for label in labels:
            p = rng.uniform(0, 6.28)
            pixels += bytes(min(255, max(0, int(127 + 100 * math.sin(p + 6.28 * (x + y) / 28) + label * rng.gauss(0, 45))))
                            for y in range(28) for x in range(28))
        with open(f"{root}/idx/{part}-images-idx3-ubyte", "wb") as out:
            out.write(struct.pack(">IIII", 0x803, count, 28, 28) + bytes(pixels))
        with open(f"{root}/idx/{part}-labels-idx1-ubyte", "wb") as out:
            out.write(struct.pack(">II", 0x801, count) + bytes(labels))


if __name__ == "__main__":
    main()
