"""The `newsqa` console script: ingest, ask, ui, eval, articles.

newsqa ingest samples/news https://example.com/feed.xml
newsqa ask "What did Tesla agree with Baidu?" --json
newsqa ui
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from .errors import EmptyStore, NewsQAError
from .eval.options import add_eval_arguments
from .route import KINDS
from .settings import LLMSettings, Settings, get_settings

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "news"
EPILOG = """settings: every option has an environment variable (NEWSQA_STORE__PATH,
NEWSQA_STORE__CHROMA_HOST, NEWSQA_LLM__PROVIDER=openai|ollama|extractive, NEWSQA_LLM__BASE_URL,
NEWSQA_LLM__MODEL, ...) and may be set in a TOML file named by NEWSQA_CONFIG (default
./newsqa.toml). See README.md."""


def _common(
    parser: argparse.ArgumentParser, store_default: str = "in the user data folder"
) -> None:
    g = parser.add_argument_group("store and model")
    g.add_argument("--store", type=Path, help=f"store folder (default: {store_default})")
    g.add_argument("--chroma-host", help="use the Chroma server on this host instead of a folder")
    g.add_argument("--chroma-port", type=int, help="port of the Chroma server (default 8000)")
    g.add_argument(
        "--provider",
        choices=_choices("provider"),
        help="chat model provider (default: local, the bundled Qwen2.5)",
    )
    g.add_argument("--model", help="model name for the openai/ollama providers")
    g.add_argument(
        "--local-model",
        choices=_choices("local_model"),
        help="bundled model of the local provider (default qwen2.5-1.5b)",
    )
    g.add_argument("--base-url", help="server URL for the openai/ollama providers")


def _choices(field: str) -> list[str]:
    """The values an `llm` setting takes, as its Literal in qa/settings.py spells them."""
    return list(get_args(LLMSettings.model_fields[field].annotation))


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `newsqa ui` (and `python ui.py`, the same command); no Gradio import."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument(
        "--auth-file",
        type=Path,
        metavar="PATH",
        help="require a login from this file of USER:PASSWORD lines (or set NEWSQA_UI__AUTH); "
        "needed to serve beyond 127.0.0.1",
    )
    g.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="require this login; it shows in `ps`, so prefer --auth-file or NEWSQA_UI__AUTH",
    )
    g.add_argument(
        "--no-auth",
        action="store_true",
        help="serve beyond 127.0.0.1 without a login, on purpose (anyone who reaches it may use "
        "it, and ingest)",
    )
    parser.add_argument(
        "--no-samples",
        action="store_true",
        help="do not ingest the sample corpus into an empty store",
    )
    _common(parser)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Command-line options over environment and config file, over defaults."""
    overrides: dict[str, dict] = {}
    for flag, (section, field) in FLAG_SETTINGS.items():
        value = getattr(args, flag, None)
        if value not in (None, False):
            overrides.setdefault(section, {})[field] = value
    return get_settings(overrides)


# Each option and the one setting it sets (the same as NEWSQA_<SECTION>__<FIELD>).
FLAG_SETTINGS = {
    "store": ("store", "path"),
    "chroma_host": ("store", "chroma_host"),
    "chroma_port": ("store", "chroma_port"),
    "allow_private_urls": ("store", "allow_private_urls"),
    "provider": ("llm", "provider"),
    "base_url": ("llm", "base_url"),
    "model": ("llm", "model"),
    "local_model": ("llm", "local_model"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsqa",
        description="Ask questions of news articles; answers cite their sources.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest", help="load files, folders, URLs, feeds or JSON Lines into the store"
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a file, folder, article URL, RSS/Atom feed URL or .jsonl file",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="also fetch URLs on private, loopback and link-local addresses and on any port "
        "(your own intranet); by default only public addresses on ports 80 and 443",
    )
    _common(p)

    p = sub.add_parser(
        "watch",
        help="poll RSS/Atom feeds on a schedule and store their new and changed entries",
        description="Add FEEDs to the watch list (kept beside the store, shared with the UI), "
        "then poll every watched feed when it is due: a conditional GET (ETag, "
        "Last-Modified), only new and changed entries fetched, a failing feed polled less "
        "often (each failure in a row doubles the wait). Runs until SIGTERM or Ctrl-C, which "
        "end it between two feeds.",
    )
    p.add_argument("feeds", nargs="*", metavar="FEED", help="an RSS/Atom feed URL to watch")
    p.add_argument(
        "--every",
        type=_duration,
        metavar="DURATION",
        help="time between two polls of a feed, e.g. 90s, 15m, 1h (default: watch.every, 15m)",
    )
    p.add_argument("--once", action="store_true", help="poll every due feed once, then exit")
    p.add_argument(
        "--remove", action="append", default=[], metavar="FEED", help="stop watching FEED"
    )
    p.add_argument("--list", action="store_true", help="list the watched feeds and exit")
    p.add_argument("--json", action="store_true", help="with --list: as JSON")
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="also fetch feeds on private, loopback and link-local addresses and on any port",
    )
    _common(p)

    p = sub.add_parser("ask", help="answer a question from the stored articles, with citations")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument(
        "--outlet",
        action="append",
        dest="outlets",
        metavar="NAME",
        help="only articles from this outlet (repeatable)",
    )
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="published on or after")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="published on or before")
    p.add_argument(
        "--date",
        dest="question_date",
        metavar="YYYY-MM-DD",
        help="the date the question is asked on ('this week' is the week before it); "
        "default: today for a question that says when (this week, yesterday, recently), "
        "none for any other",
    )
    p.add_argument(
        "--kind",
        choices=["auto", *KINDS],
        default="auto",
        help="fact: a short answer from one passage; summary, timeline, comparison: a paragraph "
        "across articles (a timeline in date order); default: auto, read from the question's "
        "wording",
    )
    _common(p)

    p = sub.add_parser("articles", help="list the stored articles")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser(
        "ui", help="serve the web UI (ingests the sample corpus into an empty store)"
    )
    add_ui_arguments(p)

    p = sub.add_parser("eval", help="score answers against a gold question/answer set")
    _common(p, store_default="OUT/store")
    add_eval_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        return COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        print("newsqa: interrupted", file=sys.stderr)
        return 130
    except (NewsQAError, OSError) as exc:  # the user's to fix: one clear line; a bug keeps
        print(f"newsqa: error: {exc}", file=sys.stderr)  # its traceback
        return 2


def cmd_ingest(args, settings: Settings) -> int:
    from . import NewsQA

    report = NewsQA(settings).ingest(args.sources)
    if args.json:
        print(
            json.dumps(
                {
                    **report.counts(),
                    "failures": [vars(f) for f in report.failed],
                    "chunks": report.chunks_written,
                    "seconds": round(report.seconds, 2),
                }
            )
        )
    else:
        print(report.summary())
    # Partial failure is not a crash: the good items are stored; 3 tells scripts something failed.
    return 3 if report.failed else 0


def cmd_ask(args, settings: Settings) -> int:
    from . import NewsQA
    from .features import question_date_for

    qa = NewsQA(settings)
    if qa.count() == 0:
        where = settings.store.chroma_where
        raise EmptyStore(f"the {where} is empty; run `newsqa ingest` first")
    filters = {"sources": args.outlets, "date_from": args.date_from, "date_to": args.date_to}
    filters = {k: v for k, v in filters.items() if v} or None
    when = args.question_date or question_date_for(args.question)
    kind = None if args.kind == "auto" else args.kind
    if args.json:
        answer = qa.ask(args.question, filters=filters, question_date=when, kind=kind)
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False))
        return 0
    shown = 0
    for answer in qa.ask_stream(args.question, filters=filters, question_date=when, kind=kind):
        if not answer.done and sys.stdout.isatty():
            print(answer.text[shown:], end="", flush=True)
            shown = len(answer.text)
    if shown:
        print("\n")
    print(answer)
    return 0


def _duration(text: str) -> float:
    from vectorstore.watch import parse_every

    try:
        return parse_every(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cmd_watch(args, settings: Settings) -> int:
    import signal
    import threading
    from dataclasses import asdict

    from vectorstore.errors import BadInput

    from . import NewsQA

    qa = NewsQA(settings)
    watchlist = qa.watchlist
    for url in args.remove:
        print(f"{'no longer watching' if watchlist.remove(url) else 'was not watching'} {url}")
    for url in args.feeds:
        try:
            _, new = watchlist.add(url)
        except BadInput as exc:
            raise NewsQAError(f"{url}: {exc}") from exc
        print(f"{'watching' if new else 'already watching'} {url}")
    feeds = watchlist.feeds()
    if args.list:
        if args.json:
            print(json.dumps([asdict(s) | {"entries": len(s.entries)} for s in feeds]))
        for s in [] if args.json else feeds:
            status = f"error: {s.last_error}" if s.last_error else f"{s.new_articles} new"
            print(f"{s.url}  last check {s.last_check or 'never'}  {status}")
        return 0
    if not feeds:
        if args.remove:
            return 0
        raise NewsQAError("no feeds are watched: give one, e.g. `newsqa watch URL`")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    watcher = qa.watcher(args.every)

    def said(result) -> None:
        if result.error:
            print(f"{result.url}: error: {result.error}", flush=True)
        elif result.not_modified:
            print(f"{result.url}: not modified", flush=True)
        else:
            counts = result.report.counts()
            print(
                f"{result.url}: {result.entries_changed} new or changed entries: "
                f"{counts['added']} added, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged, {counts['failed']} failed",
                flush=True,
            )
            for failure in result.report.failed:
                print(f"  failed: {failure}", flush=True)

    watcher.on_result = said
    if not args.once:
        print(f"watching {len(feeds)} feeds; SIGTERM or Ctrl-C stops", flush=True)
    watcher.run(stop, once=args.once)
    qa.close()
    if stop.is_set():
        print("stopped", flush=True)
    return 0


def cmd_articles(args, settings: Settings) -> int:
    from . import NewsQA

    rows = NewsQA(settings).articles()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['published'] or '----------'}  {r['source'][:24]:24}  {r['title']}")
        print(f"{len(rows)} articles")
    return 0


def cmd_ui(args, settings: Settings) -> int:
    """Serve the web UI: the `ui` command that ui.py registers (pyproject's newsqa.commands), so
    this layer never imports the one above it."""
    from importlib.metadata import entry_points

    found = entry_points(group="newsqa.commands", name="ui")
    if not found:
        raise NewsQAError("the web UI is not installed with this copy of newsqa: run `make setup`")
    return next(iter(found)).load()(args, settings)


def cmd_eval(args, settings: Settings) -> int:
    from .eval.run import run_eval

    return run_eval(args, settings)


COMMANDS = {
    "ingest": cmd_ingest,
    "watch": cmd_watch,
    "ask": cmd_ask,
    "articles": cmd_articles,
    "ui": cmd_ui,
    "eval": cmd_eval,
}

if __name__ == "__main__":
    sys.exit(main())
