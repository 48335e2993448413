from helpers import passage

from qa.cite import split_answer, verify
from qa.prompts import CANNOT_ANSWER

BAIDU = (
    "Tesla has agreed with Baidu to use the Chinese search company's mapping license to "
    "collect data on China's public roads."
)
LI = "Li Qiang praised Tesla's development in China as an example of cooperation."
RAIN = "The storm dropped 142 mm of rain on Harbor City in one day."


def _sources():
    return [
        passage(
            1,
            "a",
            title="Tesla and Baidu",
            source="Metro Wire",
            published="2024-04-29",
            text=f"Musk visited Beijing. {BAIDU} {LI}",
        ),
        passage(
            2,
            "b",
            title="Storm",
            source="Harbor Ledger",
            published="2024-09-14",
            text=f"{RAIN} Streets flooded.",
        ),
    ]


def test_supported_sentence_keeps_its_marker_and_quotes_the_passage():
    text, citations, refused = verify(
        "Tesla agreed with Baidu to use its mapping license on China's public roads [1].",
        _sources(),
        embed=None,
    )
    assert not refused
    assert text.endswith("[1]") and [c.n for c in citations] == [1]
    assert BAIDU in citations[0].quote and citations[0].article_id == "a"
    assert citations[0].published == "2024-04-29"


def test_marker_pointing_at_nothing_is_replaced_by_the_supporting_source():
    text, citations, _ = verify("The storm dropped 142 mm of rain [7].", _sources(), embed=None)
    assert "[7]" not in text and text.endswith("[2]")
    assert [c.n for c in citations] == [2] and citations[0].quote.startswith(RAIN)


def test_wrong_marker_is_corrected():
    text, citations, _ = verify(
        "The storm dropped 142 mm of rain on Harbor City [1].", _sources(), embed=None
    )
    assert text.endswith("[2]") and [c.n for c in citations] == [2]


def test_unsupported_claim_is_dropped_and_supported_one_kept():
    text, citations, refused = verify(
        f"{BAIDU} [1] The agreement is expected to be finalized in Paris next spring [1].",
        _sources(),
        embed=None,
    )
    assert not refused and "Paris" not in text and [c.n for c in citations] == [1]


def test_a_number_no_source_states_is_not_supported():
    text, citations, refused = verify(
        "The storm dropped 300 mm of rain on Harbor City [2].", _sources(), embed=None
    )
    assert refused and citations == [] and text == CANNOT_ANSWER


def test_refusals_cite_nothing():
    for reply in [
        "I can't answer that from these articles.",
        "The sources do not mention the price of FSD in China.",
        "",
    ]:
        text, citations, refused = verify(reply, _sources(), embed=None)
        assert refused and citations == [] and text == CANNOT_ANSWER


def test_markers_split_off_as_their_own_sentence_stay_with_the_claim():
    parts = split_answer("The storm dropped 142 mm of rain. [2] Streets flooded. [2, 1]")
    assert parts == [("The storm dropped 142 mm of rain.", [2]), ("Streets flooded.", [2, 1])]


def test_with_embeddings_a_paraphrase_is_supported(fake_embeddings):
    _, citations, refused = verify(
        "Li Qiang praised Tesla's development in China [1].",
        _sources(),
        embed=fake_embeddings.embed_documents,
    )
    assert not refused and citations[0].quote.startswith("Li Qiang praised")
