"""Instances of an image too large to post-process whole: block by block, seam-free.

The guarantee (tested in ``tests/core/test_tiled_instances.py``): for the same
probabilities, :func:`tiled_instances` gives *exactly* the partition that
:func:`~napari_unet.core.inference.postprocess.to_instances` gives on the whole image (the same objects,
pixel for pixel, with other ids), for every 8-connected foreground region whose bounding box
holds at most ``max_region_pixels`` pixels. Objects cut by block borders get one id.

Why it holds: every step of ``to_instances`` only looks inside one 8-connected foreground
region and the background touching it (the distance transform, the region-local h-maxima of
:func:`~napari_unet.core.inference.postprocess.h_maxima_local`, a watershed masked to the foreground,
the orphan pieces, the minimum size), so running it on any crop that holds a region and a
one-pixel rim around it gives that region the same objects as the whole image does.

How: pass 1 labels the foreground's 8-connected regions block by block into ``scratch``
(provisional ids) and joins ids that touch across block borders (a union-find, solved as
graph components), keeping every region's bounding box. Pass 2 visits the blocks in order;
each block runs ``to_instances`` on the crop covering the regions *anchored* in it (bounding
box starting there) and writes those regions' objects, numbered on from the last id. A region
larger than a block gets a crop of its own. A region whose box holds more than
``max_region_pixels`` (a foreground blob the size of the image) is not split: it becomes one
object, and :class:`TiledInstances` counts it. Memory is a few blocks' worth, plus a few
integers per region.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..config import PostprocessConfig
from ..progress import Progress
from .postprocess import EIGHT, to_instances

MAX_REGION_PIXELS = 16_000_000
"""A foreground region whose bounding box is larger than this is kept as one object."""


@dataclass
class TiledInstances:
    """What :func:`tiled_instances` did: ``n_objects`` ids written (1..n), ``n_regions``
    foreground regions, of which ``n_unsplit`` were too large to split."""

    n_objects: int
    n_regions: int
    n_unsplit: int = 0


def foreground(p0: np.ndarray, mode: str, cfg: PostprocessConfig) -> np.ndarray:
    """The foreground mask ``to_instances`` uses, from P(background) (the same float ops)."""
    if mode == "instance":
        return p0 < 1 - cfg.threshold
    return (1.0 - p0) > cfg.threshold


def _touching(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs of ids ``(a[i], b[i + d])`` for ``d`` in -1, 0, 1 where both are foreground:
    ``a`` and ``b`` are neighbouring lines of pixels (8-connectivity)."""
    pairs = []
    n = len(a)
    for d in (-1, 0, 1):
        lo, hi = max(0, -d), min(n, n - d)
        x, y = a[lo:hi], b[lo + d : hi + d]
        both = (x > 0) & (y > 0)
        pairs.append(np.stack([x[both], y[both]], axis=1))
    return np.concatenate(pairs)


def _label_regions(probabilities, mode, cfg, scratch, block):
    """Pass 1: provisional ids into ``scratch``; returns (roots, boxes, n_regions).

    ``roots[i]`` is the region (1..n) of provisional id ``i`` (``roots[0] = 0``); ``boxes``
    is ``(n + 1, 4)``: y0, x0, y1, x1 (ends exclusive) per region.
    """
    _, h, w = probabilities.shape
    n = 0
    boxes, edges = [np.zeros((1, 4), np.int64)], []
    prev_bottom = None
    for y0 in range(0, h, block):
        y1 = min(y0 + block, h)
        top, bottom = np.zeros(w, np.int64), np.zeros(w, np.int64)
        prev_right = None
        for x0 in range(0, w, block):
            x1 = min(x0 + block, w)
            fg = foreground(np.asarray(probabilities[0, y0:y1, x0:x1]), mode, cfg)
            lab, k = ndi.label(fg, EIGHT)
            found = [(a.start, b.start, a.stop, b.stop) for a, b in ndi.find_objects(lab)]
            boxes.append(np.array(found, np.int64).reshape(-1, 4) + [y0, x0, y0, x0])
            lab = np.where(lab > 0, lab.astype(np.int64) + n, 0)
            scratch[y0:y1, x0:x1] = lab.astype(scratch.dtype, copy=False)
            n += k
            if prev_right is not None:
                edges.append(_touching(prev_right, lab[:, 0]))
            prev_right = lab[:, -1]
            top[x0:x1], bottom[x0:x1] = lab[0], lab[-1]
            yield
        if prev_bottom is not None:
            edges.append(_touching(prev_bottom, top))
        prev_bottom = bottom
    pairs = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n + 1, n + 1))
    n_regions, comp = connected_components(graph, directed=False)
    # component of id 0 is its own; renumber so that 0 -> 0 and regions are 1..n_regions
    order = np.full(n_regions, -1, np.int64)
    firsts = np.unique(comp[1:], return_index=True)
    order[firsts[0]] = np.arange(1, len(firsts[0]) + 1)
    roots = np.zeros(n + 1, np.int64)
    roots[1:] = order[comp[1:]]
    n_regions = len(firsts[0])
    provisional = np.concatenate(boxes)
    region_boxes = np.zeros((n_regions + 1, 4), np.int64)
    region_boxes[:, :2] = np.iinfo(np.int64).max
    np.minimum.at(region_boxes[:, 0], roots[1:], provisional[1:, 0])
    np.minimum.at(region_boxes[:, 1], roots[1:], provisional[1:, 1])
    np.maximum.at(region_boxes[:, 2], roots[1:], provisional[1:, 2])
    np.maximum.at(region_boxes[:, 3], roots[1:], provisional[1:, 3])
    return roots, region_boxes, n_regions


class _Writer:
    """Writes the objects of chosen regions of a crop into ``out``, numbering on."""

    def __init__(self, probabilities, mode, cfg, out, scratch, roots):
        self.probabilities, self.mode, self.cfg = probabilities, mode, cfg
        self.out, self.scratch, self.roots = out, scratch, roots
        self.next_id = 0

    def split(self, box, regions) -> None:
        """``to_instances`` on ``box`` (y0, x0, y1, x1); keep the objects of ``regions``."""
        y0, x0, y1, x1 = box
        probs = np.asarray(self.probabilities[:, y0:y1, x0:x1])
        objects = to_instances(probs, self.mode, self.cfg)
        mine = np.isin(self.roots[np.asarray(self.scratch[y0:y1, x0:x1])], regions) & (objects > 0)
        ids, new = np.unique(objects[mine], return_inverse=True)
        cur = np.asarray(self.out[y0:y1, x0:x1])
        cur[mine] = self.next_id + 1 + new.ravel()
        self.out[y0:y1, x0:x1] = cur
        self.next_id += len(ids)

    def whole(self, box, region, block) -> None:
        """Give ``region`` one id, block by block over its ``box`` (no splitting)."""
        self.next_id += 1
        y0, x0, y1, x1 = box
        for by in range(y0, y1, block):
            for bx in range(x0, x1, block):
                sl = (slice(by, min(by + block, y1)), slice(bx, min(bx + block, x1)))
                mine = self.roots[np.asarray(self.scratch[sl])] == region
                if mine.any():
                    cur = np.asarray(self.out[sl])
                    cur[mine] = self.next_id
                    self.out[sl] = cur


def tiled_instances(
    probabilities,
    mode: str,
    config: PostprocessConfig | None = None,
    *,
    out,
    scratch=None,
    block: int = 1024,
    max_region_pixels: int = MAX_REGION_PIXELS,
) -> Generator[Progress, None, TiledInstances]:
    """Instances of ``(K, H, W)`` probabilities (any sliceable array-like), block by block.

    Writes object ids (1..n, 0 = background) into ``out`` (``(H, W)``, zeros, e.g. a zarr
    array); ``scratch`` (``(H, W)``, an integer type holding ``H * W // 4 + 1``) holds the
    provisional region ids, in memory if not given. Yields progress per block; returns a
    :class:`TiledInstances`. Equal to ``to_instances`` on the whole image up to the ids (see
    the module docstring for the exact guarantee).
    """
    cfg = config or PostprocessConfig()
    _, h, w = probabilities.shape
    if scratch is None:
        scratch = np.zeros((h, w), np.int64)
    n_blocks = len(range(0, h, block)) * len(range(0, w, block))
    total = 2 * n_blocks
    done = 0
    labelling = _label_regions(probabilities, mode, cfg, scratch, block)
    while True:
        try:
            next(labelling)
        except StopIteration as stop:
            roots, boxes, n_regions = stop.value
            break
        done += 1
        yield Progress(stage="objects", done=done, total=total, fraction=done / total,
                       message="finding regions")
    writer = _Writer(probabilities, mode, cfg, out, scratch, roots)
    regions = np.arange(1, n_regions + 1)
    b = boxes[1:]
    small = ((b[:, 2] - b[:, 0]) <= block) & ((b[:, 3] - b[:, 1]) <= block)
    anchor = (b[:, 0] // block) * len(range(0, w, block)) + b[:, 1] // block
    order = np.argsort(anchor[small], kind="stable")
    small_regions, small_anchor = regions[small][order], anchor[small][order]
    starts = np.searchsorted(small_anchor, np.arange(n_blocks + 1))
    n_unsplit = 0
    for i in range(n_blocks):
        mine = small_regions[starts[i] : starts[i + 1]]
        if len(mine):
            box = boxes[mine]
            crop = (max(int(box[:, 0].min()) - 1, 0), max(int(box[:, 1].min()) - 1, 0),
                    min(int(box[:, 2].max()) + 1, h), min(int(box[:, 3].max()) + 1, w))
            writer.split(crop, mine)
        done += 1
        yield Progress(stage="objects", done=done, total=total, fraction=done / total,
                       message="splitting into objects")
    for r in regions[~small]:
        y0, x0, y1, x1 = (int(v) for v in boxes[r])
        crop = (max(y0 - 1, 0), max(x0 - 1, 0), min(y1 + 1, h), min(x1 + 1, w))
        if (crop[2] - crop[0]) * (crop[3] - crop[1]) > max_region_pixels:
            writer.whole(crop, r, block)
            n_unsplit += 1
        else:
            writer.split(crop, np.array([r]))
        yield Progress(stage="objects", done=done, total=total, fraction=done / total,
                       message="splitting large regions")
    return TiledInstances(writer.next_id, n_regions, n_unsplit)
