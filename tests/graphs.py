"""InvokeAI 6.14.2 graph dicts for tests: what the web UI sends inside a Batch.

``txt2img_graph(key)`` is the SD 1.5 text-to-image graph::

    main_model_loader --unet--> denoise_latents
                      --clip--> compel (positive) --conditioning--> denoise_latents.positive_conditioning
                      --clip--> compel (negative) --conditioning--> denoise_latents.negative_conditioning
    noise --noise--> denoise_latents --latents--> l2i (non-intermediate: the saved output image)
    main_model_loader --vae--> l2i

Node type names, input fields and output fields are those of ``invokeai/app/invocations/``
(``model.py``: ``main_model_loader`` -> ``unet``/``clip``/``vae``; ``compel.py``: ``compel`` ->
``conditioning``; ``noise.py``: ``noise`` -> ``noise``; ``denoise_latents.py``:
``denoise_latents`` -> ``latents``; ``latents_to_image.py``: ``l2i`` -> ``image``).

``enqueue_batch_body(graph)`` wraps a graph as the JSON body of
``POST /api/v1/queue/{queue_id}/enqueue_batch``.
"""

from __future__ import annotations

import uuid
from typing import Any

# Node ids (stable, so tests can look up a node's results in the session).
MODEL_LOADER = "main_model_loader"
POSITIVE = "positive_prompt"
NEGATIVE = "negative_prompt"
NOISE = "noise"
DENOISE = "denoise_latents"
OUTPUT = "l2i"  # the only non-intermediate node: its image is saved to the gallery


def _edge(src: str, src_field: str, dst: str, dst_field: str) -> dict[str, dict[str, str]]:
    return {
        "source": {"node_id": src, "field": src_field},
        "destination": {"node_id": dst, "field": dst_field},
    }


def txt2img_graph(
    model_key: str,
    prompt: str = "a cat",
    seed: int = 1,
    width: int = 64,
    height: int = 64,
    steps: int = 2,
    *,
    negative_prompt: str = "",
    cfg_scale: float = 7.5,
    scheduler: str = "ddim",
    model_name: str = "tiny-sd15",
    model_hash: str = "blake3:unknown",
    base: str = "sd-1",
    board_id: str | None = None,
    use_cache: bool = False,
) -> dict[str, Any]:
    """An SD 1.5 text-to-image graph dict for the main model with key ``model_key``.

    InvokeAI loads models by ``key`` alone; ``name``/``hash``/``base`` are carried in the
    identifier (as the UI does) but a server must not trust them. ``width``/``height`` must be
    multiples of 8. ``use_cache`` is False by default so that repeated runs really execute.
    """
    if width % 8 or height % 8:
        raise ValueError("width and height must be multiples of 8")

    model = {"key": model_key, "hash": model_hash, "name": model_name, "base": base, "type": "main"}

    def node(node_id: str, node_type: str, is_intermediate: bool = True, **fields: Any) -> dict[str, Any]:
        return {"id": node_id, "type": node_type, "is_intermediate": is_intermediate, "use_cache": use_cache, **fields}

    l2i_fields: dict[str, Any] = {"fp32": False, "tiled": False}
    if board_id is not None:
        l2i_fields["board"] = {"board_id": board_id}

    nodes = [
        node(MODEL_LOADER, "main_model_loader", model=model),
        node(POSITIVE, "compel", prompt=prompt),
        node(NEGATIVE, "compel", prompt=negative_prompt),
        node(NOISE, "noise", seed=seed, width=width, height=height, use_cpu=True),
        node(
            DENOISE,
            "denoise_latents",
            steps=steps,
            cfg_scale=cfg_scale,
            scheduler=scheduler,
            denoising_start=0.0,
            denoising_end=1.0,
        ),
        node(OUTPUT, "l2i", is_intermediate=False, **l2i_fields),
    ]
    edges = [
        _edge(MODEL_LOADER, "unet", DENOISE, "unet"),
        _edge(MODEL_LOADER, "clip", POSITIVE, "clip"),
        _edge(MODEL_LOADER, "clip", NEGATIVE, "clip"),
        _edge(MODEL_LOADER, "vae", OUTPUT, "vae"),
        _edge(POSITIVE, "conditioning", DENOISE, "positive_conditioning"),
        _edge(NEGATIVE, "conditioning", DENOISE, "negative_conditioning"),
        _edge(NOISE, "noise", DENOISE, "noise"),
        _edge(DENOISE, "latents", OUTPUT, "latents"),
    ]
    return {"id": f"txt2img-{uuid.uuid4()}", "nodes": {n["id"]: n for n in nodes}, "edges": edges}


def enqueue_batch_body(graph: dict[str, Any], runs: int = 1, prepend: bool = False) -> dict[str, Any]:
    """The JSON body for ``POST /api/v1/queue/default/enqueue_batch`` carrying ``graph``."""
    return {"batch": {"graph": graph, "runs": runs}, "prepend": prepend}


if __name__ == "__main__":  # `python -m tests.graphs MODEL_KEY [PROMPT]`: an enqueue_batch body on stdout
    import json
    import sys

    print(json.dumps(enqueue_batch_body(txt2img_graph(sys.argv[1], *sys.argv[2:3])), indent=2))
