"""monoT5 / RankT5 scoring contract on a small T5 with random weights that the test builds (no T5 weights
exist offline): the score is the log-odds (or log P(true), or the RankT5 logit) computed directly from the
model's own logits on the whole prompt; batching, grouping and candidate order do not change it; truncation
keeps the query and the template; errors name the problem."""
from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the seq2seq rerankers need the torch extra")
transformers = pytest.importorskip("transformers", reason="the seq2seq rerankers need the torch extra")

from rankwise.models import MissingExtraError  # noqa: E402
from rankwise.rerank.seq2seq import MonoT5Reranker, RankT5Reranker, Seq2SeqReranker  # noqa: E402
from rankwise.types import Query, Ranking, Run  # noqa: E402

WORDS = ("▁Query : ▁Document ▁Relevant ▁true ▁false ▁the ▁cat ▁cats ▁dog ▁dogs ▁eat ▁eats ▁fish ▁what ▁do "
         "▁does ▁a ▁is ▁bird ▁sing ▁sings ▁water ▁sleep ▁sleeps ▁small ▁animal ? .").split()
LETTERS = [c for c in "abcdefghijklmnopqrstuvwxyzQDR" if c not in WORDS]


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A T5ForConditionalGeneration with random weights and a T5-style (Unigram, whitespace-split) tokenizer
    that knows "▁true" / "▁false" and 20 sentinels, saved as a checkpoint folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("tiny-t5")
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(w, -3.0) for w in WORDS] + [(c, -8.0) for c in LETTERS]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(19, -1, -1)]  # T5 puts sentinels last, in reverse
    tk = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(single=["$A", "</s>"], special_tokens=[("</s>", 1)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=[f"<extra_id_{i}>" for i in range(20)],
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, initializer_factor=1.0,
    )
    transformers.T5ForConditionalGeneration(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def monot5(tiny_t5):
    return MonoT5Reranker(tiny_t5, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def reference(tiny_t5):
    """Logits of the first decoder step computed directly: whole prompt string, one pair at a time."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_t5)
    model = transformers.T5ForConditionalGeneration.from_pretrained(tiny_t5).eval()

    def first_step_logits(prompt: str) -> np.ndarray:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model(input_ids=ids, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long))
        return out.logits[0, 0].double().numpy()

    first_step_logits.tokenizer = tokenizer
    return first_step_logits


QUERIES = [Query("q1", "what do cats eat?"), Query("q2", "does a bird sing?"), Query("q3", "dogs sleep")]
DOCS = {
    "d1": "the cat eats fish.",
    "d2": "a bird sings",
    "d3": "dogs sleep",
    "d4": "water is a small animal",
    "d5": "the dog eats",
    "d6": "",
    "d7": "cats   sleep \t and eat fish",  # odd whitespace: must tokenize as in the whole prompt
}


def make_run(docids_by_query: dict[str, list[str]]) -> Run:
    return Run(
        Ranking(qid, ids, np.arange(len(ids), 0, -1, dtype=float), [DOCS[d] for d in ids])
        for qid, ids in docids_by_query.items()
    )


RUN = make_run({"q1": ["d1", "d2", "d3", "d4", "d7"], "q2": ["d2", "d5", "d6", "d1"], "q3": ["d3", "d4", "d5"]})


def token_id(tokenizer, token: str) -> int:
    return tokenizer.convert_tokens_to_ids(token)


def test_the_true_and_false_tokens_are_the_tokenizers_own(monot5, reference):
    tok = reference.tokenizer
    assert monot5.token_ids == (token_id(tok, "▁true"), token_id(tok, "▁false"))
    assert monot5._start_id == 0  # T5 decodes from <pad>


def test_score_is_the_log_odds_of_true_over_false(monot5, reference):
    tok = reference.tokenizer
    t, f = token_id(tok, "▁true"), token_id(tok, "▁false")
    for q in QUERIES:
        texts = list(DOCS.values())
        got = monot5.score(q, texts)
        expected = []
        for d in texts:
            logits = reference(f"Query: {q.text} Document: {d} Relevant:")
            expected.append(logits[t] - logits[f])
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
        assert np.ptp(got) > 1e-3  # the test model does tell documents apart, so equality is not vacuous


def test_log_prob_is_log_softmax_over_the_two_tokens(tiny_t5, reference):
    tok = reference.tokenizer
    t, f = token_id(tok, "▁true"), token_id(tok, "▁false")
    reranker = MonoT5Reranker(tiny_t5, score="log_prob", device="cpu")
    q = QUERIES[0]
    got = reranker.score(q, list(DOCS.values()))
    expected = []
    for d in DOCS.values():
        logits = torch.tensor(reference(f"Query: {q.text} Document: {d} Relevant:"))
        expected.append(torch.log_softmax(logits[[f, t]], dim=0)[1].item())  # pygaggle's formula
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    assert (got < 0).all()


def test_rankt5_score_is_the_logit_of_extra_id_10(tiny_t5, reference):
    tok = reference.tokenizer
    reranker = RankT5Reranker(tiny_t5, device="cpu")
    assert reranker.token_ids == (token_id(tok, "<extra_id_10>"),)
    q = QUERIES[1]
    got = reranker.score(q, list(DOCS.values()))
    expected = [reference(f"Query: {q.text} Document: {d}")[token_id(tok, "<extra_id_10>")] for d in DOCS.values()]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def scores_by_pair(run: Run) -> dict[tuple[str, str], float]:
    return {(qid, d): s for qid, r in run.items() for d, s in r}


def test_batching_grouping_and_order_do_not_change_scores(tiny_t5, monot5):
    together = monot5(QUERIES, RUN)
    alone = {q.qid: monot5.score(q, RUN[q.qid].texts) for q in QUERIES}
    for q in QUERIES:
        np.testing.assert_allclose(
            [dict(together[q.qid])[d] for d in RUN[q.qid].docids], alone[q.qid], atol=1e-5
        )
    reversed_run = make_run({qid: r.docids[::-1] for qid, r in RUN.items()})
    for batch_size in (1, 3, 64):
        other = MonoT5Reranker(tiny_t5, device="cpu", batch_size=batch_size, max_pairs_per_chunk=4)
        a, b = scores_by_pair(together), scores_by_pair(other(QUERIES[::-1], reversed_run))
        assert a.keys() == b.keys()
        np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-6, atol=1e-5)


def test_rerank_orders_by_score_in_trec_order(monot5):
    out = monot5(QUERIES, RUN)
    assert list(out) == ["q1", "q2", "q3"] and out.name == str(monot5)
    for q in QUERIES:
        ranking = out[q.qid]
        assert sorted(ranking.docids) == sorted(RUN[q.qid].docids)
        assert np.all(np.diff(ranking.scores) <= 0)
        assert ranking.texts == [DOCS[d] for d in ranking.docids]  # texts travel with their documents


def test_prompt_ids_equal_tokenizing_the_whole_prompt(monot5, reference):
    tok = reference.tokenizer
    for q in QUERIES:
        got = monot5.prompt_ids(q.text, list(DOCS.values()))
        expected = [tok(f"Query: {q.text} Document: {d} Relevant:").input_ids for d in DOCS.values()]
        assert got == expected


def test_a_100000_character_document_is_cut_and_the_query_and_template_kept(tiny_t5, reference):
    tok = reference.tokenizer
    reranker = MonoT5Reranker(tiny_t5, device="cpu", max_length=64)
    query = "what do cats eat?"
    long_doc = ("the cat eats fish " * 6000)[:100_000]
    assert len(long_doc) == 100_000
    (ids,) = reranker.prompt_ids(query, [long_doc])
    assert len(ids) == 64
    head = tok(f"Query: {query} Document:", add_special_tokens=False).input_ids
    tail = tok("Relevant:").input_ids  # ends with </s>
    assert ids[:len(head)] == head and ids[-len(tail):] == tail
    # Its score is that of the document cut to the tokens that fit (4 tokens per "the cat eats fish").
    kept_words = len(ids) - len(head) - len(tail)
    cut_doc = " ".join(long_doc.split()[:kept_words])
    np.testing.assert_allclose(
        reranker.score(Query("q", query), [long_doc]), reranker.score(Query("q", query), [cut_doc]), atol=1e-5
    )
    # At the default length the long document runs as well, with 512 encoder tokens.
    assert len(MonoT5Reranker(tiny_t5, device="cpu").prompt_ids(query, [long_doc])[0]) == 512


def test_a_query_longer_than_half_the_room_is_cut_to_half(tiny_t5, reference):
    reranker = MonoT5Reranker(tiny_t5, device="cpu", max_length=32)
    fixed = len(reference.tokenizer("Query: Document: Relevant:").input_ids)
    (ids,) = reranker.prompt_ids("what do cats eat " * 20, ["the cat eats fish"])
    assert len(ids) == fixed + (32 - fixed) // 2 + 4  # query cut to half the room; the document whole


def test_empty_candidate_lists(monot5):
    run = Run([Ranking("q1", [], []), RUN["q3"]])
    out = monot5([QUERIES[0], QUERIES[2], Query("q9", "not in the run")], run)
    assert len(out["q1"]) == 0 and len(out["q9"]) == 0 and len(out["q3"]) == 3
    assert monot5.score(QUERIES[0], []).shape == (0,)


def test_candidates_without_texts_name_the_fix(monot5):
    with pytest.raises(ValueError, match="with_texts"):
        monot5(QUERIES[:1], Run([Ranking("q1", ["d1"], [1.0])]))


def test_a_word_the_tokenizer_splits_is_refused(tiny_t5):
    with pytest.raises(ValueError, match=r"splits 'zebra' into \d+ tokens"):
        MonoT5Reranker(tiny_t5, tokens=("zebra", "false"), device="cpu")


def test_other_answer_words_can_be_chosen(tiny_t5, reference):
    tok = reference.tokenizer
    reranker = MonoT5Reranker(tiny_t5, tokens=("cats", "dogs"), device="cpu")
    assert reranker.token_ids == (token_id(tok, "▁cats"), token_id(tok, "▁dogs"))


@pytest.mark.parametrize(
    "template, message",
    [
        ("Query: {query} Relevant:", r"needs \{query\} and \{document\}"),
        ("Query:{query} Document: {document}", "separated from the text around it by spaces"),
        ("Query: {query!r} Document: {document}", "no format spec"),
    ],
)
def test_bad_templates_are_refused(tiny_t5, template, message):
    with pytest.raises(ValueError, match=message):
        MonoT5Reranker(tiny_t5, template=template, device="cpu")


def test_bad_options_are_refused(tiny_t5):
    with pytest.raises(ValueError, match="RankT5Reranker uses 'logit'"):
        MonoT5Reranker(tiny_t5, score="logit")
    with pytest.raises(ValueError, match="takes 2 token"):
        Seq2SeqReranker(tiny_t5, template="Query: {query} Document: {document}", score="log_odds", tokens=("true",))
    with pytest.raises(ValueError, match="dtype"):
        MonoT5Reranker(tiny_t5, dtype="int8")


def test_missing_torch_names_the_extra(monkeypatch, tiny_t5):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'rankwise\[torch\]'"):
        MonoT5Reranker(tiny_t5)


def test_a_checkpoint_with_missing_weights_is_refused(tiny_t5, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny_t5 / "model.safetensors"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((tiny_t5 / name).read_bytes())
    save_file({k: v for k, v in state.items() if "block.1." not in k}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="lacks .* weight"):
        MonoT5Reranker(tmp_path, device="cpu")


def test_a_model_folder_without_tokenizer_takes_one_named_apart(tiny_t5, tmp_path, monot5):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny_t5 / name).read_bytes())
    with pytest.raises(ValueError, match="pass tokenizer="):
        MonoT5Reranker(tmp_path, device="cpu")
    reranker = MonoT5Reranker(tmp_path, tokenizer=tiny_t5, device="cpu")
    np.testing.assert_allclose(reranker.score(QUERIES[0], list(DOCS.values())),
                               monot5.score(QUERIES[0], list(DOCS.values())), rtol=1e-6, atol=1e-5)
