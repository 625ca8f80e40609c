"""Where the tiles of overlap-tile prediction go, and how large they are.

Exact tiling (:mod:`.predict`) needs every output tile read from a window with the network's
receptive radius as context on each side, so a tile of side ``t`` costs ``(t + 2c)**2``
computed pixels for ``t**2`` kept ones. Small tiles waste most of the work: with ``c = 112``
(depth 4), 256 px tiles in 480 px windows compute 3.5x the image. :func:`plan_tiles` therefore
takes the tile from a memory budget when ``PredictConfig.tile_size`` is ``None``: the largest
window one forward pass may use (:func:`~napari_unet.core.memory.prediction_budget`: free
device memory on a GPU, a capped share of the available RAM on the CPU), then the tile side
up to that which covers the image with the fewest computed pixels (tiles are spread evenly,
so the last row and column do not leave most of a tile outside the image). A given
``tile_size`` is used as it is (rounded to what the network accepts).

The budget counts one window (``memory.prediction_bytes``); the plan's ``batch`` is how many
such windows fit it, at most ``PredictConfig.batch_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_TILE = 4096
"""Largest output tile side a budget plan makes (a bound on host-side tile arrays too)."""


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles go: output tiles of side ``tile`` every ``stride`` pixels, read from
    windows of side ``window = tile + 2 * context``, ``batch`` windows per forward pass
    (``None``: ``PredictConfig.batch_size``)."""

    height: int
    width: int
    tile: int
    stride: int
    context: int
    batch: int | None = None

    @property
    def window(self) -> int:
        return self.tile + 2 * self.context

    def origins(self) -> list[tuple[int, int]]:
        ys = range(0, max(self.height, 1), self.stride)
        xs = range(0, max(self.width, 1), self.stride)
        return [(y, x) for y in ys for x in xs]

    @property
    def count(self) -> int:
        """How many tiles: ``len(self.origins())``, without making them."""
        return (len(range(0, max(self.height, 1), self.stride))
                * len(range(0, max(self.width, 1), self.stride)))

    @property
    def overhead(self) -> float:
        """Computed pixels over image pixels: ``count * window**2 / (height * width)``."""
        return self.count * self.window**2 / max(1, self.height * self.width)


def _fixed(model, height: int, width: int, want: int, context: int | None) -> TilePlan:
    """The plan for output tiles of about ``want`` px (the pre-budget rule)."""
    g = model.granularity
    want = min(want, max(height, width))
    if model.config.padding == "valid":
        window = model.input_size_for(want)
        tile = model.output_size(window)
        ctx = (window - tile) // 2
        # tile origins on the 2**depth grid keep the network's pooling cells aligned
        stride = tile if tile >= max(height, width) else max(g, tile // g * g)
    else:
        tile = max(g, math.ceil(want / g) * g)
        ctx = model.receptive_radius if context is None else context
        ctx = math.ceil(ctx / g) * g
        stride = tile
    return TilePlan(height, width, tile, stride, ctx)


def largest_window(model_config, budget: float, granularity: int) -> int:
    """The largest window side (a multiple of ``granularity``) whose prediction fits
    ``budget`` bytes, at least ``granularity``."""
    from ..memory import prediction_bytes

    per_px = prediction_bytes(model_config, 1, 1)  # bytes grow with the side squared
    side = int(math.sqrt(budget / per_px)) // granularity * granularity
    return max(granularity, side)


def plan_tiles(model, height: int, width: int, config, *, budget: float | None = None) -> TilePlan:
    """Choose tile, stride, context and batch for ``model`` on a ``height`` x ``width`` image.

    ``config.tile_size`` given: tiles of that side (never beyond what the image needs, so a
    small image is one tile). ``None``: planned from ``budget`` bytes (default
    :func:`~napari_unet.core.memory.prediction_budget` of the model's device), see the module
    docstring. The context is the same either way, so every plan gives the same output.
    """
    if config.tile_size is not None:
        return _fixed(model, height, width, config.tile_size, config.context)
    from ..memory import prediction_budget, prediction_bytes

    if budget is None:
        budget = prediction_budget(_device_of(model))
    g = model.granularity
    cfg = model.config
    limit = largest_window(cfg, budget, g)
    best, best_cost = None, math.inf
    need = math.ceil(max(height, width, 1) / g) * g
    for want in range(g, min(need, MAX_TILE) + g, g):
        plan = _fixed(model, height, width, want, config.context)
        if plan.window > limit and best is not None:
            break  # windows only grow with the tile
        cost = plan.count * plan.window**2
        if cost <= best_cost:  # ties: the larger tile, fewer tiles
            best, best_cost = plan, cost
    fits = int(budget // prediction_bytes(cfg, 1, best.window))
    batch = max(1, min(config.batch_size, fits))
    return TilePlan(best.height, best.width, best.tile, best.stride, best.context, batch)


def _device_of(model):
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return None
