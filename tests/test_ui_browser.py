"""The web UI in a real (headless) Chromium: chat, citations, follow-ups, ingestion, hostile text.

Needs /usr/bin/chromium (Debian package `chromium`); Playwright's own browsers are not used.
Fake models answer, so this tests the UI, not the answers.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import FakeChatModel, FakeEmbeddings, SlowChatModel, free_port
from helpers.web import LocalServer

import ui
from qa.chain import NewsQA

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
BAIDU_SENTENCE = (
    "Tesla has agreed with Baidu to use the Chinese search company's mapping "
    "license to collect data on China's public roads."
)
TIMEOUT = 120_000  # ms; generous: CI machines are shared and the page waits on ingestion


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    """Gradio's upload folder for this test alone (it reads GRADIO_TEMP_DIR at launch)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    return tmp_path / "gradio"


@pytest.fixture
def app_url(fake_qa, uploads):
    port = free_port()
    demo = ui.launch(fake_qa, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    outside = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    page.goto(app_url)
    yield page
    context.close()
    assert not outside, f"the page made requests beyond the app: {outside}"


def ask(page, question: str, answers_before: int) -> object:
    """Type a question, press Enter, and wait for the final (not streaming) answer."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    bot = page.locator("#chat [data-testid=bot]")
    page.wait_for_function(
        """n => { const m = document.querySelectorAll('#chat [data-testid=bot]');
                  return m.length > n && !m[m.length - 1].querySelector('.nq-cursor'); }""",
        arg=answers_before,
    )
    return bot.nth(answers_before)


def test_chat_cites_sources_follows_up_and_keeps_sessions_apart(page, browser, app_url):
    answer = ask(page, "What did Tesla agree with Baidu?", 0)
    assert "Baidu" in answer.locator(".nq-answer").inner_text()
    cite = answer.locator("a.nq-cite", has_text="[1]")
    assert cite.count() == 1

    sources = answer.locator("details.nq-sources")
    if sources.get_attribute("open") is None:
        sources.locator("summary").click()
    mark = sources.locator("mark").first
    assert mark.is_visible() and mark.inner_text() == BAIDU_SENTENCE
    # qa/web/style.css reached the page: the quote's highlight is its colour, not the browser's.
    assert mark.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(253, 230, 138)"
    card = sources.locator(".nq-source").first
    assert "Metro Wire" in card.inner_text() and "2024-04-29" in card.inner_text()
    assert card.locator("a").first.get_attribute("href").startswith("https://metrowire.example/")
    cite.click()  # the marker leads to its source
    assert page.evaluate("location.hash") == "#" + card.get_attribute("id")
    others = answer.locator("details.nq-other")
    assert others.get_attribute("open") is None  # collapsed until asked for
    assert BAIDU_SENTENCE not in others.inner_text()
    page.locator("#question textarea").focus()
    answer.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    follow = ask(page, "And what did Li Qiang say?", 1)
    assert "Li Qiang" in follow.locator(".nq-answer").inner_text()
    searched = follow.locator(".nq-searched").inner_text()
    assert searched.startswith("Searched for: And what did Li Qiang say?")

    other = browser.new_page()  # a second visitor starts with an empty conversation
    other.set_default_timeout(TIMEOUT)
    other.goto(app_url)
    example = other.get_by_role("button", name=re.compile("appeals court award"))
    assert other.locator("#chat [data-testid=bot]").count() == 0
    example.click()  # the first screen's examples ask themselves
    answer = other.locator("#chat [data-testid=bot]").first
    answer.locator(".nq-sources").wait_for()
    assert "Elm Row" in answer.inner_text() and answer.locator("a.nq-cite").count() >= 1
    other.close()
    assert page.locator("#chat [data-testid=bot]").count() == 2  # and the first one kept its own


# A 1x1 transparent PNG, for a server that counts who fetches it.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class PausingChat(FakeChatModel):
    """Streams its reply, then waits before ending it: the partial answer stays on the page."""

    def _stream(self, *args, **kwargs):
        yield from super()._stream(*args, **kwargs)
        time.sleep(2.0)


def test_streamed_markdown_never_becomes_an_image(browser, fake_qa):
    with LocalServer({"/pixel.png": (200, {"Content-Type": "image/png"}, PIXEL)}) as pixels:
        # The classic reader streams the model's raw text, line breaks and all.
        reply = (
            "Tesla has agreed with Baidu to use its mapping license [1]."
            f"\r\r![x]({pixels.url('/pixel.png?r')})\u2028\u2028![y]({pixels.url('/pixel.png?u')})"
            f"\r\n\r\n![z]({pixels.url('/pixel.png?rn')})"
        )
        settings = fake_qa.settings.model_copy(
            update={"llm": fake_qa.settings.llm.model_copy(update={"reader": "classic"})}
        )
        chat = PausingChat(replies=[reply], calls=[])
        with served_with(fake_qa, chat, settings) as (_, url):
            context = browser.new_context()
            try:
                page = context.new_page()
                page.set_default_timeout(TIMEOUT)
                page.goto(url)
                ask(page, "What did Tesla agree with Baidu?", 0)
                assert page.locator("#chat img").count() == 0
            finally:
                context.close()
        assert pixels.requests == [], "the streamed markdown was rendered as an image"


def test_a_waiting_user_sees_their_place_in_line(browser, fake_qa):
    gate = threading.Semaphore(1)  # one answer alone first, so that the wait has an estimate
    with served_with(fake_qa, SlowChatModel(gate=gate)) as (qa, url):
        context = browser.new_context()
        try:
            first, second, third = (context.new_page() for _ in range(3))
            for page in (first, second, third):
                page.set_default_timeout(TIMEOUT)
                page.goto(url)
            ask(first, "What did Tesla agree with Baidu?", 0)
            assert first.locator(".nq-queue").count() == 0  # alone: no line
            send(first, "Who won the Coastal Basketball League final?")  # holds the model
            wait_until(lambda: len(qa.model_queue) == 1)
            send(second, "What was Cascade Freight's second-quarter revenue?")  # then leaves
            line = second.locator("#chat .nq-queue")
            line.wait_for()
            ahead = r"In line for the model: 1 question ahead of yours, about \d+ s\."
            assert re.fullmatch(ahead, line.inner_text())
            send(third, "How much does the Lumo Glow e-reader cost?")
            third_line = third.locator("#chat .nq-queue", has_text="2 questions ahead of yours")
            third_line.wait_for()
            second.close()  # leaving frees the place: the third moves up
            third.locator("#chat .nq-queue", has_text="1 question ahead of yours").wait_for()
            gate.release(10)
            answer = third.locator("#chat [data-testid=bot]").first
            answer.locator(".nq-sources").wait_for()
            assert third.locator(".nq-queue").count() == 0  # the answer replaced the line
            leaver = "What was Cascade Freight's second-quarter revenue?"
            assert not any(leaver in call for call in qa.chat_model.calls)  # who left is not asked
        finally:
            gate.release(10)
            context.close()


@contextmanager
def served_with(fake_qa, chat_model, settings=None):
    """The UI over fake_qa's store with another chat model, on a free port: (its NewsQA, URL)."""
    qa = NewsQA(
        settings or fake_qa.settings,
        embeddings=fake_qa.embeddings,
        chat_model=chat_model,
        store=fake_qa.store,
        retriever=fake_qa.retriever,
    )
    port = free_port()
    demo = ui.launch(qa, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield qa, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def send(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def wait_until(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def ingest_file(page, path: Path) -> str:
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.get_by_text(path.name).first.wait_for()  # uploaded
    page.get_by_role("button", name="Ingest").click()
    page.get_by_text("1 item ingested").wait_for()
    return page.locator("#report").inner_text()


def test_uploaded_article_is_added_and_cited(page, tmp_path, uploads):
    path = tmp_path / "quillfeather-comet.txt"
    path.write_text(
        "Title: Quillfeather Observatory names comet after teacher\nSource: Harbor "
        "Gazette\nAuthor: A. Writer\nPublished: 2024-11-20\nURL: https://x.example/a"
        "\n\nThe Quillfeather Observatory named the new comet Marigold, after a "
        "retired science teacher.\n"
    )
    report = ingest_file(page, path)
    assert "quillfeather-comet.txt" in report and "added" in report
    assert list(uploads.rglob(path.name)) == []  # the uploaded copy is deleted once ingested
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "What did the Quillfeather Observatory name the comet?", 0)
    assert "Marigold" in answer.locator(".nq-answer").inner_text()
    assert answer.locator("a.nq-cite").count() >= 1
    assert "Quillfeather Observatory names comet" in answer.locator(".nq-sources").inner_text()


def test_hostile_article_text_never_runs(page, tmp_path):
    path = tmp_path / "hostile.txt"
    path.write_text(
        'Title: <img src=x onerror="window.__pwned=1">\nSource: Evil Times\n'
        "Published: 2024-11-21\nURL: javascript:window.__pwned=3\n\n"
        "<script>window.__pwned=2</script> The Zephyrine council approved the harbor "
        "toll plan on Tuesday.\n"
    )
    report = ingest_file(page, path)
    assert "added" in report
    page.get_by_role("tab", name="Ask").click()
    answer = ask(page, "What did the Zephyrine council approve for the harbor?", 0)
    sources = answer.locator(".nq-sources")
    assert '<img src=x onerror="window.__pwned=1">' in sources.inner_text()  # shown as text
    assert re.search(r"<script>window.__pwned=2</script>", sources.inner_text())
    assert sources.locator("img, script, a[href^=javascript]").count() == 0
    assert page.evaluate("window.__pwned") is None


# --- the hostile corpus (tests/data/hostile) ----------------------------------------------------
HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
# Every attribute that would run script or follow a script URL, and every script with a payload
# (but Gradio's own config, which carries the article table as JSON with "<" as \u003c).
LIVE_JS = r"""() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
    .filter(a => a.name.startsWith('on') || (/^(href|src|action|formaction|srcdoc|xlink:href)$/
                 .test(a.name) && /^\s*(javascript|vbscript):/i.test(a.value)))
    .map(a => `${e.tagName.toLowerCase()}[${a.name}=${a.value}]`))
  .concat([...document.scripts].filter(s => /pwned|alert\(/.test(s.textContent)
                                      && !s.textContent.startsWith('window.gradio_config ='))
    .map(s => 'script: ' + s.textContent.slice(0, 80)))
  .concat([...document.querySelectorAll('img[src="x"], iframe, object, embed')]
    .map(e => e.outerHTML.slice(0, 80)))"""


@pytest.fixture
def hostile_page(browser, fake_qa):
    report = fake_qa.ingest([str(HOSTILE)], progress=False)
    assert len(report.added) == 3 and not report.failed
    port = free_port()
    demo = ui.launch(fake_qa, port=port, prevent_thread_lock=True, quiet=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    outside = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith((f"http://127.0.0.1:{port}", "data:", "blob:"))
            else None
        ),
    )
    page.goto(f"http://127.0.0.1:{port}/")
    yield page
    context.close()
    demo.close()
    assert dialogs == [], f"a payload opened a dialog: {dialogs}"
    assert not outside, f"the page made requests beyond the app: {outside}"


def test_hostile_articles_show_as_text_everywhere_and_nothing_runs(hostile_page):
    page = hostile_page
    answer = ask(page, "What harbor toll did the Zephyrine council approve?", 0)
    assert "$4 per vehicle" in answer.locator(".nq-answer").inner_text()
    sources = answer.locator(".nq-sources").inner_text()
    assert 'approves harbor toll <img src=x onerror="window.__pwned=1">' in sources
    assert 'Evil Times <svg onload="window.__pwned=4">' in sources

    # The answer itself quotes a sentence holding a markdown javascript: link and an <a> tag.
    answer = ask(page, "Where can residents read the Quarry Lake inspection report?", 1)
    text = answer.locator(".nq-answer").inner_text()
    assert '[here](javascript:window.__pwned=7) or <a href="javascript:window.__pwned=8">' in text
    assert (
        "reopens after repairs [details](javascript:window.__pwned=9) "
        "<script>window.__pwned=6</script>"
    ) in answer.locator(".nq-sources").inner_text()
    # Passages show the articles as written; the answers never repeat the injections.
    assert not [
        t
        for t in page.locator("#chat .nq-answer").all_inner_texts()
        if re.search(r"PWNED|cheese", t)
    ]

    # The outlet dropdown lists the hostile outlets as text, and filters by them. A new
    # conversation: the fake rewrites a follow-up with the last question's words, which would
    # take "What did the council approve?" off the toll article's topic.
    page.reload()
    page.locator("#question textarea").wait_for()
    page.get_by_label("Outlets").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    names = [t.strip().lstrip("✓").strip() for t in options.all_inner_texts()]
    assert 'Evil Times <svg onload="window.__pwned=4">' in names
    assert "Quarry Lake Post <img src=x onerror=alert(2)>" in names
    options.filter(has_text="Evil Times").click()
    page.keyboard.press("Escape")
    answer = ask(page, "What did the council approve?", 0)
    assert "Zephyrine" in answer.locator(".nq-sources").inner_text()
    assert "Metro Wire" not in answer.locator(".nq-sources").inner_text()

    page.get_by_role("tab", name="Articles").click()
    table = page.locator("#articles")
    table.get_by_text("javascript:window.__pwned=3").wait_for()  # the URL, as text
    rows = table.inner_text()
    assert "Quarry Lake Post <img src=x onerror=alert(2)>" in rows
    assert "[details](javascript:window.__pwned=9) <script>window.__pwned=6</script>" in rows

    assert page.evaluate(LIVE_JS) == []
    assert page.evaluate("typeof window.__pwned") == "undefined"


@contextmanager
def served_page(browser, qa: NewsQA):
    """A page of the UI served over `qa` on a port of its own; closed (with `qa`) after."""
    port = free_port()
    demo = ui.launch(qa, port=port, prevent_thread_lock=True, quiet=True)
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        yield page
    finally:
        page.close()
        demo.close()
        qa.close()


def test_a_watched_feed_is_added_listed_polled_and_removed(browser, tmp_path, uploads):
    from playwright.sync_api import expect

    from qa.settings import get_settings

    store = {"path": tmp_path / "store", "allow_private_urls": True}  # the feed is on 127.0.0.1
    settings = get_settings({"store": store, "cache_dir": tmp_path / "models"})
    qa = NewsQA(
        settings, embeddings=FakeEmbeddings(), chat_model=FakeChatModel(replies=[], calls=[])
    )
    article = "<html><body><article><p>{}</p></article></body></html>"
    with LocalServer() as server:
        server.routes["/a"] = (
            200,
            {"Content-Type": "text/html"},
            article.format(
                "The Harbor Transit board raised the adult ferry fare to $4.50 from July."
            ),
        )
        server.routes["/feed"] = (200, {"Content-Type": "application/rss+xml", "ETag": '"1"'}, (
            "<rss version='2.0'><channel><title>Harbor Wire</title><item><title>Ferry fares "
            f"rise</title><link>{server.url('/a')}</link></item></channel></rss>"))  # fmt: skip
        with served_page(browser, qa) as page:
            page.get_by_role("tab", name="Articles").click()
            page.get_by_text("Watched feeds").click()
            page.locator("#feed-url textarea, #feed-url input").first.fill(server.url("/feed"))
            page.get_by_role("button", name="Watch", exact=True).click()
            page.locator("#feed-status").get_by_text("1 articles added").wait_for()
            listed = page.locator("#feeds").inner_text()
            assert server.url("/feed") in listed and "1 new, 0 updated" in listed
            expect(page.locator("#articles")).to_contain_text("Ferry fares rise", timeout=TIMEOUT)
            page.locator("#feed-url textarea, #feed-url input").first.fill(server.url("/feed"))
            page.get_by_role("button", name="Stop watching").click()
            page.locator("#feed-status").get_by_text("No longer watching").wait_for()
            assert server.url("/feed") not in page.locator("#feeds").inner_text()
            assert qa.watchlist.feeds() == []
            assert "Ferry fares rise" in page.locator("#articles").inner_text()  # it stays


def test_a_syndicated_story_shows_once_and_names_the_other_outlet(browser, tmp_path, uploads):
    from qa.settings import get_settings

    settings = get_settings({"store": {"path": tmp_path / "store"}, "cache_dir": tmp_path})
    qa = NewsQA(
        settings, embeddings=FakeEmbeddings(), chat_model=FakeChatModel(replies=[], calls=[])
    )
    assert not qa.ingest(
        [str(Path(__file__).parent / "data" / "syndicated")], progress=False
    ).failed
    with served_page(browser, qa) as page:
        answer = ask(page, "When will the Carrick Point lighthouse cottage open as a museum?", 0)
        cards = answer.locator(".nq-sources").inner_text()
        assert cards.count("Carrick Point") >= 1
        also = {t for t in answer.locator(".nq-also").all_text_contents() if t}
        assert len(also) == 1
        (also,) = also
        assert re.match(r"also reported by: (Coast Herald|Bay Ledger) \(2025-04-0[23]\)", also)
        # the other copy is named, not shown: one wire card among the sources
        heads = answer.locator(".nq-source .nq-head").all_text_contents()
        titles = {re.sub(r"^\[\d+\]", "", t) for t in heads if t}  # a cited card has its [n]
        copies = {"Carrick Point cottage to open as maritime museum in June",
                  "Lighthouse keeper's cottage becomes a museum"}  # fmt: skip
        assert len(titles & copies) == 1, titles


def test_a_timeline_and_a_disagreement_are_told_across_articles(browser, tmp_path, uploads):
    from qa.settings import get_settings

    settings = get_settings(
        {
            "store": {"path": tmp_path / "store"},
            "cache_dir": tmp_path,
            "retrieval": {"min_score": 0.05},  # the fake embeddings' similarities are low
        }
    )
    qa = NewsQA(
        settings, embeddings=FakeEmbeddings(), chat_model=FakeChatModel(replies=[], calls=[])
    )
    assert not qa.ingest([str(Path(__file__).parent / "data" / "developing")]).failed
    with served_page(browser, qa) as page:
        answer = ask(page, "How did the Alder Street footbridge story develop?", 0)
        shown = answer.locator(".nq-answer")
        assert shown.locator(".nq-kind").inner_text().lower().startswith("timeline")
        lines = [x for x in shown.inner_text().splitlines() if x[:4] == "2025"]
        assert len(lines) >= 2 and [x[:10] for x in lines] == sorted(x[:10] for x in lines)
        # each line's [n] leads to a card of its own article, dated as the line is
        cards = answer.locator(".nq-sources .nq-source")
        assert cards.count() >= 2
        first = shown.locator("a.nq-cite").first
        first.click()
        target = first.get_attribute("href").lstrip("#")
        assert lines[0][:10] in page.locator(f"[id='{target}']").inner_text()

        answer = ask(page, "What do the outlets say about the footbridge collapse?", 1)
        text = answer.locator(".nq-answer").inner_text()
        assert "The articles differ here" in text and "14 people" in text and "9 people" in text
        outlets = answer.locator(".nq-sources").inner_text()
        assert "Valley Post" in outlets and "Lakeshore Herald" in outlets
