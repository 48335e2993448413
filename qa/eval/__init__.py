"""Evaluation: gold questions -> answers (through `NewsQA.ask`, as a user's) -> scores -> report.

gold.py reads question sets and draws samples; run.py asks and writes results.jsonl,
summary.json and report.html (`newsqa eval`, `--compare`, `--rescore`); score.py scores a row
and sums rows up; metrics.py holds the answer, retrieval and citation measures; report.py
writes the tables and the HTML report; options.py and configs.toml are the command's options
and named configurations (light: `newsqa --help` reads them without the pipeline).
"""
