"""images → edges → montage: the shape of Pachyderm's OpenCV demo, with Pillow.

``edges`` runs once per image (glob ``/*``): change one image and only that datum is processed,
the others are skipped and their outputs reused. ``montage`` crosses the whole ``images`` repo
with the whole ``edges`` repo (glob ``/``: one datum each) and tiles every image and its edges.
"""

from __future__ import annotations

from PIL import Image, ImageFilter

from dagster_versioned import Datum, cross, pfs, pipeline

THUMB = 128


@pipeline(input=pfs("images", glob="/*"), group_name="images")
def edges(datum: Datum) -> None:
    """Edge detection, one image per datum."""
    for src in datum.files("images"):
        with Image.open(src) as img:
            img.convert("L").filter(ImageFilter.FIND_EDGES).save(datum.out / f"{src.stem}.png")


@pipeline(input=cross(pfs("images", glob="/"), pfs("edges", glob="/")), group_name="images")
def montage(datum: Datum) -> None:
    """Every image above its edges, side by side, in one picture."""
    originals = datum.files("images")
    outlines = {p.stem: p for p in datum.files("edges")}
    sheet = Image.new("RGB", (THUMB * max(len(originals), 1), THUMB * 2), "white")
    for i, src in enumerate(originals):
        with Image.open(src) as img:
            sheet.paste(img.convert("RGB").resize((THUMB, THUMB)), (i * THUMB, 0))
        if src.stem in outlines:
            with Image.open(outlines[src.stem]) as img:
                sheet.paste(img.convert("RGB").resize((THUMB, THUMB)), (i * THUMB, THUMB))
    sheet.save(datum.out / "montage.png")


PIPELINES = [edges, montage]
