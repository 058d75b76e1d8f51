"""The three `calculate_image_tiles*` nodes refuse a grid of more than `MAX_TILES` tiles.

Why: stock builds the tile list one `Tile` at a time from the image size a graph states, with no upper
bound (`image_width` 2**64 asks for about 10**16 tiles). The list grew until the worker's memory ran
out: under a memory limit the worker thread died on the MemoryError, without one the pod is killed. No
image the studio can make needs more than a few thousand tiles (64 × 64 tiles of 256 px cover a 16k
image), so a larger grid fails its node, at once, with its size in the message.
"""

from collections.abc import Callable
from typing import Any

from patches.bounded_invoke import refuse_before_invoke

MAX_TILES = 4096


def _grid(width: int, height: int, tile_width: int, tile_height: int, overlap: int) -> tuple[int, int] | None:
    """Tiles across and down, as stock counts them (in integers: a stated size may pass a float's range)."""
    step_x, step_y = tile_width - overlap, tile_height - overlap
    if step_x <= 0 or step_y <= 0:
        return None  # stock refuses it (or divides by zero)
    return -((overlap - width) // step_x), -((overlap - height) // step_y)


def _overlap_grid(node: Any) -> tuple[int, int] | None:
    return _grid(node.image_width, node.image_height, node.tile_width, node.tile_height, node.overlap)


def _even_split_grid(node: Any) -> tuple[int, int] | None:
    return node.num_tiles_x, node.num_tiles_y


def _min_overlap_grid(node: Any) -> tuple[int, int] | None:
    tile_width, tile_height = min(node.tile_width, node.image_width), min(node.tile_height, node.image_height)
    return _grid(node.image_width, node.image_height, tile_width, tile_height, node.min_overlap)


def _grid_refusal(grid: Callable[[Any], tuple[int, int] | None]) -> Callable[[Any], str | None]:
    def refusal(node: Any) -> str | None:
        size = grid(node)
        if size is None or size[0] * size[1] <= MAX_TILES:
            return None
        return f"{size[0]} × {size[1]} tiles is more than the {MAX_TILES} tiles a node may compute"

    return refusal


def apply() -> None:
    from invokeai.app.invocations import tiles

    refuse_before_invoke(tiles.CalculateImageTilesInvocation, _grid_refusal(_overlap_grid))
    refuse_before_invoke(tiles.CalculateImageTilesEvenSplitInvocation, _grid_refusal(_even_split_grid))
    refuse_before_invoke(tiles.CalculateImageTilesMinimumOverlapInvocation, _grid_refusal(_min_overlap_grid))
