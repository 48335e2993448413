"""The answer-first reader: the short answer is checked for relevance, kind, support and topic."""

from __future__ import annotations

import pytest
from helpers import SAMPLES, TESLA_ID, passage

from qa import reader
from qa.context import focus, pool
from qa.prompts import CANNOT_ANSWER, format_sources
from qa.reader import expected_kind, fits_kind, parse_line, read

LANXIN = passage(
    1,
    "l",
    title="Lanxin cuts EV prices as China price war deepens",
    source="Metro Wire",
    published="2024-05-06",
    text="Hangzhou-based electric vehicle maker Lanxin Auto cut the prices of its Aster and "
    "Corvid sedans by up to 12 percent on Monday. Rival Corvane followed with cuts of 5 percent.",
)
KESTREL = passage(
    2,
    "k",
    title="Kestrel Mobility wins Singapore permit",
    text="South Korean self-driving startup Kestrel Mobility has received a permit from "
    "Singapore's Land Transport Authority to test autonomous vehicles on public roads.",
)


def test_the_model_line_is_parsed_into_short_answer_and_marker():
    assert parse_line("Answer: up to 12 percent [1]") == ("up to 12 percent", [1])
    assert parse_line("answer - “Land Transport Authority” [2].\nBecause ...") == (
        "Land Transport Authority",
        [2],
    )
    assert parse_line("The Land Transport Authority. It said so [2].") == (
        "The Land Transport Authority",
        [2],
    )


def test_a_supported_short_answer_gets_the_passage_sentence_that_states_it():
    got = read(
        "By how much did Lanxin cut its sedan prices?", "Answer: 12 percent [1]", [LANXIN], None
    )
    assert not got.refused and got.reason is None and got.short_answer == "12 percent"
    assert got.text.startswith("Hangzhou-based") and got.text.endswith("[1]")
    assert got.citations[0].quote in LANXIN.text and got.citations[0].article_id == "l"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Answer: none", reader.MODEL_REFUSED),
        ("I can't answer that from these articles.", reader.MODEL_REFUSED),
        ("Answer: 7 percent [1]", reader.UNSUPPORTED),  # no passage says 7 percent
    ],
)
def test_refusals_say_why(reply, reason):
    got = read("By how much did Lanxin cut its prices?", reply, [LANXIN, KESTREL], None)
    assert got.refused and got.reason == reason and not got.citations


def test_nothing_retrieved_is_its_own_reason():
    got = read("Who won?", "Answer: Ortiz", [], None)
    assert got.refused and got.reason == reader.NOTHING_RETRIEVED


def test_an_answer_of_the_wrong_kind_is_suspect():
    assert expected_kind("How many cyclists were injured?") == "number"
    assert expected_kind("Who was named most valuable player?") == "person"
    assert expected_kind("Which country's leader resigned this week?") == "name"
    assert expected_kind("When will the library reopen?") == "date"
    assert expected_kind("What did Tesla agree with Baidu?") is None
    assert fits_kind("five", "number") and not fits_kind("several", "number")
    assert fits_kind("Jalen Ortiz", "person") and not fits_kind("the guard", "person")
    assert fits_kind("Saturday, October 26", "date") and not fits_kind("soon", "date")
    got = read(
        "How many sedans did Lanxin reprice?", "Answer: Aster and Corvid [1]", [LANXIN], None
    )
    assert got.refused and got.reason == reader.WRONG_TYPE and got.kind == "number"


def test_an_answer_from_a_passage_about_another_story_is_off_topic():
    # Kestrel's permit passage names an authority, but the question is about something else.
    question = "Which authority approved the new Northfield ferry timetable this week?"
    got = read(question, "Answer: Land Transport Authority [2]", [LANXIN, KESTREL], None)
    assert got.refused and got.reason == reader.OFF_TOPIC


def test_the_choices_appended_to_a_question_do_not_count_as_restating_it():
    question = "Which authority gave Kestrel a permit? Choices: Land Transport Authority, Police"
    got = read(question, "Answer: Land Transport Authority [2]", [LANXIN, KESTREL], None)
    assert not got.refused and got.citations[0].article_id == "k"


def test_a_headline_supports_an_answer_no_sentence_states():
    source = KESTREL.model_copy(update={"title": "Kestrel Mobility, a Busan startup, wins permit"})
    got = read("Which city is Kestrel Mobility from?", "Answer: Busan [2]", [source], None)
    assert not got.refused and got.citations[0].quote == source.title


def test_a_restated_short_answer_falls_back_to_the_sentence_that_names_it(fake_qa, fake_chat):
    fake_chat.replies = ["Answer: Baidu [1]"]  # the real 1.5B's reply to this question
    answer = fake_qa.ask("What did Tesla agree with Baidu?")
    assert not answer.refused and answer.short_answer is None
    assert "mapping license" in answer.text and answer.citations[0].article_id == TESLA_ID
    # ... but not when the best such sentence adds nothing to the question either
    got = read(
        "Lanxin cut prices?",
        "Answer: Lanxin [1]",
        [LANXIN.model_copy(update={"text": "Lanxin cut prices."})],
        None,
    )
    assert got.refused and got.reason == reader.RESTATES_QUESTION


def test_an_unsupported_answer_is_retried_once_when_asked_to(fake_qa, fake_chat):
    fake_qa.settings.retrieval.widen = False  # the follow-up turn alone
    fake_qa.settings.llm.retry = True
    fake_chat.replies = ["Answer: a Moon factory [1]", "Answer: Baidu's mapping license [1]"]
    answer = fake_qa.ask("What did Tesla agree with Baidu?")
    assert not answer.refused and answer.short_answer == "Baidu's mapping license"
    assert answer.citations[0].article_id == TESLA_ID and "retry" in answer.timings
    assert answer.raw_text == "Answer: a Moon factory [1]\nAnswer: Baidu's mapping license [1]"
    assert 'No source says "a Moon factory"' in fake_chat.calls[-1]


def test_a_second_bad_answer_is_refused_with_its_reason(fake_qa, fake_chat):
    fake_qa.settings.retrieval.widen = False  # the follow-up turn alone
    fake_qa.settings.llm.retry = True
    fake_chat.replies = ["Answer: a Moon factory [1]", "Answer: a Mars base [1]"]
    answer = fake_qa.ask("What did Tesla agree with Baidu?")
    assert answer.refused and answer.refusal_reason == reader.UNSUPPORTED
    assert answer.short_answer is None and not answer.citations


def test_without_retry_the_first_reason_stands_and_the_model_is_asked_once(fake_qa, fake_chat):
    fake_qa.settings.retrieval.widen = False  # the follow-up turn alone
    fake_chat.replies = ["Answer: a Moon factory [1]", "Answer: Baidu's mapping license [1]"]
    answer = fake_qa.ask("What did Tesla agree with Baidu?")
    assert answer.refused and answer.refusal_reason == reader.UNSUPPORTED
    assert "retry" not in answer.timings and len(fake_chat.replies) == 1


def test_the_library_question_never_gets_the_bike_lane_vote(fake_qa, fake_chat):
    question = "What did the Northfield council decide about the library?"
    for reply in ("Answer: approve protected bike lanes [1]", "Answer: voted 7-2 [1]"):
        fake_chat.replies = [reply, "Answer: none"]
        answer = fake_qa.ask(question)
        assert "bike" not in answer.text.lower() and "7-2" not in answer.text
        assert answer.refused or "library" in answer.text.lower()


def test_the_prompt_reads_focused_passages_but_citations_keep_the_whole_chunk(fake_qa, fake_chat):
    question = "How many on-street parking spaces does the Mill Street plan remove?"
    found = fake_qa._retrieve({"question": question, "filters": None})
    assert "64 on-street parking spaces" in found["sources_text"]
    assert len(found["sources_text"]) < sum(len(s.text) for s in found["sources"])
    fake_chat.replies = ["Answer: 64 [3]"]
    answer = fake_qa.ask(question)
    assert not answer.refused and answer.short_answer == "64"
    cited = next(s for s in answer.sources if s.n == answer.citations[0].n)
    assert len(cited.text) > 400 and answer.citations[0].quote in cited.text


def test_focus_keeps_the_best_sentences_with_their_neighbours_in_order():
    text = " ".join(f"Sentence {i} is filler about nothing." for i in range(10))
    text += " The toll is $4 per vehicle. It starts in March. More filler follows here."
    kept = focus("What is the toll per vehicle?", text, 120)
    assert "The toll is $4 per vehicle." in kept and "Sentence 9" in kept
    assert kept.index("Sentence 9") < kept.index("toll") < kept.index("March")
    assert len(kept) <= 130 and focus("anything", "Short.", 120) == "Short."


def test_the_pool_shows_the_sentences_most_like_the_question_within_its_budget(fake_embeddings):
    filler = " ".join(f"Filler sentence {i} tells of nothing much." for i in range(12))
    toll = passage(
        1,
        "t",
        title="Bridge toll set",
        text=f"{filler} The bridge toll is $4 per vehicle. {filler}",
    )
    other = passage(2, "o", title="Weather", text=filler)
    chosen = pool(
        "What is the bridge toll per vehicle?", [other, toll], 200, fake_embeddings.embed_documents
    )
    shown = {s.n: text for s, text in chosen}
    assert "The bridge toll is $4 per vehicle." in shown[1]
    assert len(shown[1]) < len(toll.text) and "Filler sentence 11" in shown[1]  # its neighbour
    # all that is shown, headings included, stays within the budget: no room for the filler
    assert sum(len(t) + len(s.label()) + 8 for s, t in chosen) <= 200 and 2 not in shown


def test_the_pool_can_show_each_chosen_sentence_without_its_neighbours(fake_embeddings):
    filler = " ".join(f"Filler sentence {i} tells of nothing much." for i in range(12))
    toll = passage(
        1, "t", title="Bridge toll set", text=f"{filler} The bridge toll is $4. {filler}"
    )
    question, embed = "What is the bridge toll?", fake_embeddings.embed_documents
    # 60 characters: the heading and the toll sentence (the first choice is always shown whole)
    alone = dict((s.n, t) for s, t in pool(question, [toll], 60, embed, neighbours=0))
    assert alone == {1: "The bridge toll is $4."}
    around = dict((s.n, t) for s, t in pool(question, [toll], 60, embed, neighbours=1))
    assert around == {
        1: "Filler sentence 11 tells of nothing much. The bridge toll is $4. "
        "Filler sentence 0 tells of nothing much."
    }


def test_with_headings_once_an_article_is_headed_by_its_first_passage_alone(fake_embeddings):
    first = passage(1, "a", title="Bridge toll set", source="Bay Ledger", text="The toll is $4.")
    again = passage(2, "a", title="Bridge toll set", source="Bay Ledger", text="It starts in May.")
    other = passage(3, "b", title="Tram depot delayed", text="The vote moves to June.")
    every = format_sources([first, again, other])
    assert every.count("Bridge toll set (Bay Ledger)") == 2
    once = format_sources([first, again, other], "once")
    assert once == (
        "[1] Bridge toll set (Bay Ledger)\nThe toll is $4.\n\n"
        "[2] (the same article as [1])\nIt starts in May.\n\n"
        "[3] Tram depot delayed\nThe vote moves to June."
    )
    # the pool counts the short heading against its budget: both passages of the article fit
    question, embed = "When does the bridge toll of $4 start?", fake_embeddings.embed_documents
    budget = len("Bridge toll set (Bay Ledger)") + len("(the same article as [1])") + 50
    assert len(pool(question, [first, again], budget, embed, headings="once")) == 2
    assert len(pool(question, [first, again], budget, embed, headings="every")) == 1


def test_with_the_pool_the_model_reads_the_chosen_passages_the_checks_have_all(
    settings, fake_embeddings, fake_chat
):
    from qa.chain import NewsQA
    from qa.settings import get_settings

    retrieval = {"context": "pool", "pool_chars": 600, "min_score": 0.05}
    qa = NewsQA(
        get_settings({**settings.model_dump(), "retrieval": retrieval}),
        embeddings=fake_embeddings,
        chat_model=fake_chat,
    )
    qa.ingest([str(SAMPLES)], progress=False)
    question = "How many on-street parking spaces does the Mill Street plan remove?"
    found = qa._retrieve({"question": question, "filters": None})
    shown = found["sources_text"]
    assert "64 on-street parking spaces" in shown and len(shown) <= 600
    sources = found["sources"]
    assert [s.n for s in sources] == [1, 2, 3, 4]  # all k, the ones shown first
    assert "[1] " in shown and "[4] " not in shown  # 600 characters hold fewer than four
    fake_chat.replies = ["Answer: 64 [1]"]
    answer = qa.ask(question)
    assert not answer.refused and answer.short_answer == "64"
    cited = next(s for s in answer.sources if s.n == answer.citations[0].n)
    assert "64 on-street parking spaces" in cited.text and answer.citations[0].quote in cited.text


def test_the_pool_settings_reach_the_prompt(settings, fake_embeddings, fake_chat):
    from qa.chain import NewsQA
    from qa.settings import get_settings

    question = "How many on-street parking spaces does the Mill Street plan remove?"
    prompts = {}
    for neighbours, headings in ((1, "every"), (0, "once")):
        retrieval = {
            "context": "pool",
            "pool_chars": 600,
            "min_score": 0.05,
            "pool_neighbours": neighbours,
            "headings": headings,
        }
        qa = NewsQA(
            get_settings({**settings.model_dump(), "retrieval": retrieval}),
            embeddings=fake_embeddings,
            chat_model=fake_chat,
        )
        qa.ingest([str(SAMPLES)], progress=False)
        found = qa._retrieve({"question": question, "filters": None})
        shown = found["sources"][: found["sources_text"].count("\n\n[") + 1]
        chosen = pool(question, shown, 600, qa._embed, headings, neighbours)
        expected = format_sources([s.model_copy(update={"text": t}) for s, t in chosen], headings)
        assert found["sources_text"] == expected
        prompts[neighbours] = found["sources_text"]
    assert prompts[0] != prompts[1] and "64 on-street parking spaces" in prompts[0]


def test_an_amount_is_supported_only_by_the_same_amount():
    clinic = LANXIN.model_copy(
        update={
            "text": "A ribbon-cutting ceremony will be held at 10 a.m. Cards cost 12 percent more."
        }
    )
    got = read("How much will a library card cost?", "Answer: $10 [1]", [clinic], None)
    assert got.refused and got.reason in (reader.UNSUPPORTED, reader.OFF_TOPIC)
    assert reader.candidate_sentences("$10", [clinic]) == []  # "10 a.m." does not state it
    assert not read(
        "By how much will library cards cost more?", "Answer: 12% [1]", [clinic], None
    ).refused
    assert not read("How much did Lanxin cut?", "Answer: 12 percent [1]", [LANXIN], None).refused


def test_a_count_is_stated_by_its_ordinal_but_not_by_another():
    rates = passage(
        1,
        "r",
        title="Bank of Norland raises rates again",
        text="The Bank of Norland raised its base rate for a seventh time in a row on Thursday.",
    )
    question = "How many times in a row has the Bank of Norland raised rates?"
    got = read(question, "Answer: 7 [1]", [rates], None)
    assert not got.refused and got.short_answer == "7" and "seventh" in got.text
    assert read(question, "Answer: 6 [1]", [rates], None).reason == reader.UNSUPPORTED


def test_an_acronym_comes_with_the_name_the_passage_spells_it_out_as():
    league = passage(
        1,
        "p",
        title="Star guard buys into pickleball",
        text="The guard is part of a group buying a team in Major League Pickleball (MLP), which "
        "grows from 12 to 16 teams next year.",
    )
    question = "The basketball star is buying a team in which league?"
    got = read(question, "Answer: MLP [1]", [league], None)
    assert not got.refused and got.short_answer == "Major League Pickleball (MLP)"
    assert reader.spelled_out("NBA", league.text) == "NBA"  # not spelled out there: kept as is


def test_a_pooled_read_without_an_answer_is_asked_again_over_the_passages(fake_qa, fake_chat):
    question = "How many on-street parking spaces does the Mill Street plan remove?"
    found = fake_qa._retrieve({"question": question, "filters": None})
    assert fake_qa.settings.retrieval.context == "pool" and fake_qa.settings.retrieval.widen
    fake_chat.replies = ["Answer: none", "Answer: 64 [1]"]
    parts = list(fake_qa.ask_stream(question))
    answer = parts[-1]
    assert not answer.refused and answer.short_answer == "64" and "widen" in answer.timings
    assert answer.raw_text == "Answer: none\nAnswer: 64 [1]"
    # the second prompt shows every passage, in the retriever's order, each cut to 400 characters
    wide = fake_chat.calls[-1]
    ranked = sorted(found["sources"], key=lambda s: found["ranks"][s.n - 1])
    assert [s.article_id for s in answer.sources] == [s.article_id for s in ranked]
    assert [s.n for s in answer.sources] == [1, 2, 3, 4]
    assert all(f"[{n}] " in wide for n in (1, 2, 3, 4)) and len(wide) > len(fake_chat.calls[0])
    cited = answer.sources[answer.citations[0].n - 1]
    assert "64 on-street parking spaces" in cited.text
    # the first reply's "none" is taken back, then the second's tokens are streamed as they come
    texts = [p.text for p in parts if not p.done]
    assert texts[texts.index("none") + 1] == "" and texts[-1] == "64"


@pytest.mark.parametrize(
    "change", [{"widen": False}, {"context": "passages"}], ids=["widen off", "passages context"]
)
def test_no_second_look_without_widen_or_when_the_model_already_read_the_passages(
    fake_qa, fake_chat, change
):
    for key, value in change.items():
        setattr(fake_qa.settings.retrieval, key, value)
    fake_chat.replies = ["Answer: none", "Answer: 64 [1]"]
    answer = fake_qa.ask("How many on-street parking spaces does the Mill Street plan remove?")
    assert answer.refused and answer.refusal_reason == reader.MODEL_REFUSED
    assert "widen" not in answer.timings and len(fake_chat.calls) == 1


def test_a_wider_second_look_is_checked_like_the_first(fake_qa, fake_chat):
    fake_qa.settings.llm.ask_off_topic = True  # else the model is not asked (the test below)
    question = "What did the Northfield council decide about the library?"
    fake_chat.replies = ["Answer: none", "Answer: approve protected bike lanes [1]"]
    answer = fake_qa.ask(question)
    assert answer.refused and answer.refusal_reason == reader.OFF_TOPIC
    assert "bike" not in answer.text.lower() and len(fake_chat.calls) == 2


def test_the_model_is_not_asked_when_no_passage_is_about_the_question(fake_qa, fake_chat):
    question = "What did the Northfield council decide about the library?"
    found = fake_qa._retrieve({"question": question})
    idf = fake_qa.retriever.idf  # the keyword index's, as the reader weighs the question's words
    assert found["sources"] and not reader.on_topic(question, found["sources"], idf)
    fake_chat.replies = ["Answer: approve protected bike lanes [1]"] * 2
    parts = list(fake_qa.ask_stream(question))
    answer = parts[-1]
    assert answer.refused and answer.refusal_reason == reader.OFF_TOPIC
    assert answer.text == CANNOT_ANSWER and answer.raw_text == CANNOT_ANSWER
    assert fake_chat.calls == [] and "widen" not in answer.timings
    # the refusal is streamed at once, as when nothing is retrieved
    streamed = [p.text for p in parts if not p.done]
    assert len(streamed) == 1 and CANNOT_ANSWER.startswith(streamed[0]) and streamed[0]
    # A question some passage is about is read by the model, as before.
    fake_chat.replies = ["Answer: 64 [1]"]
    parking = "How many on-street parking spaces does the Mill Street plan remove?"
    assert fake_qa.ask(parking).short_answer == "64" and len(fake_chat.calls) == 1


def test_asked_anyway_an_off_topic_reply_is_refused_all_the_same(fake_qa, fake_chat):
    fake_qa.settings.llm.ask_off_topic = True
    fake_chat.replies = ["Answer: approve protected bike lanes [1]", "Answer: none"]
    answer = fake_qa.ask("What did the Northfield council decide about the library?")
    assert answer.refused and answer.refusal_reason == reader.OFF_TOPIC
    assert answer.raw_text.startswith("Answer: approve") and len(fake_chat.calls) == 2


def test_a_paragraph_the_model_would_write_about_nothing_is_not_asked_for(fake_qa, fake_chat):
    fake_qa.settings.llm.paragraph = "model"
    fake_chat.replies = ["The council approved protected bike lanes [1]."]
    question = "Summarize the news about the penguins of the Northfield zoo."
    answer = fake_qa.ask(question, kind="summary")
    assert answer.sources and answer.refused and answer.refusal_reason == reader.OFF_TOPIC
    assert fake_chat.calls == []
    fake_qa.settings.llm.ask_off_topic = True  # asked anyway: the same refusal, one call later
    answer = fake_qa.ask(question, kind="summary")
    assert answer.refused and answer.refusal_reason == reader.OFF_TOPIC
    assert len(fake_chat.calls) == 1
