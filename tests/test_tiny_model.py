"""The tiny SD 1.5 test model and the txt2img graph dict, checked against InvokeAI 6.14.2 itself."""

from __future__ import annotations

import pathlib

import pytest

from tests.graphs import DENOISE, MODEL_LOADER, OUTPUT, enqueue_batch_body, txt2img_graph
from tests.tiny_model import build_tiny_sd15


@pytest.fixture(scope="module")
def tiny_sd15(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_tiny_sd15(tmp_path_factory.mktemp("models"))


def test_tiny_model_layout_and_size(tiny_sd15: pathlib.Path) -> None:
    for sub in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (tiny_sd15 / sub).is_dir(), sub
    assert (tiny_sd15 / "model_index.json").is_file()
    assert (tiny_sd15 / "tokenizer" / "merges.txt").read_text().strip() == "#version: 0.2"
    size = sum(p.stat().st_size for p in tiny_sd15.rglob("*") if p.is_file())
    assert 5_000_000 < size < 30_000_000, size


def test_tiny_model_is_deterministic(tiny_sd15: pathlib.Path, tmp_path: pathlib.Path) -> None:
    again = build_tiny_sd15(tmp_path)
    for f in tiny_sd15.rglob("*.safetensors"):
        assert f.read_bytes() == (again / f.relative_to(tiny_sd15)).read_bytes(), f


def test_invokeai_identifies_tiny_model_as_sd1_main_diffusers(tiny_sd15: pathlib.Path) -> None:
    from invokeai.backend.model_manager.configs.factory import ModelConfigFactory
    from invokeai.backend.model_manager.taxonomy import BaseModelType, ModelFormat, ModelType, ModelVariantType

    # The same call (and allow_unknown=False, as a strict install would) that
    # ModelInstallService._probe makes for a local-path install.
    result = ModelConfigFactory.from_model_on_disk(tiny_sd15, allow_unknown=False)
    config = result.config
    assert config is not None, result.details
    assert type(config).__name__ == "Main_Diffusers_SD1_Config"
    assert config.type is ModelType.Main
    assert config.base is BaseModelType.StableDiffusion1
    assert config.format is ModelFormat.Diffusers
    assert config.variant is ModelVariantType.Normal


def test_tiny_model_runs_in_diffusers(tiny_sd15: pathlib.Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_sd15), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8  # InvokeAI assumes 8 (LATENT_SCALE_FACTOR)
    out = pipe(
        "a cat",
        num_inference_steps=2,
        width=64,
        height=64,
        generator=torch.Generator("cpu").manual_seed(0),
    )
    image = out.images[0]
    assert image.size == (64, 64)


def test_txt2img_graph_validates_as_invokeai_graph() -> None:
    from invokeai.app.invocations.denoise_latents import DenoiseLatentsInvocation
    from invokeai.app.invocations.latents_to_image import LatentsToImageInvocation
    from invokeai.app.invocations.model import MainModelLoaderInvocation
    from invokeai.app.services.session_queue.session_queue_common import Batch
    from invokeai.app.services.shared.graph import Graph

    graph_dict = txt2img_graph("dummy-model-key", prompt="a dog", seed=7, steps=2)
    graph = Graph.model_validate(graph_dict)
    graph.validate_self()  # edge endpoints, field names and edge type compatibility

    loader = graph.nodes[MODEL_LOADER]
    assert isinstance(loader, MainModelLoaderInvocation)
    assert loader.model.key == "dummy-model-key"
    assert isinstance(graph.nodes[DENOISE], DenoiseLatentsInvocation)
    assert graph.nodes[DENOISE].steps == 2
    out = graph.nodes[OUTPUT]
    assert isinstance(out, LatentsToImageInvocation)
    assert out.is_intermediate is False
    assert sum(not n.is_intermediate for n in graph.nodes.values()) == 1
    assert len(graph.edges) == 8

    # And as the enqueue_batch body's Batch.
    body = enqueue_batch_body(graph_dict)
    batch = Batch.model_validate(body["batch"])
    assert batch.graph.nodes[OUTPUT].is_intermediate is False
