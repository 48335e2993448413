"""What tests share besides fixtures (those are in conftest.py): import from here.

corpus   paths and ids of the sample corpus, the JSON keys of an answer, passage()
fakes    FakeEmbeddings, FakeChatModel, SlowChatModel
servers  free_port, newsqa, running, stop, wait_until_up, ChromaServer
web      LocalServer: canned HTTP responses on 127.0.0.1
"""

from .corpus import (
    ANSWER_KEYS,
    CITATION_KEYS,
    ROOT,
    SAMPLE_QA,
    SAMPLES,
    SHARED,
    TESLA_ID,
    passage,
)
from .fakes import FakeChatModel, FakeEmbeddings, SlowChatModel, new_words, words
from .servers import ChromaServer, free_port, newsqa, running, stop, wait_until_up

__all__ = [
    "ANSWER_KEYS",
    "CITATION_KEYS",
    "ROOT",
    "SAMPLES",
    "SAMPLE_QA",
    "SHARED",
    "TESLA_ID",
    "ChromaServer",
    "FakeChatModel",
    "FakeEmbeddings",
    "SlowChatModel",
    "free_port",
    "running",
    "stop",
    "wait_until_up",
    "new_words",
    "newsqa",
    "passage",
    "words",
]
