"""Evaluation output for people: a text table, a comparison, and a self-contained HTML report."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from vectorstore.files import write_atomic

# (summary key, column label); fractions are shown as percentages
HEADLINE = [
    ("answer_accuracy", "answer accuracy"),
    ("text_accuracy", "answer accuracy, whole text"),
    ("equivalent_accuracy", "answer accuracy, equivalent forms too"),
    ("token_f1", "token F1"),
    ("refusal_accuracy", "refusal accuracy"),
    ("false_refusal_rate", "false refusal rate"),
    ("truthfulness", "truthfulness (-1..1)"),
    ("retrieval_hit_at_5", "retrieval hit@5"),
    ("retrieval_hit_at_10", "retrieval hit@10"),
    ("retrieval_mrr_at_10", "retrieval MRR@10"),
    ("citation_recall", "citation recall"),
    ("citation_precision", "citation precision"),
    ("coverage", "coverage (expected articles cited)"),
    ("kind_accuracy", "path chosen right"),
    ("across_refusal_rate", "refused, across articles"),
    ("across_articles_cited", "articles cited per paragraph"),
    ("latency_p50_s", "latency p50 (s)"),
    ("latency_p95_s", "latency p95 (s)"),
    ("first_token_p50_s", "first token p50 (s)"),
]
COUNTS = [
    "questions",
    "answerable",
    "unanswerable",
    "across_questions",
    "answers_with_claims",
    "second_looks",
    "second_looks_answered",
    "errors",
]
TYPE_COLUMNS = [
    ("questions", "n"),
    ("answer_accuracy", "acc"),
    ("token_f1", "F1"),
    ("refusal_accuracy", "refusal acc"),
    ("false_refusal_rate", "false ref"),
    ("truthfulness", "truth"),
    ("retrieval_hit_at_5", "hit@5"),
    ("retrieval_mrr_at_10", "MRR@10"),
    ("citation_recall", "cite R"),
    ("citation_precision", "cite P"),
    ("coverage", "cover"),
    ("latency_p50_s", "p50 s"),
]


def fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if key.endswith("_s") or key in ("truthfulness", "across_articles_cited"):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{100 * value:.1f}%"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join
    out = [
        line(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        line("-" * w for w in widths),
    ]
    out += [
        line(
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    return "\n".join(out)


def summary_table(summary: dict) -> str:
    """The headline scores, then one row per question type."""
    counts = ", ".join(f"{summary[k]} {k.replace('_', ' ')}" for k in COUNTS)
    head = _table(["metric", "value"], [[label, fmt(k, summary[k])] for k, label in HEADLINE])
    types = _table(
        ["type"] + [label for _, label in TYPE_COLUMNS],
        [[t] + [fmt(k, s[k]) for k, _ in TYPE_COLUMNS] for t, s in summary["by_type"].items()],
    )
    return f"{counts}\n\n{head}\n\n{reasons_line(summary)}\n\n{types}"


def reasons_line(summary: dict) -> str:
    """ "refused, by reason: answerable: unsupported 3, ...; unanswerable: ..." """
    reasons = summary.get("refusal_reasons") or {}
    parts = [
        f"{group}: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none")
        for group, counts in reasons.items()
    ]
    return "refused, by reason: " + ("; ".join(parts) or "not recorded")


def comparison(summaries: dict[str, dict]) -> dict:
    """comparison.json: scores per configuration, with ratios to and differences from the first."""
    names = list(summaries)
    base = summaries[names[0]]
    keys = [k for k, _ in HEADLINE]
    out = {
        "baseline": names[0],
        "configs": names,
        "scores": {},
        "ratios": {},
        "differences": {},
        "by_type": {},
    }
    for name, s in summaries.items():
        out["scores"][name] = {k: s.get(k) for k in COUNTS + keys}
        out["scores"][name]["refusal_reasons"] = s.get("refusal_reasons")
        out["ratios"][name] = {k: _ratio(s.get(k), base.get(k)) for k in keys}
        out["differences"][name] = {
            k: None if s.get(k) is None or base.get(k) is None else round(s[k] - base[k], 4)
            for k in keys
        }
        out["by_type"][name] = {
            t: {k: v[k] for k, _ in TYPE_COLUMNS} for t, v in s["by_type"].items()
        }
    return out


def _ratio(value, base):
    return None if value is None or not base or base < 0 else round(value / base, 3)


def _versus(comp: dict, name: str, key: str) -> str:
    """ " (x0.76)" against the baseline; truthfulness, which can be negative, as a difference."""
    if name == comp["baseline"]:
        return ""
    if key == "truthfulness":
        diff = comp["differences"][name][key]
        return "" if diff is None else f" ({diff:+.2f})"
    ratio = comp["ratios"][name][key]
    return "" if ratio is None else f" (x{ratio:.2f})"


def comparison_table(comp: dict) -> str:
    names = comp["configs"]
    rows = [
        [label] + [fmt(key, comp["scores"][n][key]) + _versus(comp, n, key) for n in names]
        for key, label in HEADLINE
    ]
    reasons = "\n".join(f"{n}: {reasons_line(comp['scores'][n])}" for n in names)
    return (
        f"ratios to {comp['baseline']} (truthfulness: difference)\n\n"
        + _table(["metric", *names], rows)
        + "\n\n"
        + reasons
    )


# --- HTML ------------------------------------------------------------------------------------
CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#f3f3f3}.fail{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;
margin:.8em 0}.fail p{margin:.3em 0}.ev{color:#0a6d2c;font-weight:600}.muted{color:#777}
img{max-width:100%}code{background:#f5f5f5;padding:0 3px}"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='chart' src='data:image/png;base64,{data}'>"


def _figure(width: float = 6.5, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.subplots(figsize=(width, height))


def type_score(s: dict) -> float:
    """The score that says how a question type went: answer accuracy, refusal accuracy, or
    for questions across articles the coverage of the articles they should cite."""
    if s.get("across_questions"):
        return s["coverage"] or 0.0
    value = s["answer_accuracy"] if s["answerable"] else s["refusal_accuracy"]
    return value or 0.0


def plots(summary: dict, rows: list[dict]) -> str:
    plt, (fig, ax) = _figure()
    types = list(summary["by_type"])
    ax.bar(types, [type_score(summary["by_type"][t]) for t in types], color="#4c78a8")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy by question type (refusal accuracy for unanswerable types)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    charts = _png(fig)
    plt.close(fig)
    plt, (fig, ax) = _figure()
    ax.hist([r["timings"]["latency"] for r in rows], bins=20, color="#f58518")
    ax.set_xlabel("seconds per question")
    ax.set_ylabel("questions")
    ax.set_title("Latency of ask()", fontsize=9)
    charts += _png(fig)
    plt.close(fig)
    return charts


def worst_failures(rows: list[dict], limit: int = 20) -> list[dict]:
    """Wrong answers (an answer to an unanswerable one included) and false refusals, balanced."""
    wrong = [r for r in rows if r["verdict"]["truthfulness"] == -1]
    refused = [r for r in rows if r["answerable"] and r["refused"]]
    wrong.sort(key=lambda r: (r["verdict"].get("f1") or 0, r["id"]))
    take_refused = min(len(refused), max(limit // 2, limit - len(wrong)))
    return wrong[: limit - take_refused] + refused[:take_refused]


def _failure(r: dict) -> str:
    kind = (
        "false refusal"
        if r["refused"]
        else "answered an unanswerable question"
        if not r["answerable"]
        else "wrong answer"
    )
    ranked = r["retrieved"]
    rank = next((i for i, a in enumerate(ranked, 1) if a in r["evidence"]), None)
    where = (
        f"evidence article at rank {rank} of the retrieval"
        if rank
        else "evidence article not in the top 10"
        if r["evidence"]
        else "no evidence article"
    )
    sources = (
        "".join(
            f"<li class='{'ev' if s['evidence'] else ''}'>[{s['n']}] {escape(s['title'])} "
            f"<span class='muted'>({escape(s['published'] or 'no date')}, score "
            f"{s['score']:.2f}){' - evidence article' if s['evidence'] else ''}</span></li>"
            for s in r["sources"]
        )
        or "<li class='muted'>nothing retrieved</li>"
    )
    return (
        f"<div class='fail'><p><b>{escape(kind)}</b> <code>{escape(r['id'])}</code> "
        f"<span class='muted'>{escape(r['type'])}; {escape(where)}</span></p>"
        f"<p>Q: {escape(r['question'])}</p>"
        f"<p>Gold: {escape(' | '.join(r['gold']) or '(not in the corpus)')}</p>"
        f"<p>Answer: {escape(r['answer'] or r.get('error', ''))}</p>"
        + (
            f"<p>Short answer: <b>{escape(r['short_answer'])}</b></p>"
            if r.get("short_answer")
            else ""
        )
        + (
            f"<p class='muted'>Refused: {escape(r['refusal_reason'])}; the model wrote: "
            f"{escape(r.get('raw_text') or '(nothing)')}</p>"
            if r["refused"] and r.get("refusal_reason")
            else ""
        )
        + f"<p>Sources given to the model:</p><ol style='list-style:none'>{sources}</ol></div>"
    )


def write_report(path: Path, summary: dict, rows: list[dict]) -> None:
    """DIR/report.html: summary, breakdown by type, charts and the worst failures."""
    run = summary["run"]
    counts = ", ".join(f"{summary[k]} {k.replace('_', ' ')}" for k in COUNTS)
    body = [
        f"<p class='muted'>config <b>{escape(run['config'])}</b>; gold {escape(run['gold'])}; "
        f"{run['articles_ingested']} articles ingested; {escape(counts)}</p>",
        "<h2>Summary</h2>",
        _html_table(["metric", "value"], [[label, fmt(k, summary[k])] for k, label in HEADLINE]),
        f"<p>{escape(reasons_line(summary))}</p>",
        "<h2>By question type</h2>",
        _html_table(
            ["type"] + [label for _, label in TYPE_COLUMNS],
            [[t] + [fmt(k, s[k]) for k, _ in TYPE_COLUMNS] for t, s in summary["by_type"].items()],
        ),
        "<h2>Charts</h2>",
        plots(summary, rows),
    ]
    failures = worst_failures(rows)
    body.append(f"<h2>Worst failures ({len(failures)})</h2>")
    body += [_failure(r) for r in failures] or ["<p>None.</p>"]
    _write(path, _page(f"newsqa evaluation: {run['config']}", "".join(body)))


def write_comparison_report(path: Path, comp: dict, summaries: dict[str, dict]) -> None:
    """DIR/report.html for --compare: the comparison table, a chart, links to each report."""
    names = comp["configs"]
    rows = [
        [label] + [fmt(k, comp["scores"][n][k]) + _versus(comp, n, k) for n in names]
        for k, label in HEADLINE
    ]
    plt, (fig, ax) = _figure(7.5, 3.4)
    types = sorted({t for s in summaries.values() for t in s["by_type"]})
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        by_type = summaries[n]["by_type"]
        ax.bar(
            [j + i * width for j in range(len(types))],
            [type_score(by_type[t]) if t in by_type else 0 for t in types],
            width,
            label=n,
        )
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(types))], types, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy by question type (refusal accuracy for unanswerable types)", fontsize=9)
    chart = _png(fig)
    plt.close(fig)
    links = "".join(f"<li><a href='{escape(n)}/report.html'>{escape(n)}</a></li>" for n in names)
    body = (
        f"<p class='muted'>ratios to {escape(comp['baseline'])} (truthfulness: "
        "difference)</p>"
        + _html_table(["metric", *names], rows)
        + chart
        + f"<h2>Reports per configuration</h2><ul>{links}</ul>"
    )
    _write(path, _page("newsqa evaluation: comparison", body))


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)
