"""Eight users at once through the UI's API: no errors, no answer crossing into another's chat.

The harness is scripts/stress_load.py (its long runs with the real model are in
docs/performance.md); here it runs for 15 s against a server on 127.0.0.1 in this process, with
fake models so that answers take milliseconds and every answer can be compared with the answer
the same conversation got when it ran alone.
"""

from __future__ import annotations

import re
import sys
import time
from typing import ClassVar

import pytest
from helpers import ROOT, FakeChatModel

import ui

sys.path.insert(0, str(ROOT / "scripts"))
import stress_load  # noqa: E402

USERS, SECONDS = 8, 15


class ConversationChat(FakeChatModel):
    """The fake chat model, rewriting a follow-up with the conversation's first question.

    The shared fake keeps only the previous question's words, which after two pronoun follow-ups
    ("Who is its chief executive?", "How many trucks did it order?") no longer name the topic.
    """

    def respond(self, messages) -> str:
        system, user = str(messages[0].content), str(messages[-1].content)
        if "Rewrite" in system and (asked := re.findall(r"User: (.*)", user)):
            last = re.search(r"Last question: (.*)", user).group(1)
            return f"{last} (about: {asked[0]})"
        return super().respond(messages)


class QueuedConversationChat(ConversationChat):
    """The same, paced like the local model: one call at a time (so it queues), 0.2 s each."""

    one_at_a_time: ClassVar[bool] = True

    def respond(self, messages) -> str:
        time.sleep(0.2)
        return super().respond(messages)


def serve(settings, fake_embeddings, chat_model):
    from qa.chain import NewsQA

    qa = NewsQA(settings, embeddings=fake_embeddings, chat_model=chat_model)
    assert not qa.ingest([str(stress_load.SAMPLES)], progress=False).failed
    port = stress_load.free_port()
    demo = ui.launch(qa, port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture
def url(settings, fake_embeddings):
    demo, url = serve(settings, fake_embeddings, ConversationChat())
    yield url
    demo.close()


def test_eight_users_keep_to_their_own_conversations(url):
    # Two whole conversations per user (one per path) however busy the machine: the load is a
    # number of answers, not a number of seconds.
    summary = stress_load.run_load(
        url, users=USERS, seconds=SECONDS, log=lambda _: None, min_conversations=2
    )
    assert summary["solo_errors"] == 0
    assert summary["errors"] == 0, summary["error_samples"]
    assert summary["crossings"] == 0, summary["crossing_samples"]
    # The fake models are deterministic: under load every answer is the one it got alone.
    assert summary["compared_with_solo"] == summary["answers"]
    assert summary["differing_from_solo"] == 0
    assert min(summary["answers_per_user"]) >= 6, summary["answers_per_user"]
    assert min(summary["answers_per_path"].values()) >= USERS
    # Every follow-up ("Who is its chief executive?") answered from the user's own article.
    assert summary["follow_ups_answered"] >= USERS
    assert summary["follow_ups_citing_own_article"] == summary["follow_ups_answered"]


def test_every_user_waiting_for_the_model_sees_their_place(settings, fake_embeddings):
    demo, url = serve(settings, fake_embeddings, QueuedConversationChat())
    try:
        summary = stress_load.run_load(
            url, users=USERS, seconds=10, solo=False, log=lambda _: None, min_conversations=2
        )
    finally:
        demo.close()
    assert summary["errors"] == 0, summary["error_samples"]
    queue = summary["queue"]
    # More chat users than Gradio's 4 slots per event: each waits in the model's line, shown.
    assert queue["waited"] >= USERS, queue
    assert queue["every_waiting_user_saw_a_position"], queue["missed_samples"]
    assert queue["positions_counting_down"] == queue["waited_and_saw_a_position"]
    assert max(max(p) for p in queue["position_samples"]) >= 4
    assert queue["first_queue_line_s"]["p95"] < queue["first_text_s"]["p95"]
