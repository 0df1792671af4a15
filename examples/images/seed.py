"""Put a few generated pictures into ``images@master`` (one commit), so the sensor starts a run.

Usage: ``.venv/bin/python examples/images/seed.py [--storage URL] [--count N]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math

from PIL import Image, ImageDraw

from dagster_versioned.errors import AlreadyExists
from dagster_versioned.store import Store
from dagster_versioned.store.location import default_storage_url


def picture(i: int, size: int = 256) -> bytes:
    """A reproducible picture: a gradient with a few shapes, different for each ``i``."""
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    for y in range(size):
        shade = int(255 * y / size)
        draw.line([(0, y), (size, y)], fill=(shade, (shade * (i + 1)) % 256, 255 - shade))
    for k in range(3 + i % 3):
        angle = 2 * math.pi * (k + i) / 5
        cx, cy = size / 2 + size / 4 * math.cos(angle), size / 2 + size / 4 * math.sin(angle)
        r = size / 10
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 255 - 40 * k, 40 * k))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def seed(storage: str, count: int = 3, start: int = 0) -> str:
    store = Store.open(storage)
    with contextlib.suppress(AlreadyExists):
        store.create_repo("images", description="Pictures for edges and montage.")
    with store.commit("images@master", description=f"{count} pictures") as c:
        for i in range(start, start + count):
            c.put_file(f"/picture-{i:03d}.png", picture(i))
    return store.inspect_commit("images@master").id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", default=None, help="store URL (default: as dvctl)")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--start", type=int, default=0, help="index of the first picture")
    args = parser.parse_args()
    commit = seed(args.storage or default_storage_url(), args.count, args.start)
    print(f"images@master is now {commit}")


if __name__ == "__main__":
    main()
