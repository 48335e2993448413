"""Evaluation metrics on hand-made cases whose right scores are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.eval.metrics import (
    SupportJudge,
    answer_verdict,
    citation_scores,
    contains_answer,
    hit_at,
    normalize,
    percentile,
    ranked_articles,
    reciprocal_rank,
    token_f1,
)

LABELS = Path(__file__).parent / "data" / "entailment_labels.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The 76 models", "76 models"),
        ("seventy-six models", "76 models"),
        ("Seventy six", "76"),
        ("two hundred five", "205"),
        ("“Baidu’s” license!", "baidu s license"),
        ("12,400 acres", "12400 acres"),
        ("rate of 1.5%", "rate of 1.5 percent"),
        ("won 7-2 [1]", "won 7 2"),
        ("seven to two", "7 to 2"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_contains_answer_whole_words_only():
    assert contains_answer("Tesla's Model 3 was among seventy-six models [1].", ["76"])
    assert contains_answer("It uses Baidu’s mapping license.", ["Baidu's mapping license"])
    assert not contains_answer("It was 760 models.", ["76"])
    assert not contains_answer("Anything", [])


def test_token_f1_is_the_best_over_gold_answers():
    assert token_f1("Shanghai", ["at facilities in Shanghai", "Shanghai"]) == 1.0
    # "at facilities in shanghai" vs "facilities in shanghai": p=3/3, r=3/4 -> 6/7
    assert token_f1("facilities in Shanghai", ["at facilities in Shanghai"]) == pytest.approx(6 / 7)
    assert token_f1("Beijing", ["Shanghai"]) == 0.0


def test_wrong_answer_scores_minus_one():
    v = answer_verdict("Tesla stores its data in Beijing [1].", False, ["Shanghai"], True)
    assert v == {"correct": False, "equivalent": False, "f1": 0.0, "truthfulness": -1}


def test_correct_answer_scores_plus_one():
    v = answer_verdict("Since 2021 in Shanghai [2].", False, ["Shanghai"], True)
    assert v["correct"] and v["truthfulness"] == 1


def test_correct_refusal_on_an_unanswerable_question():
    v = answer_verdict("I can't answer that from these articles.", True, [], False)
    assert v == {"correct": None, "f1": None, "truthfulness": 1}


def test_answering_an_unanswerable_question_is_wrong():
    assert answer_verdict("It costs $8,000 [1].", False, [], False)["truthfulness"] == -1


def test_false_refusal_scores_zero():
    v = answer_verdict("I can't answer that from these articles.", True, ["Shanghai"], True)
    assert v == {"correct": False, "equivalent": False, "f1": 0.0, "truthfulness": 0}


def test_an_answer_naming_several_shown_choices_is_not_right():
    choices = ["Sudan", "Kenya", "Angola", "Libya"]
    assert not answer_verdict("Sudan or Kenya [1].", False, ["Sudan"], True, choices)["correct"]
    assert answer_verdict("Sudan [1].", False, ["Sudan"], True, choices)["correct"]


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("China and Russia", "Russia and China"),
        ("Chocolate, Chip", "Chocolate and Chip"),
        ("$12,600,000", "$12.6 million"),
        ("JP Morgan Chase", "JPMorgan Chase"),
        ("tornadoes", "Tornado"),
        ("JFK", "John F. Kennedy"),
        ("UK", "United Kingdom"),
        ("Double Asteroid Redirection Test", "DART"),
        ("Volodymyr Zelensky", "Ukrainian President Volodymyr Zelensky"),
    ],
)
def test_a_gold_answer_in_another_form_counts_as_equivalent_but_not_as_correct(answer, gold):
    v = answer_verdict(f"{answer} [1]", False, [gold], True, short=answer)
    assert v["equivalent"] and not v["correct"] and v["truthfulness"] == -1


@pytest.mark.parametrize(
    "answer, gold",
    [
        ("fusion", "Nuclear fusion"),  # a part of it
        ("New York", "New York City"),
        ("Blinken", "Secretary of State Antony Blinken"),  # one word of a titled name
        ("Lionel Messi", "Leo Messi"),  # another name
        ("$16.2 trillion", "$16 trillion"),
        ("50%", "60%"),
        ("Chocolate", "Chocolate and Chip"),
        ("Egypt", "Qatar"),
    ],
)
def test_a_part_or_another_name_is_not_equivalent(answer, gold):
    assert not answer_verdict(f"{answer} [1]", False, [gold], True, short=answer)["equivalent"]
    assert not answer_verdict("", True, [gold], True)["equivalent"]  # a refusal never is


def test_truthfulness_arithmetic():
    verdicts = [
        answer_verdict("Shanghai [1]", False, ["Shanghai"], True),  # +1 right
        answer_verdict("Beijing [1]", False, ["Shanghai"], True),  # -1 wrong
        answer_verdict("", True, ["Shanghai"], True),  #  0 false refusal
        answer_verdict("", True, [], False),  # +1 right refusal
        answer_verdict("$8,000 [1]", False, [], False),  # -1 made up
    ]
    scores = [v["truthfulness"] for v in verdicts]
    assert scores == [1, -1, 0, 1, -1]
    assert sum(scores) / len(scores) == 0.0


def test_mrr_with_the_evidence_at_rank_three():
    ranked = ranked_articles(["a", "a", "b", "c", "b", "d"])  # chunks -> distinct articles
    assert ranked == ["a", "b", "c", "d"]
    assert reciprocal_rank(ranked, ["c"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, ["z"]) == 0.0
    assert reciprocal_rank(ranked, ["d"], k=3) == 0.0
    assert not hit_at(ranked, ["c"], 2) and hit_at(ranked, ["c"], 3)


def test_percentiles():
    values = [float(x) for x in range(1, 11)]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile([], 50) is None


def _exact(premise: str, claim: str) -> bool:
    """A judge for the ALCE arithmetic: the premise supports a claim it contains."""
    return claim.rstrip(".") in premise


PASSAGES = {
    1: "Tesla stores data in Shanghai.",
    2: "Musk met Li Qiang.",
    3: "Tesla stores data in Shanghai. Musk met Li Qiang.",
}


def test_alce_scores_a_fully_supported_answer():
    s = citation_scores(
        "Tesla stores data in Shanghai [1]. Musk met Li Qiang [2].", PASSAGES, _exact
    )
    assert s["citation_recall"] == 1.0 and s["citation_precision"] == 1.0


def test_alce_hallucinated_citation_supports_nothing():
    s = citation_scores("Tesla stores data in Shanghai [7].", PASSAGES, _exact)
    assert s == {"citation_recall": 0.0, "citation_precision": 0.0, "sentences": 1, "citations": 1}


def test_alce_irrelevant_extra_citation_lowers_precision_only():
    # [2] neither supports the sentence alone nor is needed beside [1]: 1 of 2 citations precise
    s = citation_scores("Tesla stores data in Shanghai [1][2].", PASSAGES, _exact)
    assert s["citation_recall"] == 1.0 and s["citation_precision"] == 0.5


def test_alce_uncited_and_wrongly_cited_sentences_lower_recall():
    s = citation_scores("Tesla stores data in Shanghai. Musk met Li Qiang [1].", PASSAGES, _exact)
    assert s["citation_recall"] == 0.0 and s["citation_precision"] == 0.0
    s = citation_scores(
        "Tesla stores data in Shanghai [3]. Musk met Li Qiang [1].", PASSAGES, _exact
    )
    assert s["citation_recall"] == 0.5 and s["citation_precision"] == 0.5


def test_support_judge_catches_wrong_numbers_names_and_negation():
    premise = (
        "Tesla clears China data hurdle\nTesla has agreed with Baidu to use the Chinese "
        "search company's mapping license. Its Model 3 was among 76 models that passed."
    )
    judge = SupportJudge(None)  # word coverage only: no embedding model in unit tests
    assert judge(premise, "Tesla agreed to use Baidu's mapping license [1].")
    assert judge(premise, "The Model 3 was among seventy-six models that passed.")
    assert not judge(premise, "The Model 3 was among 67 models that passed.")
    assert not judge(premise, "Tesla agreed to use Alibaba's mapping license.")
    assert not judge(premise, "Tesla has agreed with Baidu not to use its mapping license.")


def test_hand_labels_are_well_formed():
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 40
    assert {r["split"] for r in rows} == {"dev", "heldout"}
    assert all(isinstance(r["supported"], bool) and r["claim"] and r["passage"] for r in rows)
    assert 0.35 < sum(r["supported"] for r in rows) / len(rows) < 0.65


def test_a_short_answer_is_judged_with_its_sentence():
    from qa.eval.metrics import answer_verdict

    gold = ["Secretary of State Antony Blinken"]
    sentence = "Secretary of State Antony Blinken arrived in Kyiv on Sunday. [1]"
    assert answer_verdict(sentence, False, gold, True, short="Blinken")["correct"]
    # part of the gold, but the sentence does not state the gold: not enough
    assert not answer_verdict("Blinken visited. [1]", False, gold, True, short="Blinken")["correct"]
    # a wrong short answer is wrong even when its sentence also names the right one
    text = "Chick-fil-A was slowest; McDonald's came second. [1]"
    assert not answer_verdict(text, False, ["Chick-fil-A"], True, short="McDonald's")["correct"]
    assert answer_verdict(text, False, ["Chick-fil-A"], True, short="Chick-fil-A")["correct"]
    assert answer_verdict("May 11 [1]", False, ["May"], True, short="May 11")["correct"]
