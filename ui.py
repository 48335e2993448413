"""The Gradio web UI: a chat that streams cited answers, filters, and an Articles tab to ingest.

    newsqa ui                          # http://127.0.0.1:7860 (python ui.py: the same command)
    newsqa ui --host 0.0.0.0 --auth-file logins.txt   # USER:PASSWORD lines

A thin skin over `NewsQA`: every answer, citation and ingestion result comes from it; this module
only renders them. Article text is written by strangers, so everything taken from an article is
HTML-escaped before it is rendered, and only http(s) URLs become links. What a caller sends is
checked against the limits in settings' `ui` section; qa/web/guard.py guards the server itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import argparse
import logging
import sys

import gradio as gr

from qa import cli
from qa.chain import NewsQA
from qa.settings import Settings
from qa.web import STYLE
from qa.web.feeds import FEED_HEADERS, FeedHandlers
from qa.web.guard import (
    AUTH_IN_PS,
    WILDCARDS,
    HostCheck,
    Logins,
    allowed_hosts,
    hostname,
    is_loopback,
    login_for,
    login_text,
)
from qa.web.handlers import ARTICLE_HEADERS, REPORT_HEADERS, Handlers
from qa.web.render import ui_error

log = logging.getLogger("newsqa.ui")

EXAMPLES = [
    "What did Tesla agree with Baidu?",
    "How much did the appeals court award to the Elm Row tenants?",
    "What was Cascade Freight's second-quarter revenue?",
    "Who was named most valuable player of the Coastal Basketball League final?",
]

# System fonts only: a GoogleFont would make every page view fetch from Google.
THEME = gr.themes.Soft(
    primary_hue="indigo",
    neutral_hue="slate",
    font=["system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


# --- the app --------------------------------------------------------------------------------------
def build_app(qa: NewsQA, concurrency: int = 4, feed_editors: str = "anyone") -> gr.Blocks:
    """The Gradio app over `qa`; `launch()` serves it (else pass theme=THEME, css_paths=[STYLE]).

    `feed_editors` says who may change the watched feeds (qa/web/feeds.py); `demo.feeds` holds
    their handlers, whose `start()` polls them.
    """
    h = Handlers(qa)
    f = FeedHandlers(qa, feed_editors, h.paths)
    outlet_choices, overview_text, article_rows = h.collection()
    max_age = qa.settings.ui.upload_max_age
    # Uploads are deleted once ingested; this sweeps the ones never ingested (the page closed).
    with gr.Blocks(
        title="newsqa", analytics_enabled=False, delete_cache=(min(600, max_age), max_age)
    ) as demo:
        history = gr.State([])  # per session: the plain-text conversation NewsQA rewrites from
        error = gr.State(None)
        gr.Markdown("## newsqa · ask the news")
        overview = gr.Markdown(overview_text)
        with gr.Tab("Ask"), gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    show_label=False,
                    height="62vh",
                    min_height=420,
                    elem_id="chat",
                    placeholder="**Ask a question about the stored news articles.**<br>"
                    "Every answer cites the articles it comes from.",
                    examples=[{"text": q} for q in EXAMPLES],
                    latex_delimiters=[],
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=None,
                    buttons=[],
                )
                question = gr.Textbox(
                    placeholder="Ask a question, e.g. What did Tesla agree with Baidu?",
                    show_label=False,
                    autofocus=True,
                    submit_btn=True,
                    elem_id="question",
                    max_length=qa.settings.ui.max_question_chars,
                )
            with gr.Column(scale=1, min_width=240):
                with gr.Group():
                    outlets = gr.Dropdown(
                        outlet_choices["choices"],
                        value=[],
                        multiselect=True,
                        label="Outlets",
                        info="Answer only from these (all when empty)",
                    )
                    date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD")
                    date_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD")
                new_chat = gr.Button("New conversation", size="sm", variant="secondary")
        with gr.Tab("Articles"):
            with gr.Row():
                files = gr.File(
                    label="Upload articles (.txt, .md, .html, .json, .jsonl)",
                    file_count="multiple",
                    type="filepath",
                    elem_id="upload",
                )
                urls = gr.Textbox(
                    label="Article or RSS/Atom feed URLs, one per line",
                    lines=5,
                    placeholder="https://example.com/news/article.html",
                )
            ingest_btn = gr.Button("Ingest", variant="primary")
            status = gr.Markdown()
            report = gr.Dataframe(
                headers=REPORT_HEADERS,
                value=[],
                label="Ingestion results",
                datatype="str",
                interactive=False,
                wrap=True,
                elem_id="report",
                column_widths=["24%", "40%", "12%", "24%"],
            )
            articles = gr.Dataframe(
                headers=ARTICLE_HEADERS,
                value=article_rows,
                label="In the collection",
                datatype="str",
                interactive=False,
                wrap=True,
                max_height=480,
                column_widths=["42%", "17%", "12%", "8%", "21%"],
                elem_id="articles",
            )
            with gr.Accordion("Watched feeds", open=bool(f.rows()), elem_id="feeds-box"):
                gr.Markdown(
                    "Feeds polled every few minutes: their new and changed articles are added."
                )
                with gr.Row():
                    feed_url = gr.Textbox(
                        show_label=False,
                        placeholder="https://example.com/news/rss.xml",
                        max_lines=1,
                        scale=4,
                        elem_id="feed-url",
                    )
                    watch_btn = gr.Button("Watch", variant="primary", scale=1)
                    unwatch_btn = gr.Button("Stop watching", variant="secondary", scale=1)
                feed_status = gr.Markdown(elem_id="feed-status")
                feeds = gr.Dataframe(
                    headers=FEED_HEADERS,
                    value=f.rows(),
                    datatype="str",
                    interactive=False,
                    wrap=True,
                    show_label=False,
                    column_widths=["40%", "20%", "15%", "25%"],
                    elem_id="feeds",
                )

        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        # With the local model, answers wait in its queue, where each is shown its place, not in
        # Gradio's, where a chat would wait unseen; the queue refuses past ui.queue_size.
        answers = {"concurrency_limit": None} if qa.model_queue is not None else {}
        checked = {"fn": h.check, "inputs": [question, outlets, date_from, date_to], **quiet}
        chat = {
            "fn": h.respond,
            "inputs": [question, chatbot, history, outlets, date_from, date_to],
            "outputs": [question, chatbot, history, error],
            **quiet,
            **answers,
        }
        failed = {"fn": raise_error, "inputs": error, **quiet}
        question.submit(**checked).success(**chat).then(**failed)
        chatbot.example_select(_example_text, None, question, **quiet).then(**checked).success(
            **chat
        ).then(**failed)
        new_chat.click(lambda: ([], [], ""), None, [chatbot, history, question], **quiet)
        chatbot.clear(lambda: [], None, history, **quiet)
        collection = {
            "fn": h.collection,
            "inputs": outlets,
            "outputs": [outlets, overview, articles],
            **quiet,
        }
        ingest_btn.click(
            h.ingest,
            [files, urls],
            [status, report],
            concurrency_limit=1,
            concurrency_id="ingest",
            api_visibility="private",
        ).success(lambda: (None, ""), None, [files, urls], **quiet).then(**collection)
        demo.load(**collection)
        demo.load(f.rows, None, feeds, **quiet)
        feed_events = {
            "inputs": feed_url,
            "outputs": [feed_status, feeds, feed_url],
            "concurrency_limit": 1,
            "concurrency_id": "ingest",
            "api_visibility": "private",
        }
        watch_btn.click(f.watch, **feed_events).then(**collection)
        feed_url.submit(f.watch, **feed_events).then(**collection)
        unwatch_btn.click(f.unwatch, **feed_events)
        gr.api(h.ask_api, api_name="ask", **answers)
    # A bounded queue: past it a caller is told the server is busy, instead of waiting forever.
    demo.queue(default_concurrency_limit=concurrency, max_size=qa.settings.ui.queue_size)
    demo.feeds = f
    return demo


def raise_error(message: str | None) -> None:
    """The step after an answer: show its failure, if any, as a gr.Error."""
    if message:
        raise gr.Error(ui_error(message))


def _example_text(evt: gr.SelectData) -> str:
    return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)


# --- serving --------------------------------------------------------------------------------------


def launch(
    qa: NewsQA,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth=None,
    share: bool = False,
    *,
    allow_no_auth: bool = False,
    **launch_kwargs,
) -> gr.Blocks | None:
    """Serve the UI; blocks until stopped, unless `prevent_thread_lock=True` (then returns the app).

    Off the loopback interface, or with `share`, a login (`auth="user:password"`, default
    ui.auth or ui.auth_file) is required unless `allow_no_auth=True` says an open server is
    intended; repeated wrong passwords lock a client out (`qa.web.guard.Logins`). Only requests for
    the server's own host names are answered (`qa.web.guard.HostCheck`; more in ui.allowed_hosts).
    Other keyword arguments go to `gr.Blocks.launch`.
    """
    limits = qa.settings.ui
    if auth is None:
        auth = login_text(None, None, limits)
    credentials = login_for(host, share, auth, allow_no_auth)
    if isinstance(credentials, list):
        credentials = Logins(
            credentials, limits.login_attempts, limits.login_window, limits.login_lockout
        )
        launch_kwargs.setdefault(
            "auth_message",
            f"After {limits.login_attempts} wrong passwords within {limits.login_window:.0f} "
            f"seconds, logins from your address are refused for {limits.login_lockout:.0f} "
            "seconds.",
        )
    launch_kwargs.setdefault("max_file_size", "25mb")  # the loader refuses files over 20 MB
    # Each chat waiting in the local model's queue takes a worker thread for a second at a
    # time; enough of them that the answer being written never waits for one.
    launch_kwargs.setdefault("max_threads", 40 + limits.queue_size)
    app_kwargs = dict(launch_kwargs.pop("app_kwargs", None) or {})
    if "lifespan" in app_kwargs:
        raise ValueError("launch() sets the app's lifespan itself (it installs the host check)")
    hosts = allowed_hosts(host, qa.settings.ui.allowed_hosts)
    app_kwargs["lifespan"] = HostCheck.lifespan(hosts, any_ip=host in WILDCARDS)
    block = not launch_kwargs.pop("prevent_thread_lock", False)
    local = is_loopback(host) and not share
    editors = "login" if isinstance(credentials, Logins) else "anyone" if local else "nobody"
    demo = build_app(qa, feed_editors=editors)
    app, _, share_url = demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        share=share,
        theme=THEME,
        css_paths=[STYLE],
        app_kwargs=app_kwargs,
        prevent_thread_lock=True,  # to check the guard first; blocks below
        **launch_kwargs,
    )
    if not isinstance(app.middleware_stack, HostCheck):  # fail closed, never serve unguarded
        demo.close()
        raise RuntimeError("the host check did not install; not serving (see qa/web/guard.py)")
    if share_url:
        hosts.add(hostname(share_url))
    if qa.settings.watch.in_ui:
        stop = demo.feeds.start()
        close = demo.close
        demo.close = lambda *a, **k: (stop.set(), close(*a, **k))[1]
    if block:
        demo.block_thread()
        return None
    return demo


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """`newsqa ui`: check the login, fill an empty store with the samples, serve until stopped."""
    login = login_text(args.auth, args.auth_file, settings.ui)
    if args.auth:
        print(AUTH_IN_PS, file=sys.stderr)
    login_for(args.host, False, login, args.no_auth)  # refuse before doing any work
    qa = NewsQA(settings)
    if qa.count() == 0 and not args.no_samples and cli.SAMPLES.is_dir():
        print(
            f"The store is empty: ingesting the sample corpus from {cli.SAMPLES} ...",
            file=sys.stderr,
        )
        print(qa.ingest([str(cli.SAMPLES)]).summary(), file=sys.stderr)
    return launch(qa, host=args.host, port=args.port, auth=login, allow_no_auth=args.no_auth) or 0


def main(argv: list[str] | None = None) -> int:
    """`python ui.py [OPTIONS]`: the same command as `newsqa ui [OPTIONS]`."""
    return cli.main(["ui", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
