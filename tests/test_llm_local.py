"""The local transformers engine on the offline kit's SmolLM2-135M-Instruct: its numbers against plain forward
passes computed here, and every strategy end to end on real DL19 candidates (top-5, CPU)."""
from __future__ import annotations

import math

import pytest
from conftest import OFF_TOPIC, RELEVANT, ZEBRA, shared_path

from rankwise import models

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from rankwise.rerank.llm import (  # noqa: E402
    STRATEGIES,
    FirstReranker,
    ListwiseReranker,
    PointwiseReranker,
    Prompt,
    Segment,
    get_template,
    make_reranker,
)
from rankwise.types import Run  # noqa: E402


def chat_ids(llm, prompt) -> list[int]:
    """The prompt's tokens computed independently: the tokenizer's own chat template, tokenized at once."""
    messages = [{"role": r, "content": c} for r, c in prompt.messages]
    out = llm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = out["input_ids"] if not isinstance(out, list) else out
    return list(ids) + llm.encode(prompt.prefix) if prompt.prefix else list(ids)


def next_token_logprobs(llm, ids):
    with torch.no_grad():
        return torch.log_softmax(llm.model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)


@pytest.mark.parametrize("reuse", [True, False])
def test_label_logprobs_equal_a_plain_forward_pass(smol, reuse):
    template = get_template("yes-no")
    prompts = [template.render_single(ZEBRA, t) for t in (RELEVANT, OFF_TOPIC, "Zebras live in Africa.")]
    smol.prefix_reuse = reuse
    try:
        results = smol.label_logprobs(prompts, ["Yes", "No"])
    finally:
        smol.prefix_reuse = True
    for prompt, result in zip(prompts, results):
        ids = chat_ids(smol, prompt)
        assert result.usage.prompt_tokens == len(ids)
        expected = next_token_logprobs(smol, ids)
        for label in ("Yes", "No"):
            tokens = sorted({smol.encode(label)[0], smol.encode(" " + label)[0]})
            want = float(torch.logsumexp(expected[tokens], dim=0))
            assert result.logprobs[label] == pytest.approx(want, abs=2e-4)
    # system text + query are shared: computed once (charged to the first prompt), then reused by the others
    assert [r.usage.cached_tokens > 20 for r in results] == [False, reuse, reuse]
    assert sum(r.usage.forward_passes for r in results) == 3 + int(reuse)  # + the shared prefix's own pass


def test_continuation_logprobs_equal_a_plain_forward_pass_and_prefer_the_relevant_passage(smol):
    template = get_template("upr")
    pairs = [template.render_likelihood(ZEBRA, t) for t in (RELEVANT, OFF_TOPIC)]
    results = smol.continuation_logprobs([p for p, _ in pairs], [c for _, c in pairs])
    for (prompt, continuation), result in zip(pairs, results):
        head = smol.tokenizer(prompt.text)["input_ids"]
        tail = smol.encode(continuation)
        with torch.no_grad():
            logits = smol.model(torch.tensor([head + tail])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        want = [float(logprobs[len(head) - 1 + k, t]) for k, t in enumerate(tail)]
        assert result.token_logprobs == pytest.approx(want, abs=2e-4)
    assert results[0].mean > results[1].mean  # query likelihood orders the zebra passage first (MODELS.md)


def test_batched_generation_equals_one_by_one(smol):
    template = get_template("rankzephyr")
    prompts = [template.render_list(ZEBRA, [RELEVANT, OFF_TOPIC])[0],
               template.render_list("stock markets", [OFF_TOPIC, RELEVANT, "Bonds rallied."])[0]]
    together = smol.generate(prompts, 12)
    alone = [smol.generate([p], 12)[0] for p in prompts]
    assert [g.text for g in together] == [g.text for g in alone]
    for g, p in zip(together, prompts):
        assert g.usage.prompt_tokens == len(chat_ids(smol, p))
        assert 1 <= g.usage.completion_tokens == g.usage.forward_passes <= 12


def test_attention_rows_sum_to_one_per_layer_and_head(smol):
    segments = [Segment("Paragraph: ", "intro"), Segment(RELEVANT, "doc:0"), Segment(" ", "gap"),
                Segment(OFF_TOPIC, "doc:1"), Segment(" Query: ", "lead"), Segment(ZEBRA, "query")]
    result = smol.attention(segments, "query", chat=False)
    assert result.source_tokens == len(smol.encode(ZEBRA))  # no chat template: the query ends the prompt
    config = smol.model.config
    # every source token's attention over the (causal) prompt sums to 1 in each layer and head
    total = result.source_tokens * config.num_hidden_layers * config.num_attention_heads
    assert sum(result.mass.values()) == pytest.approx(total, rel=1e-4)
    assert result.usage.forward_passes == 1
    assert smol.model.config._attn_implementation != "eager"  # restored after reading attention


def eager_attention(llm, ids: list[int], start: int):
    """Attention from positions start.. to every position, summed over layers, heads and those rows: one plain
    eager forward pass over the whole prompt, computed here."""
    previous = llm.model.config._attn_implementation
    llm.model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = llm.model(torch.tensor([ids]), output_attentions=True)
    finally:
        llm.model.set_attn_implementation(previous)
    return sum(a[0, :, start:, :].double().sum(dim=(0, 1)) for a in out.attentions).numpy()


def test_icr_attention_per_token_equals_a_plain_eager_pass_with_and_without_the_shared_prefix(smol):
    template = get_template("icr")
    prompts = [template.icr_segments(q, [RELEVANT, OFF_TOPIC]) for q in (ZEBRA, "N/A")]
    shared = smol.attention_batch(prompts, "query")
    alone = [smol.attention(p, "query") for p in prompts]
    for segments, a, b in zip(prompts, shared, alone):
        ids, spans = smol._segment_ids(segments, chat=True)
        text = "".join(s.text for s in segments)
        assert smol.tokenizer.decode(ids) == smol.render(Prompt.chat([("user", text)]))
        s0 = spans["query"][0]
        # the query span: the closing instruction, the query and the chat template's end of turn
        assert smol.tokenizer.decode(ids[s0:]).startswith("Please find information")
        assert smol.tokenizer.decode(ids[s0:]).endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert smol.tokenizer.decode(ids[slice(*spans["doc:0"])]) == "[1] " + RELEVANT
        want = eager_attention(smol, ids, s0)
        for result in (a, b):
            assert result.source_tokens == len(ids) - s0
            for name, (lo, hi) in spans.items():
                assert result.tokens[name] == pytest.approx(want[lo:hi], rel=1e-3, abs=1e-4)
    assert shared[0].usage.forward_passes == 2 and shared[1].usage.cached_tokens > 40
    assert shared[0].usage.cached_tokens == 0 and alone[1].usage.cached_tokens == 0


def test_truncation_cuts_at_token_boundaries(smol):
    text = RELEVANT + " " + OFF_TOPIC
    cut = smol.truncate_text(text, 7)
    assert text.startswith(cut) and smol.count_tokens(cut) == 7
    assert smol.truncate_text("short", 50) == "short"


def test_gguf_is_converted_once_to_a_cached_folder(smol):
    from rankwise.rerank.llm.local import gguf_to_folder

    resolved = models.resolve("HuggingFaceTB/SmolLM2-135M-Instruct")
    folder = gguf_to_folder(resolved.file, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
    assert gguf_to_folder(resolved.file, "HuggingFaceTB/SmolLM2-135M-Instruct") == folder


# --- every strategy end to end on real candidates -------------------------------------------------------------------
@pytest.fixture(scope="module")
def dl19_top5():
    from rankwise.io import read_candidates

    queries, run = read_candidates(shared_path("dl19", "bm25_top100.json"))
    queries = queries[:1]
    return queries, Run((run[q.qid].top(5) for q in queries), name="bm25")


OPTIONS = {
    "llm:pointwise": {"method": "yes-no"},
    "llm:pairwise": {"method": "allpairs"},
    "llm:setwise": {"method": "bubble", "set_size": 5, "passes": 1},
    "llm:listwise": {"window": 5, "step": 2},
    "llm:first": {"window": 5, "step": 2},
    "llm:full-list": {"window": 5, "step": 2},
    "llm:icr": {},
    "llm:insertrank": {"window": 5, "step": 2},
    "llm:reasoning": {"method": "bubble", "set_size": 5, "passes": 1, "reasoning_tokens": 12},
    "llm:reasoning-listwise": {"window": 5, "step": 2, "reasoning_tokens": 12},
}
EXPECTED_CALLS = {  # per query of 5 candidates
    "llm:pointwise": 5, "llm:pairwise": 20, "llm:setwise": 1, "llm:listwise": 1, "llm:first": 1, "llm:full-list": 1,
    "llm:icr": 2, "llm:insertrank": 1, "llm:reasoning": 1, "llm:reasoning-listwise": 1,
}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_runs_on_the_real_model(smol, dl19_top5, name):
    queries, top = dl19_top5
    reranker = make_reranker(name, smol, max_passage_tokens=48, **OPTIONS[name])  # short prompts: a fast test
    reranked = reranker(queries, top)
    for q in queries:
        assert sorted(reranked[q.qid].docids) == sorted(top[q.qid].docids)  # a permutation of the candidates
    totals = reranker.costs.totals()
    assert totals["calls"] == EXPECTED_CALLS[name] * len(queries) and totals["errors"] == 0
    assert totals["prompt_tokens"] > 0 and totals["queries"] == len(queries)
    assert all(r.latency_s > 0 for r in reranker.costs.records)


def test_recorded_tokens_are_the_prompts_tokens(smol, dl19_top5):
    queries, top = dl19_top5
    q = queries[0]
    listwise = ListwiseReranker(smol, window=5, step=2, max_passage_tokens=48)
    listwise.rerank(q, top[q.qid])
    texts = [smol.truncate_text(t, 48) for t in top[q.qid].texts]
    prompt, _ = listwise.render(q.text, texts)
    record = listwise.costs.records[0]
    assert record.prompt_tokens == len(chat_ids(smol, prompt))
    assert record.completion_tokens <= listwise.answer_tokens(5) and record.forward_passes == record.completion_tokens
    first = FirstReranker(smol, window=5, step=2, max_passage_tokens=48)
    first.rerank(q, top[q.qid])
    assert [(r.completion_tokens, r.forward_passes) for r in first.costs.records] == [(0, 1)]


def test_pointwise_with_and_without_prefix_reuse_rank_alike(smol, dl19_top5):
    queries, top = dl19_top5
    q = queries[0]
    with_reuse = PointwiseReranker(smol, method="yes-no", max_passage_tokens=48).rerank(q, top[q.qid])
    smol.prefix_reuse = False
    try:
        without = PointwiseReranker(smol, method="yes-no", max_passage_tokens=48).rerank(q, top[q.qid])
    finally:
        smol.prefix_reuse = True
    assert with_reuse.scores == pytest.approx(without.scores, abs=1e-3)
    assert not math.isnan(float(with_reuse.scores.sum()))
