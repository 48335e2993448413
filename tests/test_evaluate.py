"""`newsqa eval` end to end over the sample corpus and its gold set, with the fake models."""

from __future__ import annotations

import argparse
import json
from collections import Counter

import pytest
from helpers import SAMPLE_QA, SAMPLES, FakeChatModel, FakeEmbeddings

from qa.errors import InvalidSettings
from qa.eval.gold import Gold, load_gold, sample_questions, select_articles
from qa.eval.options import CONFIGS, add_eval_arguments
from qa.eval.run import config_settings, run_eval
from qa.prompts import CANNOT_ANSWER
from qa.reader import REASONS
from vectorstore.ingest.load import load_sources

RESULT_KEYS = {
    "id",
    "type",
    "question",
    "gold",
    "answerable",
    "evidence",
    "choices_shown",
    "answer",
    "short_answer",
    "refused",
    "refusal_reason",
    "kind",
    "gold_kind",
    "raw_text",
    "citations",
    "sources",
    "retrieved",
    "timings",
    "verdict",
}
SUMMARY_KEYS = {
    "questions",
    "second_looks",
    "second_looks_answered",
    "answerable",
    "unanswerable",
    "answer_accuracy",
    "text_accuracy",
    "equivalent_accuracy",
    "token_f1",
    "refusal_accuracy",
    "false_refusal_rate",
    "truthfulness",
    "retrieval_hit_at_5",
    "retrieval_hit_at_10",
    "retrieval_mrr_at_10",
    "citation_precision",
    "citation_recall",
    "across_questions",
    "coverage",
    "kind_accuracy",
    "across_refusal_rate",
    "across_articles_cited",
    "latency_p50_s",
    "latency_p95_s",
    "by_type",
    "run",
    "refusal_reasons",
}


def _args(tmp_path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store")
    add_eval_arguments(parser)
    return parser.parse_args(
        [
            "--articles",
            str(SAMPLES),
            "--gold",
            str(SAMPLE_QA),
            "--out",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def _run(tmp_path, settings, *extra: str) -> int:
    return run_eval(
        _args(tmp_path, *extra),
        settings,
        embeddings=FakeEmbeddings(),
        chat_model=FakeChatModel(replies=[], calls=[]),
    )


def _rows(path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """One eval of all 25 sample questions (21 answerable, 4 not) with the fakes.

    The classic reader, whose scores follow from the fake's quoted sentence alone; the
    answer-first reader's are checked in test_the_answer_first_reader_records_short_answers.
    """
    from qa.settings import get_settings

    tmp = tmp_path_factory.mktemp("eval")
    settings = get_settings(
        {
            "cache_dir": tmp / "models",
            "retrieval": {"min_score": 0.05},
            "llm": {"reader": "classic"},
        }
    )
    assert _run(tmp, settings) == 0
    out = tmp / "out"
    return out, _rows(out / "results.jsonl"), json.loads((out / "summary.json").read_text())


def test_writes_results_summary_and_report(sample_run):
    out, rows, summary = sample_run
    assert len(rows) == 25 and all(set(r) == RESULT_KEYS for r in rows.values())
    assert set(summary) >= SUMMARY_KEYS
    assert (summary["questions"], summary["answerable"], summary["unanswerable"]) == (25, 21, 4)
    assert set(summary["by_type"]) == {"short_answer", "unanswerable"}
    assert summary["by_type"]["unanswerable"]["questions"] == 4
    assert not (out / "results.jsonl.part").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2 and "Worst failures" in html
    assert "<script" not in html and "<link" not in html  # self-contained: nothing fetched


def test_scores_follow_from_the_fake_model(sample_run):
    _, rows, summary = sample_run
    # The fake quotes the source sentence sharing most words with the question: it refuses only
    # when no sentence shares two words (the Tour de France), and quotes a near-miss for the
    # other unanswerable questions, which verify() keeps because the quote is in a source.
    assert rows["sample_q25"]["refused"] and rows["sample_q25"]["verdict"]["truthfulness"] == 1
    for qid in ("sample_q22", "sample_q23", "sample_q24"):
        assert not rows[qid]["refused"] and rows[qid]["verdict"]["truthfulness"] == -1
    assert summary["refusal_accuracy"] == 0.25
    assert summary["false_refusal_rate"] == 0.0
    q01 = rows["sample_q01"]
    assert q01["verdict"]["correct"] and q01["citations"][0]["article_id"] == "ue2a2680cd103aada"
    assert q01["retrieved"][0] == "ue2a2680cd103aada" and q01["sources"][0]["evidence"]
    correct = sum(bool(r["verdict"]["correct"]) for r in rows.values())
    assert summary["answer_accuracy"] == round(correct / 21, 4) == round(17 / 21, 4)
    assert summary["truthfulness"] == round((correct - (21 - correct) + 1 - 3) / 25, 4)
    # the gold set asks about every article near the top: the fake embedding finds them all
    assert summary["retrieval_hit_at_5"] == 1.0 and summary["retrieval_mrr_at_10"] == 1.0
    # verbatim quotes entail themselves: every citation is needed and every sentence supported
    assert summary["citation_recall"] == 1.0 and summary["citation_precision"] == 1.0
    assert summary["answers_with_claims"] == 24 and summary["errors"] == 0
    assert 0 < summary["latency_p50_s"] <= summary["latency_p95_s"]


def test_the_answer_first_reader_records_short_answers(sample_run, settings, tmp_path, capsys):
    out, classic, _ = sample_run
    assert _run(tmp_path, settings, "--store", str(out / "store"), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    rows = _rows(tmp_path / "out" / "results.jsonl")
    q01 = rows["sample_q01"]
    assert "mapping license" in q01["short_answer"] and q01["raw_text"].startswith("Answer: ")
    assert q01["verdict"]["correct"] and q01["answer"].endswith("[1]")
    # Every refusal says why, and the summary counts the reasons.
    refused = [r for r in rows.values() if r["refused"]]
    assert refused and all(r["refusal_reason"] for r in refused)
    counted = summary["refusal_reasons"]["answerable"] | summary["refusal_reasons"]["unanswerable"]
    assert sum(summary["refusal_reasons"]["answerable"].values()) == sum(
        r["answerable"] for r in refused
    )
    assert set(counted) <= set(REASONS)
    # No passage is about the Tour de France: the model is not asked, nor asked again.
    assert rows["sample_q25"]["refusal_reason"] == "off_topic"
    assert rows["sample_q25"]["raw_text"] == CANNOT_ANSWER
    looked = [r for r in rows.values() if "widen" in r["timings"]]
    assert rows["sample_q25"] not in looked and summary["second_looks"] == len(looked)
    # A question the passages are about and whose first short answer fails a check is asked
    # twice: over the pool, then over the passages; the summary counts the second looks.
    assert rows["sample_q03"] in looked and len(rows["sample_q03"]["raw_text"].splitlines()) == 2
    assert summary["second_looks_answered"] == sum(not r["refused"] for r in looked)
    # The short answer is scored; the whole text holds it, so it scores at least as well.
    assert summary["text_accuracy"] >= summary["answer_accuracy"] > 0.5
    assert all(r["refusal_reason"] is None for r in classic.values() if not r["refused"])


def test_rerun_reuses_the_store_and_compares_configs(sample_run, settings, tmp_path, capsys):
    out, _, _ = sample_run
    args = ["--store", str(out / "store"), "--compare", "default,extractive", "--json"]
    assert _run(tmp_path, settings, *args) == 0
    printed = json.loads(capsys.readouterr().out)
    comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert printed == comparison and comparison["configs"] == ["default", "extractive"]
    assert comparison["ratios"]["default"]["answer_accuracy"] == 1.0
    for name in ("default", "extractive"):
        summary = json.loads((tmp_path / "out" / name / "summary.json").read_text())
        assert summary["run"]["ingest"]["added"] == 0  # the 19 articles were already stored
        assert summary["run"]["config"] == name and summary["questions"] == 25
    assert "extractive/report.html" in (tmp_path / "out" / "report.html").read_text()


def test_limit_and_distractors_make_a_small_deterministic_run(settings, tmp_path, capsys):
    args = ["--limit", "8", "--distractors", "2", "--seed", "3", "--json"]
    assert _run(tmp_path, settings, *args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 8 and summary["unanswerable"] == 1  # 4/25 of 8, rounded
    rows = _rows(tmp_path / "out" / "results.jsonl")
    evidence = {e for r in rows.values() for e in r["evidence"]}
    assert summary["run"]["articles_ingested"] == len(evidence) + 2


def test_sampling_is_stratified_and_repeatable():
    golds = load_gold(SAMPLE_QA)
    sample = sample_questions(golds, 12, seed=1)
    assert Counter(g.type for g in sample) == {"short_answer": 10, "unanswerable": 2}
    assert [g.id for g in sample] == [g.id for g in sample_questions(golds, 12, seed=1)]
    assert [g.id for g in sample] != [g.id for g in sample_questions(golds, 12, seed=2)]
    assert sample_questions(golds, None, 0) == golds


def test_distractors_are_the_evidence_plus_m_others():
    golds = load_gold(SAMPLE_QA)[:2]  # both about the Tesla article
    articles = list(load_sources([str(SAMPLES)]))
    picked = select_articles(articles, golds, 3, seed=0)
    assert len(picked) == 4 and "ue2a2680cd103aada" in {a.id for a in picked}
    assert [a.id for a in picked] == [a.id for a in select_articles(articles, golds, 3, seed=0)]


def test_questions_that_need_choices_carry_them():
    gold = Gold.from_record(
        {
            "id": "q",
            "question": "Which one?",
            "answer": "Airplanes",
            "choices": ["Churches", "Airplanes"],
            "type": "needs_choices",
            "question_date": "2022-04-21",
            "evidence_article_ids": ["a"],
        }
    )
    assert gold.asked == "Which one? Choices: Churches, Airplanes"
    assert gold.answerable and gold.answers == ["Airplanes"]
    plain = Gold.from_record({"id": "r", "question": "Who?", "answer": None, "choices": ["X"]})
    assert plain.asked == "Who?" and not plain.answerable and plain.type == "unanswerable"


def test_report_escapes_article_and_answer_text(settings, tmp_path):
    gold = tmp_path / "qa.jsonl"
    gold.write_text(
        json.dumps(
            {
                "id": "x1",
                "question": "What did Tesla agree with Baidu? <script>alert(1)</script>",
                "answer": ["<b>nothing</b>"],
                "evidence_article_ids": ["ue2a2680cd103aada"],
                "type": "short_answer",
                "answerable": True,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    args = _args(tmp_path, "--gold", str(gold))
    run_eval(
        args, settings, embeddings=FakeEmbeddings(), chat_model=FakeChatModel(replies=[], calls=[])
    )
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;nothing&lt;/b&gt;" in html


def test_unknown_configuration_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="unknown configuration 'fast'.*extractive"):
        config_settings(settings, "fast")
    assert config_settings(settings, "extractive").llm.provider == "extractive"
    assert set(CONFIGS) >= {"default", "dense", "hybrid", "extractive", "qwen-1.5b"}


def test_rescore_rewrites_the_scores_from_the_stored_answers(settings, tmp_path):
    from qa.eval.run import rescore

    assert _run(tmp_path, settings, "--limit", "6", "--compare", "default,extractive") == 0
    before = json.loads((tmp_path / "out" / "comparison.json").read_text())

    def never(premise: str, claim: str) -> bool:
        return False

    after = rescore(tmp_path / "out", never, "never")
    assert after["scores"]["default"]["citation_recall"] == 0.0
    assert (
        after["scores"]["default"]["answer_accuracy"]
        == (before["scores"]["default"]["answer_accuracy"])
    )
    summary = json.loads((tmp_path / "out" / "extractive" / "summary.json").read_text())
    assert summary["run"]["judge"] == "never" and summary["citation_precision"] == 0.0


def test_eval_rescore_scores_a_finished_run_again_from_the_command_line(settings, tmp_path, capsys):
    assert _run(tmp_path, settings, "--limit", "4") == 0
    capsys.readouterr()
    summary = tmp_path / "out" / "summary.json"
    before = json.loads(summary.read_text())
    summary.write_text(json.dumps(before | {"answer_accuracy": -1.0}))  # a stale summary
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    args = parser.parse_args(["--rescore", str(tmp_path / "out"), "--json"])
    assert run_eval(args, settings, embeddings=FakeEmbeddings()) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["answer_accuracy"] == before["answer_accuracy"] != -1.0
    assert json.loads(summary.read_text())["answer_accuracy"] == before["answer_accuracy"]
    assert printed["run"]["judge"] == "lexical"


def test_eval_without_its_inputs_names_what_is_missing(settings, tmp_path):
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    args = parser.parse_args(["--gold", str(tmp_path / "qa.jsonl")])
    with pytest.raises(InvalidSettings, match="--articles, --out .*--rescore DIR"):
        run_eval(args, settings, embeddings=FakeEmbeddings())


def test_questions_across_articles_are_scored_by_coverage_and_path(settings, tmp_path, capsys):
    from helpers import ROOT

    developing = ROOT / "tests" / "data" / "developing"
    ids = {a.title.split()[0]: a.id for a in load_sources([str(developing)])}
    bridge = sorted(ids.values())
    gold = tmp_path / "multi.jsonl"
    rows = [
        {
            "id": "m1",
            "question": "How did the Alder Street footbridge story develop?",
            "kind": "timeline",
            "type": "timeline",
            "answer": None,
            "answerable": True,
            "evidence_article_ids": bridge,
        },
        {
            "id": "m2",
            "question": "Alder Street footbridge",
            "kind": "summary",
            "type": "summary",
            "answer": None,
            "answerable": True,
            "evidence_article_ids": bridge,
        },
        {
            "id": "f1",
            "question": "Which footbridges will the city close?",
            "answer": ["Mill Lane and Weir Road"],
            "evidence_article_ids": [ids["Corroded"]],
        },
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    args = _args(tmp_path, "--json")
    args.articles, args.gold = developing, gold
    assert (
        run_eval(
            args,
            settings,
            embeddings=FakeEmbeddings(),
            chat_model=FakeChatModel(replies=[], calls=[]),
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    results = _rows(tmp_path / "out" / "results.jsonl")
    timeline, missed = results["m1"], results["m2"]
    assert timeline["kind"] == "timeline" and timeline["verdict"]["kind_right"]
    cited = {c["article_id"] for c in timeline["citations"]}
    assert timeline["verdict"]["coverage"] == len(cited & set(bridge)) / 3 > 0
    # the dates that lead a timeline's lines are its articles', not claims the judge must find
    assert timeline["answer"][:4] == "2025" and timeline["verdict"]["citation_recall"] == 1.0
    assert missed["kind"] == "fact" and not missed["verdict"]["kind_right"]  # no wording for it
    assert summary["across_questions"] == 2 and summary["answerable"] == 1
    assert summary["kind_accuracy"] == 0.5
    assert summary["coverage"] == round(
        (timeline["verdict"]["coverage"] + missed["verdict"]["coverage"]) / 2, 4
    )
    assert results["f1"]["verdict"]["correct"] is not None
    assert summary["by_type"]["timeline"]["coverage"] == timeline["verdict"]["coverage"]


def test_resume_keeps_the_answers_of_an_interrupted_run_and_asks_the_rest(settings, tmp_path):
    assert _run(tmp_path, settings, "--limit", "6") == 0
    out = tmp_path / "out"
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    first = [json.loads(line) for line in lines]
    kept = [r | {"answer": f"kept {i}"} for i, r in enumerate(first[:3])]
    # as a crash would leave it: no results.jsonl, a .part file ending in a line cut short
    (out / "results.jsonl").unlink()
    (out / "results.jsonl.part").write_text(
        "".join(json.dumps(r) + "\n" for r in kept) + lines[3][:40], encoding="utf-8"
    )
    assert _run(tmp_path, settings, "--limit", "6", "--resume") == 0
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["answer"] for r in rows[:3]] == ["kept 0", "kept 1", "kept 2"]
    assert [r["id"] for r in rows] == [r["id"] for r in first]
    assert [r["answer"] for r in rows[3:]] == [r["answer"] for r in first[3:]]  # asked again
    assert not (out / "results.jsonl.part").exists()
    assert json.loads((out / "summary.json").read_text())["questions"] == 6

    # a finished run is not asked again; without --resume it is
    assert _run(tmp_path, settings, "--limit", "6", "--resume") == 0
    assert (
        json.loads((out / "results.jsonl").read_text("utf-8").splitlines()[0])["answer"] == "kept 0"
    )
    assert _run(tmp_path, settings, "--limit", "6") == 0
    assert (
        json.loads((out / "results.jsonl").read_text("utf-8").splitlines()[0])["answer"] != "kept 0"
    )

    # answers asked with other settings are not mixed in
    with pytest.raises(InvalidSettings, match="cannot resume .*another limit"):
        _run(tmp_path, settings, "--limit", "5", "--resume")
