"""Loss names -> sentence-transformers losses, and the rows (dataset columns) each one reads.

Cross-encoder students (``sentence_transformers.cross_encoder.losses``):

| name | loss | one row | label |
|---|---|---|---|
| ``bce`` | ``BinaryCrossEntropyLoss`` (monoBERT's pointwise loss) | query, document | 1 positive / 0 negative |
| ``ranknet`` | ``RankNetLoss`` (Burges et al. 2005) | query, [positive, n negatives] | grades |
| ``listnet`` | ``ListNetLoss`` (Cao et al. 2007) | query, [positive, n negatives] | grades |
| ``lambda`` | ``LambdaLoss`` with NDCGLoss2++ weights (Wang et al. 2018) | query, [positive, n negatives] | grades |
| ``margin-mse`` | ``MarginMSELoss`` (Hofstätter et al. 2020) | query, positive, negative_1..n | teacher margins |

Bi-encoder students (``sentence_transformers.sentence_transformer.losses``):

| name | loss | one row | label |
|---|---|---|---|
| ``mnrl`` | ``MultipleNegativesRankingLoss`` (in-batch + hard negatives, scale 20) | query, positive, negatives | — |
| ``margin-mse`` | ``MarginMSELoss`` on ``scale`` × the inner product | query, positive, negatives | teacher margins |

The margin of Margin-MSE is ``t(q, d+) - t(q, d-)`` from the teacher. A bi-encoder that normalises its vectors
(bge-small, MiniLM) has inner products in [-1, 1] while a cross-encoder teacher's margins span ±20, so its score is
multiplied by a fixed ``scale`` (default 20, the temperature MNRL uses) before the margin is taken — the same as
dividing the teacher's margins by 20; rankings are unchanged by it.

With a curriculum each row also carries ``difficulty`` (:mod:`rankwise.train.curriculum`), which the trainer takes
out before the loss sees the batch.
"""
from __future__ import annotations

from rankwise.train.curriculum import document_value, group_difficulty, pointwise_difficulty

CROSS_ENCODER_LOSSES = ("bce", "ranknet", "listnet", "lambda", "margin-mse")
BI_ENCODER_LOSSES = ("mnrl", "margin-mse")
LISTWISE = ("ranknet", "listnet", "lambda")
# Negatives per positive when not given: pairs are cheap rows; groups of 8 as in the sentence-transformers examples.
DEFAULT_NEGATIVES = {"bce": 3, "ranknet": 7, "listnet": 7, "lambda": 7, "margin-mse": 3, "mnrl": 1}
NEEDS_TEACHER = ("margin-mse",)


def check_loss(name: str, student: str) -> str:
    known = CROSS_ENCODER_LOSSES if student == "cross-encoder" else BI_ENCODER_LOSSES
    if name not in known:
        raise ValueError(f"a {student} trains with one of the losses {', '.join(known)}; got {name!r}")
    return name


def build_rows(training, loss: str, student: str, num_negatives: int,
               curriculum: str | None = None) -> tuple[list[dict], dict]:
    """The rows ``loss`` reads (module docs) from a :class:`~rankwise.train.data.TrainingSet`, and counts of what
    was left out (a positive whose query has fewer than ``num_negatives`` negatives, for the fixed-width layouts)."""
    check_loss(loss, student)
    rows: list[dict] = []
    short = 0
    for q in training.queries:
        negatives = q.negatives[:num_negatives]
        value = (lambda c: document_value(c, q, curriculum)) if curriculum else None
        for p in q.positives:
            if loss == "bce":
                pairs = [(p, 1.0)] + [(n, 0.0) for n in negatives]
                for doc, label in pairs:
                    row = {"query": q.text, "document": doc.text, "label": label}
                    if value:
                        row["difficulty"] = pointwise_difficulty(value(doc), label > 0)
                    rows.append(row)
                continue
            if loss in LISTWISE:
                if not negatives:
                    short += 1
                    continue
                row = {"query": q.text, "docs": [p.text] + [n.text for n in negatives],
                       "labels": [float(p.grade)] + [0.0] * len(negatives)}
            else:
                if len(negatives) < num_negatives:
                    short += 1
                    continue
                row = {"query": q.text, "positive": p.text}
                for j, n in enumerate(negatives, 1):
                    row[f"negative_{j}"] = n.text
                if loss == "margin-mse":
                    if p.teacher is None or any(n.teacher is None for n in negatives):
                        raise ValueError("Margin-MSE learns the teacher's margins: give a teacher (--teacher)")
                    row["label"] = [p.teacher - n.teacher for n in negatives]
            if value:
                row["difficulty"] = group_difficulty(value(p), [value(n) for n in negatives])
            rows.append(row)
    if not rows:
        raise ValueError(f"no training rows for loss {loss!r}: no query has a positive and "
                         f"{num_negatives} negative(s); lower --num-negatives or raise --depth")
    return rows, {"rows": len(rows), "positives_left_out_short_of_negatives": short}


class ScaledDot:
    """``scale`` × the inner product of matching rows (a picklable similarity function for MarginMSELoss)."""

    def __init__(self, scale: float):
        self.scale = float(scale)

    def __call__(self, a, b):
        return self.scale * (a * b).sum(dim=-1)

    def __repr__(self) -> str:
        return f"ScaledDot({self.scale})"


def make_loss(name: str, model, student: str, *, scale: float = 20.0):
    """The sentence-transformers loss object for ``name`` (module docs)."""
    check_loss(name, student)
    if student == "cross-encoder":
        from sentence_transformers.cross_encoder import losses

        factory = {"bce": losses.BinaryCrossEntropyLoss, "ranknet": losses.RankNetLoss,
                   "listnet": losses.ListNetLoss, "lambda": losses.LambdaLoss,
                   "margin-mse": losses.MarginMSELoss}[name]
        return factory(model)
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, scale=scale)
    return losses.MarginMSELoss(model, similarity_fct=ScaledDot(scale))


__all__ = ["BI_ENCODER_LOSSES", "CROSS_ENCODER_LOSSES", "DEFAULT_NEGATIVES", "LISTWISE", "NEEDS_TEACHER",
           "ScaledDot", "build_rows", "check_loss", "make_loss"]
