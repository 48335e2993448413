"""Load test: concurrent users asking through the web UI's API, each in a conversation of its own.

    .venv/bin/python scripts/stress_load.py --help
    NEWSQA_CACHE_DIR=/tmp/m/cache .venv/bin/python scripts/stress_load.py   # 8 users, 300 s, local
    .venv/bin/python scripts/stress_load.py --provider extractive --seconds 120 --json out.json

Starts `newsqa ui` as a subprocess on 127.0.0.1 over a fresh store of samples/news (or uses
`--url`), then gives each user a `gradio_client.Client` (a session of its own) and a topic of its
own: an article of the corpus, a first question naming it and follow-ups that only make sense
with the conversation ("Who is its chief executive?"). Users alternate their conversations
between the two ways in: the public `/ask` endpoint, given the user's own history as
`history_json`, and the chat events the browser uses (check -> respond, streamed -> raise_error,
then "New conversation"), where the history lives in the server's per-session state.

Those chat events are api_visibility="private": gradio_client refuses them, the server does not
(the browser calls them), so the harness re-enables them in its own client only.

Every conversation is first run once alone (the solo baseline). Under load each answer is checked:
no error; the articles it cites; that "Searched for" (the rewritten question, chat only) names no
other user's topic; and, the models being deterministic, that it is the answer the solo run gave.
A crossing is an answer that searches for another user's topic, or cites another user's article
when the solo run did not. Prints a JSON summary: latency p50/p95/max per path, throughput,
errors, refusals, crossings, server memory; exits 1 if any answer failed or crossed.

While the local model answers someone else, the chat shows a waiting user their place in line
(ui.py, `render_waiting`). Per chat answer the harness records when the first such line showed,
the places it gave ("2 questions ahead" -> [2, 1]) and when the first words came; the summary's
"queue" part gives their p50/p95 and whether every chat answer that had to wait (another answer
was in flight when it was asked, and still 1 s later) was shown a place. An /ask call refused
as "Busy" after ui.ask_wait (`--ask-wait`) is counted as busy, not as an error.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "news"
sys.path.insert(0, str(ROOT / "tests"))
from helpers.servers import free_port, running  # noqa: E402

PATHS = ("chat", "api")
TIMEOUT = 900.0  # seconds one answer may take: 8 users queued on one local model take minutes


@dataclass(frozen=True)
class Topic:
    """One user's subject: an article, words only it uses, a first question and follow-ups."""

    file: str
    words: tuple[str, ...]
    questions: tuple[str, ...]

    @property
    def title(self) -> str:
        text = (SAMPLES / f"{self.file}.txt").read_text(encoding="utf-8")
        return re.search(r"^Title: (.*)$", text, re.M).group(1).strip()


# Distinct subjects first (no two share a city, company or agency), so that a word or a citation
# of another user's topic can only come from that user's conversation.
TOPICS = (
    Topic(
        "2024-04-29-tesla-baidu-china-data-rules",
        ("Tesla", "Baidu"),
        (
            "What did Tesla agree with Baidu?",
            "Who did its chief executive meet in Beijing?",
            "Which of its models passed the data security requirements?",
        ),
    ),
    Topic(
        "2024-03-21-swiss-national-bank-rate-cut",
        ("Swiss", "SNB"),
        (
            "What did the Swiss National Bank do to its key rate?",
            "Who is its chairman?",
            "What was inflation in February?",
        ),
    ),
    Topic(
        "2024-05-20-gulls-win-coastal-league-final",
        ("Gulls", "Ravens", "basketball"),
        (
            "Who won the Coastal Basketball League final?",
            "Who was named most valuable player?",
            "Who is their head coach?",
        ),
    ),
    Topic(
        "2024-06-12-gvsat-1-reaches-orbit",
        ("GVSat", "satellite"),
        ("What is the GVSat-1 satellite?", "Where was it launched from?", "How much did it cost?"),
    ),
    Topic(
        "2024-07-18-new-snailfish-halvard-trench",
        ("snailfish", "Halvard"),
        (
            "What new snailfish species did scientists describe?",
            "How deep does it live?",
            "Who led the study?",
        ),
    ),
    Topic(
        "2024-08-02-cedar-ridge-fire-containment",
        ("Cedar", "wildfire"),
        (
            "How much of the Cedar Ridge Fire is contained?",
            "What started it?",
            "When do officials expect full containment?",
        ),
    ),
    Topic(
        "2024-08-08-cascade-freight-q2-earnings",
        ("Cascade", "Freight"),
        (
            "What was Cascade Freight's second-quarter revenue?",
            "Who is its chief executive?",
            "How many new trucks did it order?",
        ),
    ),
    Topic(
        "2024-10-15-lumo-color-e-reader-launch",
        ("Lumo", "e-reader"),
        (
            "How much does the Lumo Glow e-reader cost?",
            "When will it ship?",
            "How long does its battery last?",
        ),
    ),
    Topic(
        "2024-01-24-elm-row-tenants-appeal",
        ("Elm Row", "tenants"),
        (
            "What did the appeals court decide about the Elm Row tenants?",
            "How much were they awarded?",
            "Which judge wrote the opinion?",
        ),
    ),
    Topic(
        "2024-06-27-kestrel-mobility-singapore-permit",
        ("Kestrel", "Singapore"),
        (
            "What permit did Kestrel Mobility win in Singapore?",
            "How many vans may it operate?",
            "When was the company founded?",
        ),
    ),
    Topic(
        "2024-03-01-metro-transit-strike",
        ("strike", "transit"),
        (
            "When will Metro transit workers strike?",
            "What raise is their union seeking?",
            "Who is the union's president?",
        ),
    ),
    Topic(
        "2024-05-06-lanxin-price-cuts-ev-price-war",
        ("Lanxin",),
        (
            "How much did Lanxin Auto cut its sedan prices?",
            "How many vehicles did it deliver in April?",
            "What did its chief executive say?",
        ),
    ),
)


@dataclass
class Turn:
    """One question asked and what came back."""

    user: int
    path: str
    conversation: int
    index: int
    question: str
    seconds: float = 0.0
    first_text: float | None = None  # chat: seconds until the first words of the answer showed
    first_queue_line: float | None = None  # chat: seconds until its place in line showed
    positions: list[int] = field(default_factory=list)  # chat: questions ahead, as shown
    started: float = 0.0  # time.monotonic() when it was asked, to tell who was waiting
    error: str | None = None
    busy: bool = False  # /ask: refused with "Busy" after ui.ask_wait (not an error)
    refused: bool = False
    cited: list[str] = field(default_factory=list)  # titles of the cited articles
    searched: str | None = None  # the rewritten question the chat shows as "Searched for"
    answer: str = ""  # the answer as the user got it, to compare with the solo run
    solo_match: bool | None = None
    crossing: str | None = None


_CITE = re.compile(r'<a class="nq-cite" [^>]*title="([^"]*)"')
_SEARCHED = re.compile(r'<div class="nq-searched">Searched for: (.*?)</div>')
_PARTIAL = re.compile(r'<div class="nq-answer">(.*?)<span class="nq-cursor">')
_TURN_ID = re.compile(r"nq-[0-9a-f]{8}-")  # per-render anchor ids, different on every render
_QUEUE = re.compile(r'<div class="nq-queue">(?:In line for the model: (\d+) question)?')
WAITED = 1.0  # s: a chat answer asked while another was in flight (and still was this much later)


def _content(message: dict) -> str:
    parts = message["content"]
    return "".join(p.get("text", "") for p in parts) if isinstance(parts, list) else str(parts)


class User:
    """A person at the UI: one client session, one topic, conversations one after another."""

    def __init__(self, url: str, number: int, topic: Topic) -> None:
        from gradio_client import Client

        self.number, self.topic = number, topic
        self.client = Client(url, verbose=False)
        for endpoint in self.client.endpoints.values():
            endpoint.is_valid = True  # see the module docstring: the chat events are "private"
        deps = self.client.config["dependencies"]
        chatbot = next(
            c["id"]
            for c in self.client.config["components"]
            if c.get("props", {}).get("elem_id") == "chat"
        )
        self.fn = {d["api_name"]: d["id"] for d in deps if d.get("api_name")}
        self.fn["new_chat"] = next(
            d["id"]
            for d in deps
            if d["targets"][:1] and d["targets"][0][1] == "click" and chatbot in d["outputs"]
        )

    def run(self, deadline: float, min_conversations: int = 0) -> list[Turn]:
        """Conversations until the deadline, alternating paths (users start on different ones),
        and at least `min_conversations` whole ones however long they take (so a test's load
        does not shrink on a busy machine)."""
        turns, conversation = [], 0
        while time.monotonic() < deadline or conversation < min_conversations:
            until = deadline if conversation >= min_conversations else None
            turns += self.converse(PATHS[(self.number + conversation) % 2], conversation, until)
            conversation += 1
        return turns

    def converse(self, path: str, conversation: int, deadline: float | None = None) -> list[Turn]:
        """The topic's questions in order, stopping at an error or the deadline."""
        history, chat, turns = [], [], []
        for index, question in enumerate(self.topic.questions):
            if deadline is not None and time.monotonic() >= deadline:
                break
            turn = Turn(self.number, path, conversation, index, question)
            turns.append(turn)
            start = time.perf_counter()
            turn.started = time.monotonic()
            try:
                if path == "api":
                    self._ask(turn, history)
                else:
                    chat = self._chat(turn, chat, start)
            except Exception as exc:  # a failed answer is a result to count, not a crash
                if getattr(exc, "title", None) == "Busy":  # past ui.ask_wait: told to retry
                    turn.busy = True
                else:
                    turn.error = f"{type(exc).__name__}: {exc}"[:300]
                break
            finally:
                turn.seconds = time.perf_counter() - start
            history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": turn.answer},
            ]
        if path == "chat":  # the "New conversation" button: clears the session's history
            try:
                self.client.predict(fn_index=self.fn["new_chat"])
            except Exception as exc:
                turns.append(
                    Turn(
                        self.number,
                        path,
                        conversation,
                        len(turns),
                        "(new chat)",
                        error=f"{type(exc).__name__}: {exc}"[:300],
                    )
                )
        return turns

    @staticmethod
    def _saw(turn: Turn, message: str, seconds: float) -> None:
        """Note a queue line (its time, the place it gives) or the answer's first words."""
        if queue := _QUEUE.search(message):
            if turn.first_queue_line is None:
                turn.first_queue_line = seconds
            ahead = queue.group(1) and int(queue.group(1))
            if ahead and turn.positions[-1:] != [ahead]:
                turn.positions.append(ahead)
        partial = _PARTIAL.search(message)
        if partial and partial.group(1):
            turn.first_text = seconds

    def _ask(self, turn: Turn, history: list[dict]) -> None:
        job = self.client.submit(turn.question, json.dumps(history), "", api_name="/ask")
        result = job.result(timeout=TIMEOUT)
        turn.answer, turn.refused = result["text"], result["refused"]
        turn.cited = list(dict.fromkeys(c["title"] for c in result["citations"]))

    def _chat(self, turn: Turn, chat: list, start: float) -> list:
        self.client.predict(turn.question, [], "", "", fn_index=self.fn["check"])
        job = self.client.submit(turn.question, chat, [], "", "", fn_index=self.fn["respond"])
        seen = 0
        while True:  # poll, not iterate: a bounded wait, and the times of what showed
            done, outputs = job.done(), job.outputs()
            for output in outputs[seen:]:
                if turn.first_text is None:
                    self._saw(turn, _content(output[1][-1]), time.perf_counter() - start)
            seen = len(outputs)
            if done:
                break
            if time.perf_counter() - start > TIMEOUT:
                raise TimeoutError(f"no answer after {TIMEOUT:.0f} s")
            time.sleep(0.05)
        _, chat = job.result(timeout=TIMEOUT)
        self.client.predict(fn_index=self.fn["raise_error"])  # the step that shows a failure
        final = _content(chat[-1])
        if turn.first_text is None:  # the whole answer came between two polls
            turn.first_text = time.perf_counter() - start
        turn.answer = _TURN_ID.sub("nq-", final)
        turn.refused = 'class="nq-refusal"' in final
        turn.cited = list(dict.fromkeys(html.unescape(t) for t in _CITE.findall(final)))
        searched = _SEARCHED.search(final)
        turn.searched = html.unescape(searched.group(1)) if searched else None
        return chat


# --- judging and summing up -----------------------------------------------------------------
def judge(turn: Turn, topics: tuple[Topic, ...], solo: dict[tuple, Turn]) -> None:
    """Set turn.solo_match and turn.crossing (the reason, if the answer crossed users)."""
    others = [t for i, t in enumerate(topics) if i != turn.user]
    named = [
        w
        for t in others
        for w in t.words
        if turn.searched and re.search(rf"\b{re.escape(w)}\b", turn.searched, re.I)
    ]
    foreign = [title for title in turn.cited if title in {t.title for t in others}]
    alone = solo.get((turn.user, turn.path, turn.index))
    if alone is not None and alone.error is None and turn.error is None:
        turn.solo_match = alone.answer == turn.answer
    if named:
        turn.crossing = f"searched for another user's topic: {named}"
    elif foreign and not turn.solo_match:
        turn.crossing = f"cites another user's article: {foreign}"
    elif turn.index == 0 and turn.searched:
        turn.crossing = f"a first question rewritten from an earlier conversation: {turn.searched}"


def percentiles(values: list[float]) -> dict:
    """n, p50, p95 and max of `values` (nearest rank), rounded to 10 ms."""
    if not values:
        return {"n": 0}
    xs = sorted(values)

    def rank(q: float) -> float:
        return round(xs[max(0, math.ceil(q * len(xs)) - 1)], 2)

    return {"n": len(xs), "p50": rank(0.5), "p95": rank(0.95), "max": round(xs[-1], 2)}


def latencies(turns: list[Turn]) -> dict:
    ok = [t for t in turns if t.error is None and not t.busy]
    out = {p: percentiles([t.seconds for t in ok if t.path == p]) for p in PATHS}
    out["chat_first_text"] = percentiles([t.first_text for t in ok if t.first_text is not None])
    return out


def waiting(turn: Turn, turns: list[Turn]) -> bool:
    """Whether a chat answer had to wait: another answer was in flight when it was asked, and
    still was WAITED s later (so it was ahead in the model's line, or holding the model)."""
    return any(
        other.started < turn.started and other.started + other.seconds > turn.started + WAITED
        for other in turns
        if other is not turn and other.error is None
    )


def queue_summary(turns: list[Turn]) -> dict:
    """What waiting chat users were shown: a place in line, when, and the first words' time."""
    chats = [t for t in turns if t.path == "chat" and t.error is None and t.first_text is not None]
    waited = [t for t in chats if waiting(t, turns)]
    shown = [t for t in waited if t.positions]
    return {
        "chat_answers": len(chats),
        "waited": len(waited),
        "waited_and_saw_a_position": len(shown),
        # None when no answer saw a line at all: a model with no local line (remote, extractive)
        "every_waiting_user_saw_a_position": len(shown) == len(waited)
        if any(t.positions for t in chats)
        else None,
        "missed_samples": [asdict(t) for t in waited if not t.positions][:3],
        "saw_a_position": sum(bool(t.positions) for t in chats),
        "positions_counting_down": sum(
            t.positions == sorted(t.positions, reverse=True) for t in shown
        ),
        "first_queue_line_s": percentiles([t.first_queue_line for t in shown]),
        "first_text_s": percentiles([t.first_text for t in chats]),
        "first_text_when_waiting_s": percentiles([t.first_text for t in waited]),
        "position_samples": [t.positions for t in shown][:8],
    }


def summarize(
    turns: list[Turn], solo: list[Turn], topics: tuple[Topic, ...], seconds: float
) -> dict:
    """The JSON summary of a load run."""
    ok = [t for t in turns if t.error is None and not t.busy]
    follow = [t for t in ok if t.index > 0 and not t.refused]
    own = [t for t in follow if topics[t.user].title in t.cited]
    crossed = [t for t in turns if t.crossing]
    return {
        "users": len(topics),
        "seconds": round(seconds, 1),
        "requests": len(turns),
        "answers": len(ok),
        "answers_per_minute": round(60 * len(ok) / seconds, 2) if seconds else None,
        "answers_per_user": [sum(t.user == u for t in ok) for u in range(len(topics))],
        "answers_per_path": {p: sum(t.path == p for t in ok) for p in PATHS},
        "errors": sum(t.error is not None for t in turns),
        "busy": sum(t.busy for t in turns),
        "error_samples": [asdict(t) for t in turns if t.error][:5],
        "refused": sum(t.refused for t in ok),
        "crossings": len(crossed),
        "crossing_samples": [asdict(t) for t in crossed][:5],
        "follow_ups_answered": len(follow),
        "follow_ups_citing_own_article": len(own),
        "compared_with_solo": sum(t.solo_match is not None for t in ok),
        "differing_from_solo": sum(t.solo_match is False for t in ok),
        "latency_s": latencies(turns),
        "queue": queue_summary(turns),
        "solo_latency_s": latencies(solo),
        "solo_errors": sum(t.error is not None for t in solo),
    }


def run_load(
    url: str,
    users: int = 8,
    seconds: float = 300.0,
    solo: bool = True,
    log=print,
    turns_out: Path | None = None,
    min_conversations: int = 0,
) -> dict:
    """`users` concurrent users against the UI at `url` for `seconds`; the summary dict.

    `turns_out`, when given, gets every turn (solo ones with conversation -1) as JSON Lines.
    Each user holds at least `min_conversations` whole conversations, past `seconds` if need be.
    """
    if not 1 <= users <= len(TOPICS):
        raise ValueError(f"--users must be 1..{len(TOPICS)} (one distinct topic each)")
    topics = TOPICS[:users]
    people = [User(url, i, topic) for i, topic in enumerate(topics)]
    baseline: dict[tuple, Turn] = {}
    try:
        if solo:
            log(f"solo baseline: {users} users x {len(PATHS)} paths, one at a time")
            for person in people:
                for path in PATHS:
                    baseline |= {(t.user, t.path, t.index): t for t in person.converse(path, -1)}
        log(f"load: {users} users for {seconds:.0f} s")
        start = time.perf_counter()
        deadline = time.monotonic() + seconds
        with ThreadPoolExecutor(users) as pool:
            done = pool.map(lambda p: p.run(deadline, min_conversations), people)
            turns = [t for person_turns in done for t in person_turns]
        elapsed = time.perf_counter() - start
    finally:
        for person in people:
            person.client.close()
    for turn in turns:
        judge(turn, topics, baseline)
    if turns_out:
        with open(turns_out, "w") as out:
            out.writelines(json.dumps(asdict(t)) + "\n" for t in [*baseline.values(), *turns])
    return summarize(turns, list(baseline.values()), topics, elapsed)


# --- the server ---------------------------------------------------------------------------------
def memory(pid: int) -> dict:
    """The process's resident memory now and at its peak (MB), from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        key: round(int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) / 1024)
        for key in ("VmRSS", "VmHWM")
    }


@contextmanager
def serve(
    port: int, provider: str | None, folder: Path, ask_wait: float | None = None
) -> Iterator[subprocess.Popen]:
    """`newsqa ui` on 127.0.0.1:port over a new store in `folder` (samples ingested), until exit."""

    env = {
        **os.environ,
        "NEWSQA_STORE__PATH": str(folder / "store"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    if provider:
        env["NEWSQA_LLM__PROVIDER"] = provider
    if ask_wait is not None:
        env["NEWSQA_UI__ASK_WAIT"] = str(ask_wait)
    script = Path(sys.executable).with_name("newsqa")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "qa.cli"]
    command += ["ui", "--no-auth", "--host", "127.0.0.1", "--port", str(port)]
    # Ingesting the samples with the real embedding model takes a while.
    with running(command, folder / "server.log", f"http://127.0.0.1:{port}/", env=env) as proc:
        yield proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=8, help=f"1..{len(TOPICS)} (default 8)")
    parser.add_argument("--seconds", type=float, default=300.0, help="load duration (default 300)")
    parser.add_argument(
        "--provider",
        choices=["local", "extractive", "openai", "ollama"],
        help="chat model of the server (default: its settings, the local Qwen)",
    )
    parser.add_argument(
        "--ask-wait",
        type=float,
        metavar="S",
        help="the server's ui.ask_wait: seconds an /ask call waits for the local model before "
        "it is told Busy (default: its settings, 120)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--url", help="use the UI already served here instead of starting one")
    parser.add_argument(
        "--no-solo",
        action="store_true",
        help="skip the solo baseline (then any foreign citation is a crossing)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the summary here")
    parser.add_argument(
        "--turns",
        type=Path,
        metavar="OUT",
        help="write every question and its answer here (JSON Lines)",
    )
    args = parser.parse_args(argv)
    say = lambda message: print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr)  # noqa: E731
    info = {"provider": args.provider or "settings default", "loadavg_before": os.getloadavg()}
    if args.url:
        summary = run_load(args.url, args.users, args.seconds, not args.no_solo, say, args.turns)
    else:
        port = args.port or free_port()
        with (
            tempfile.TemporaryDirectory(prefix="newsqa-load-") as tmp,
            serve(port, args.provider, Path(tmp), args.ask_wait) as proc,
        ):
            say(f"server up on port {port} (pid {proc.pid}), memory {memory(proc.pid)} MB")
            summary = run_load(
                f"http://127.0.0.1:{port}/",
                args.users,
                args.seconds,
                not args.no_solo,
                say,
                args.turns,
            )
            info["server_memory_mb"] = memory(proc.pid)
    summary = {**info, "loadavg_after": os.getloadavg(), **summary}
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    failed = summary["errors"] or summary["crossings"] or summary["solo_errors"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
