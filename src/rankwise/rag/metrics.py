"""Answer metrics: exact match and token F1 as SQuAD and HotpotQA's official scripts compute them, "contains the
gold answer" accuracy, and citation precision and recall against the supporting passages.

Normalisation (SQuAD v1.1 / HotpotQA ``normalize_answer``): lower-case, drop ASCII punctuation (Python's
``string.punctuation``), drop the articles *a*, *an*, *the* as whole words, collapse white space. Nothing else:
accents and non-ASCII punctuation (``–``, ``’``) are kept, exactly as the official scripts keep them.

F1 follows HotpotQA's ``f1_score``: a prediction or gold that normalises to ``yes``, ``no`` or ``noanswer`` scores 0
unless both normalise to the same string (SQuAD's script has no such rule; it matters only for yes/no answers).

**Several accepted answers.** HotpotQA's script scores one gold string per question. A gold given as a list (several
accepted answers) is scored as SQuAD's official script does: the maximum over the accepted answers
(``metric_max_over_ground_truths``), separately for EM, F1 and accuracy. With one gold string the values are
exactly the HotpotQA script's (``tests/test_rag_metrics.py`` runs that script on the same predictions).
"""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """SQuAD/HotpotQA normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _golds(gold: str | Sequence[str]) -> list[str]:
    if isinstance(gold, str):
        return [gold]
    golds = [str(g) for g in gold]
    if not golds:
        raise ValueError("an empty list of accepted answers cannot be scored; leave the answer out instead "
                         "(the question is then counted as unscored)")
    return golds


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised accepted answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _golds(gold)))


def _f1_prf(prediction: str, gold: str) -> tuple[float, float, float]:
    pred, truth = normalize_answer(prediction), normalize_answer(gold)
    if (pred in _SPECIAL or truth in _SPECIAL) and pred != truth:
        return 0.0, 0.0, 0.0
    pred_tokens, truth_tokens = pred.split(), truth.split()
    common = Counter(pred_tokens) & Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0, 0.0, 0.0
    precision, recall = same / len(pred_tokens), same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall), precision, recall


def f1_score(prediction: str, gold: str | Sequence[str]) -> float:
    """Token F1 of the normalised prediction against the best accepted answer (HotpotQA's rules, module docs)."""
    return max(_f1_prf(prediction, g)[0] for g in _golds(gold))


def contains_answer(prediction: str, gold: str | Sequence[str]) -> float:
    """Accuracy ("contains the gold answer"): 1.0 when a normalised accepted answer occurs in the normalised
    prediction as a run of whole words ("paris" in "it is paris france"; not "paris" in "parisian"). An accepted
    answer that normalises to nothing (e.g. "the") never matches."""
    pred = f" {normalize_answer(prediction)} "
    for g in _golds(gold):
        norm = normalize_answer(g)
        if norm and f" {norm} " in pred:
            return 1.0
    return 0.0


def citation_scores(cited: Iterable[str], supporting: Iterable[str]) -> tuple[float, float]:
    """(precision, recall) of the cited passages against the supporting ones, as HotpotQA's script scores
    supporting facts (``update_sp``), at passage level: precision = |cited ∩ supporting| / |cited|, recall =
    |cited ∩ supporting| / |supporting|, each 0 when its denominator is 0."""
    cited_set, gold = set(cited), set(supporting)
    hits = len(cited_set & gold)
    precision = hits / len(cited_set) if cited_set else 0.0
    recall = hits / len(gold) if gold else 0.0
    return precision, recall
