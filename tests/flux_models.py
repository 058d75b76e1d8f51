"""Records of a FLUX model and the encoders and VAE it needs, so that InvokeAI's UI offers FLUX and
lets the Invoke button be pressed. Their files are empty placeholders (the UI hides a model whose
file is missing): they are for gating, which refuses a workspace without FLUX before anything loads.
Models are platform-wide: the records are removed on the way out."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invokeai.backend.model_manager.configs.clip_embed import CLIPEmbed_Diffusers_L_Config
from invokeai.backend.model_manager.configs.main import Main_Checkpoint_FLUX_Config
from invokeai.backend.model_manager.configs.t5_encoder import T5Encoder_T5Encoder_Config
from invokeai.backend.model_manager.configs.vae import VAE_Checkpoint_FLUX_Config

from invokeai_saas.db import Database
from invokeai_saas.records.model_records_sql import SqlModelRecordService
from tenant_middleware.context import system_scope


@contextmanager
def flux_model_records(db: Database, folder: Path, name: str = "FLUX.1 dev") -> Iterator[str]:
    """Yields the FLUX main model's key; every record is deleted on the way out."""
    records = SqlModelRecordService(db, logging.getLogger("tests.flux"))
    tag = uuid.uuid4().hex[:8]
    configs = [
        Main_Checkpoint_FLUX_Config.model_validate(_fields(folder / f"flux-{tag}.safetensors", name, variant="dev")),
        T5Encoder_T5Encoder_Config.model_validate(_fields(folder / f"t5-{tag}", "t5 encoder", directory=True)),
        CLIPEmbed_Diffusers_L_Config.model_validate(_fields(folder / f"clip-{tag}", "clip embed", directory=True)),
        VAE_Checkpoint_FLUX_Config.model_validate(_fields(folder / f"fluxvae-{tag}.safetensors", "flux vae")),
    ]
    with system_scope():
        for config in configs:
            records.add_model(config)
    try:
        yield configs[0].key
    finally:
        with system_scope():
            for config in configs:
                records.del_model(config.key)


def _fields(path: Path, name: str, directory: bool = False, **extra: str) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir() if directory else path.touch()
    key = path.stem
    return {"key": key, "hash": key, "path": str(path), "name": name, "source": str(path), "file_size": 1, "source_type": "path", **extra}
