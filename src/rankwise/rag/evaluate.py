"""Evaluation of RAG answers: answer EM / F1 / accuracy (:mod:`rankwise.rag.metrics`), citation precision and recall
against the supporting passages, evidence metrics of the final rankings through trec_eval
(:func:`rankwise.evaluate.evaluate`: the dataset's qrels are the supporting passages), and paired significance tests
between RAG configurations (:func:`compare_answers`, the same tests and corrections as ``compare`` for runs).

What is counted rather than dropped: questions without a gold answer are answered but *unscored* (a warning says how
many); questions of the dataset that ANSWERS lacks are *missing* (warned; the averages are over the answered ones);
failed or empty generations score 0 and are counted as *failed*. Evidence metrics are averaged over every answered
question that has supporting passages, a question whose ranking is empty scoring 0 (trec_eval ``-c``); a run
without retrieval (closed-book) has no evidence metrics. Citation metrics are averaged over the questions whose
prompt held passages.
"""
from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rankwise.evaluate.metrics import EvalResult, format_value, metric_key
from rankwise.io.files import FormatError
from rankwise.rag.generator import Answer, Answers
from rankwise.rag.io import read_answers, read_gold_answers
from rankwise.rag.metrics import citation_scores, contains_answer, exact_match, f1_score
from rankwise.types import Dataset, Qrels

ANSWER_METRICS = ("em", "f1", "accuracy")
CITATION_METRICS = ("citation_precision", "citation_recall")
DEFAULT_EVIDENCE_METRICS = ("recall_5", "recall_10", "recip_rank_cut_10", "success_10")


class AnswerEvaluationWarning(UserWarning):
    """Questions left unscored or missing from an evaluation of answers."""


def evidence_key(name: str) -> str:
    """The trec_eval key of an evidence measure; ``Hits@k`` is trec_eval's ``success_k``."""
    low = name.lower().replace(" ", "")
    if low.startswith("hits@"):
        return f"success_{low[5:]}"
    return metric_key(name)


@dataclass
class AnswerEvaluation:
    """``aggregate[metric]`` (None when the metric does not apply, e.g. evidence without retrieval),
    ``per_query[metric][qid]``, and ``counts`` (questions, unscored, missing, failed, truncated, LLM usage…)."""

    aggregate: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    counts: dict[str, float] = field(default_factory=dict)
    name: str = "answers"

    @property
    def metrics(self) -> list[str]:
        return [m for m, v in self.aggregate.items() if v is not None]

    def __getitem__(self, metric: str) -> float | None:
        key = metric if metric in self.aggregate else evidence_key(metric)
        if key not in self.aggregate:
            raise KeyError(f"metric {metric!r} was not evaluated; evaluated: {list(self.aggregate)}")
        return self.aggregate[key]

    def to_eval_result(self, metrics: Sequence[str] | None = None) -> EvalResult:
        """The values as an :class:`~rankwise.evaluate.EvalResult`, for :func:`rankwise.evaluate.compare_results`."""
        keys = [self._key(m) for m in metrics] if metrics is not None else self.metrics
        for key in keys:
            if self.aggregate.get(key) is None:
                raise ValueError(f"{self.name}: {key} was not evaluated (evidence metrics need retrieval, citation "
                                 "metrics need passages in the prompt)")
        return EvalResult({k: self.aggregate[k] for k in keys}, {k: self.per_query[k] for k in keys},
                          run_name=self.name)

    def _key(self, metric: str) -> str:
        return metric if metric in self.aggregate else evidence_key(metric)

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.aggregate)
        out["counts"] = dict(self.counts)
        if per_query:
            out["per_query"] = {m: dict(v) for m, v in self.per_query.items()}
        return out

    def to_text(self, per_query: bool = False) -> str:
        """trec_eval's layout: ``metric  qid  value`` rows (per question first with ``per_query``), then ``all``."""
        def row(metric: str, qid: str, value) -> str:
            shown = "-" if value is None else format_value(metric, value)
            return f"{metric:<22}\t{qid}\t{shown}"

        lines = []
        if per_query:
            qids = sorted({q for v in self.per_query.values() for q in v})
            for qid in qids:
                lines += [row(m, qid, v[qid]) for m, v in self.per_query.items() if qid in v]
        lines += [row(m, "all", v) for m, v in self.aggregate.items()]
        lines += [row(k, "all", v) for k, v in self.counts.items()]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def _records(answers) -> tuple[str, list[tuple[int | None, dict[str, Any]]], Path | None]:
    """(name, [(line, record)], path) from a path, an :class:`Answers`, or a list of Answer objects / dicts."""
    if isinstance(answers, (str, Path)):
        path = Path(answers)
        return path.name, read_answers(path), path
    if isinstance(answers, Answers):
        return answers.name, [(None, a.to_dict()) for a in answers.answers.values()], None
    out = []
    for a in answers:
        out.append((None, a.to_dict() if isinstance(a, Answer) else dict(a)))
    return "answers", out, None


def _dataset(dataset: "Dataset | str | Path", split: str) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    from rankwise.datasets import load

    return load(dataset, split)


def gold_answers(dataset: Dataset) -> dict[str, list[str] | None]:
    """The dataset's gold answers (from its ``queries.jsonl``); empty when the dataset has no folder."""
    if not dataset.path:
        return {}
    folder = Path(dataset.path)
    path = folder / "queries.jsonl"
    if not path.exists() and (folder / "queries.jsonl.gz").exists():
        path = folder / "queries.jsonl.gz"
    return read_gold_answers(path)


def evaluate_answers(answers, dataset: "Dataset | str | Path", *, split: str = "test",
                     evidence_metrics: Iterable[str] = DEFAULT_EVIDENCE_METRICS, name: str | None = None,
                     gold: Mapping[str, Sequence[str] | None] | None = None) -> AnswerEvaluation:
    """Evaluate answers (an ANSWERS file, an :class:`Answers`, or answer records) against a dataset (a
    :class:`~rankwise.types.Dataset`, a BEIR folder or ``"demo"``). ``gold`` overrides the dataset's answers."""
    from rankwise.evaluate import evaluate

    label, records, path = _records(answers)
    dataset = _dataset(dataset, split)
    gold = dict(gold) if gold is not None else gold_answers(dataset)
    texts = {q.qid: q.text for q in dataset.queries}
    where = dataset.path or dataset.name
    for line, record in records:
        qid = record["id"]
        if qid not in texts:
            raise FormatError(path or label, line, f"question id {qid!r} is not among the {len(texts)} {split} "
                                                   f"questions of {where}",
                              "is ANSWERS from another dataset or split?")
        asked = record.get("question")
        if asked is not None and " ".join(str(asked).split()) != " ".join(texts[qid].split()):
            raise FormatError(path or label, line, f"question {qid!r} reads {asked!r} here but {texts[qid]!r} in "
                                                   f"{where}", "is ANSWERS from another version of the dataset?")
    answered = {record["id"]: record for _, record in records}
    missing = [qid for qid in texts if qid not in answered]
    if missing:
        warnings.warn(f"{len(missing)} of the {len(texts)} questions of {where} have no answer in {label} (e.g. "
                      f"{missing[0]!r}; an interrupted run?); the averages are over the {len(answered)} answered",
                      AnswerEvaluationWarning, stacklevel=2)
    qrels = dataset.qrels or Qrels()

    per_query: dict[str, dict[str, float]] = {m: {} for m in ANSWER_METRICS + CITATION_METRICS}
    unscored = []
    for qid, record in answered.items():
        accepted = gold.get(qid)
        if accepted is None:
            unscored.append(qid)
        else:
            prediction = record["answer"]
            per_query["em"][qid] = exact_match(prediction, accepted)
            per_query["f1"][qid] = f1_score(prediction, accepted)
            per_query["accuracy"][qid] = contains_answer(prediction, accepted)
        if qid in qrels and any(c.get("in_prompt") for c in record.get("contexts") or []):
            precision, recall = citation_scores(record.get("citations") or [], qrels.relevant(qid))
            per_query["citation_precision"][qid], per_query["citation_recall"][qid] = precision, recall
    if unscored:
        warnings.warn(f"{len(unscored)} answered question(s) have no gold answer in {where} (e.g. {unscored[0]!r}): "
                      "counted as unscored, left out of EM/F1/accuracy", AnswerEvaluationWarning, stacklevel=2)

    aggregate: dict[str, float | None] = {m: (statistics.fmean(v.values()) if v else None) for m, v in
                                          per_query.items()}
    keys = list(dict.fromkeys(evidence_key(m) for m in evidence_metrics))
    retrieved = any(record.get("contexts") for record in answered.values())
    judged = Qrels({qid: qrels[qid] for qid in answered if qid in qrels})
    if keys and retrieved and judged:
        run = {qid: {c["docid"]: float(c["score"]) for c in record.get("contexts") or []}
               for qid, record in answered.items() if qid in judged}
        result = evaluate({q: r for q, r in run.items() if r}, judged, keys, complete=True)
        for key in keys:
            per_query[key] = result.per_query[key]
            aggregate[key] = result.aggregate[key]
    else:
        for key in keys:
            per_query[key], aggregate[key] = {}, None

    return AnswerEvaluation(aggregate, {m: v for m, v in per_query.items() if v}, _counts(answered, unscored, missing),
                            name or label)


def _counts(answered: Mapping[str, dict], unscored: list, missing: list) -> dict[str, float]:
    n = len(answered)
    llm = [r.get("llm") or {} for r in answered.values()]
    seconds = [r.get("seconds") or {} for r in answered.values()]

    def mean(values) -> float:
        values = list(values)
        return statistics.fmean(values) if values else 0.0

    counts: dict[str, float] = {
        "num_questions": n, "num_unscored": len(unscored), "num_missing": len(missing),
        "num_failed": sum(1 for r in answered.values() if r.get("error")),
        "num_empty": sum(1 for r in answered.values() if not str(r.get("answer", "")).strip()),
        "num_truncated": sum(int(r.get("truncated") or 0) + int(r.get("dropped") or 0) for r in answered.values()),
        "num_with_sub_questions": sum(1 for r in answered.values() if r.get("sub_questions")),
        "llm_calls_per_q": mean(u.get("calls", 0) for u in llm),
        "prompt_tokens_per_q": mean(u.get("prompt_tokens", 0) for u in llm),
        "completion_tokens_per_q": mean(u.get("completion_tokens", 0) for u in llm),
    }
    for stage in ("decompose", "retrieve", "rerank", "generate", "total"):
        if any(stage in s for s in seconds):
            counts[f"seconds_{stage}_per_q"] = mean(s.get(stage, 0.0) for s in seconds)
    return counts


def compare_answers(answers: Mapping[str, Any], dataset: "Dataset | str | Path", metrics: Sequence[str] = ("em", "f1"),
                    *, baseline: str | int = 0, split: str = "test", test: str = "ttest",
                    correction: str | None = "holm", alpha: float = 0.05, **options):
    """Paired significance tests between RAG configurations: ``answers`` maps a name to an ANSWERS file (or
    :class:`Answers`, or :class:`AnswerEvaluation`); every configuration is tested against ``baseline`` on every
    metric (answer metrics, citation metrics, evidence metrics by trec_eval or readable name). Returns the
    :class:`~rankwise.evaluate.Comparison` table ``compare`` prints for runs (Holm correction over all cells)."""
    from rankwise.evaluate import compare_results

    dataset = _dataset(dataset, split)
    evidence = [m for m in metrics if m not in ANSWER_METRICS + CITATION_METRICS]
    results = {}
    for label, source in answers.items():
        ev = source if isinstance(source, AnswerEvaluation) else evaluate_answers(
            source, dataset, split=split, evidence_metrics=evidence, name=label)
        results[label] = ev.to_eval_result(metrics)
    return compare_results(results, baseline=baseline, test=test, correction=correction, alpha=alpha, **options)
