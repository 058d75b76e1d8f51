"""A tiny random-weight Stable Diffusion 1.5 diffusers pipeline, built from scratch.

Nothing is downloaded: every component is constructed from a config with seeded random weights and
saved with ``save_pretrained``.  InvokeAI 6.14.2 identifies the result as a ``main`` / ``sd-1`` /
``diffusers`` model (``Main_Diffusers_SD1_Config``): ``model_index.json`` names
``StableDiffusionPipeline`` and ``unet/config.json`` has ``cross_attention_dim`` 768 and
``in_channels`` 4; the scheduler's ``prediction_type`` is ``epsilon``.

Shapes are chosen so that InvokeAI's fixed latent scale factor (8) holds: the VAE has four blocks
(three 2x up/down-samplings), so 64x64 pixels <-> 8x8x4 latents.  The pictures are noise, of course.

Usage::

    from tests.tiny_model import build_tiny_sd15
    path = build_tiny_sd15(tmp_path)          # -> tmp_path / "tiny-sd15"
"""

from __future__ import annotations

import json
import pathlib

TINY_MODEL_DIRNAME = "tiny-sd15"
SEED = 0

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode character table (same as the CLIP tokenizer's)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def byte_level_vocab() -> dict[str, int]:
    """All 256 byte tokens, their end-of-word (``</w>``) forms, then ``<|startoftext|>``/``<|endoftext|>``.

    With no merges, CLIP's BPE splits every word into single byte characters and marks the last one
    with ``</w>`` -- so both forms are needed for every input to map to a real (non-unk) token.
    """
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    return vocab


def _write_tokenizer_files(folder: pathlib.Path, vocab: dict[str, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    # An empty merges file: only the version header line.
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_sd15(dest: pathlib.Path) -> pathlib.Path:
    """Build the tiny SD 1.5 pipeline into ``dest / "tiny-sd15"`` and return that folder.

    Deterministic: the same weights (and hence the same file hashes) on every call.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    dest = pathlib.Path(dest)
    out = dest / TINY_MODEL_DIRNAME
    out.mkdir(parents=True, exist_ok=True)

    # --- tokenizer: byte-level vocab, empty merges -------------------------------------------------
    # merges=[] is what the empty merges file (header line only) parses to; building from the
    # in-memory vocab gives the same tokenizer.json as from_pretrained on the two files, without
    # tokenizers' "BPE.__init__ will not create from files" deprecation warning.
    vocab = byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=dict(vocab), merges=[], model_max_length=77)

    # Set (not fork) the global RNG: save/restore it so callers' randomness is unaffected.
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(SEED)
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768,
            attention_head_dim=8,
            norm_num_groups=32,
        )

        torch.manual_seed(SEED + 1)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(vocab),
                hidden_size=768,
                intermediate_size=64,
                num_hidden_layers=1,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=768,
                hidden_act="quick_gelu",
                bos_token_id=vocab[BOS],
                eos_token_id=vocab[EOS],
                pad_token_id=vocab[EOS],
            )
        )

        torch.manual_seed(SEED + 2)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            # Four blocks -> three 2x samplings -> latent scale factor 8, as InvokeAI assumes.
            block_out_channels=(8, 8, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=64,
            scaling_factor=0.18215,
        )
    finally:
        torch.random.set_rng_state(rng_state)

    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
    )

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(out), safe_serialization=True)

    # Keep the plain vocab.json / merges.txt next to tokenizer.json for loaders that want them.
    _write_tokenizer_files(out / "tokenizer", vocab)
    return out


if __name__ == "__main__":  # `python -m tests.tiny_model FOLDER` (the tutorial's model): prints its path
    import sys

    print(build_tiny_sd15(pathlib.Path(sys.argv[1])))
