"""Pointwise sequence-to-sequence rerankers: monoT5 and RankT5.

    monot5 = MonoT5Reranker("castorini/monot5-base-msmarco")      # or a local folder
    run = (bm25 % 100 >> monot5)(dataset.queries)

**monoT5** (Nogueira, Jiang, Pradeep & Lin, 2020, "Document Ranking with a Pretrained Sequence-to-Sequence
Model") reads ``Query: {q} Document: {d} Relevant:`` and was trained to answer ``true`` or ``false``. One
decoder step from the start token gives the logits of both words; the paper keeps only those two, applies a
softmax, and ranks by P(true). Scores here (``score=``):

- ``"log_odds"`` (default): logit(true) - logit(false) = log P(true) - log P(false) over that two-word softmax;
  ranks exactly as P(true) does and does not saturate (P(true) rounds to 1.0 for confident pairs);
- ``"log_prob"``: log P(true) over the two-word softmax, the value pygaggle (the authors' code) writes in runs.

**RankT5** (Zhuang et al., SIGIR 2023) reads ``Query: {q} Document: {d}`` and is trained with ranking losses
on the raw logit of one otherwise unused token at the first decoder step, ``<extra_id_10>`` in the reference
(TF-Ranking) code: ``score="logit"``.

The words are looked up in the model's own tokenizer: a word the tokenizer encodes as one token (T5's
``"true"`` -> ``▁true``, id 1176) or a vocabulary entry as written. Other checkpoints trained on other words
(mT5 rerankers on mMARCO answer ``yes`` / ``no``) take ``tokens=("yes", "no")``.

Batching: each query and each distinct candidate text is tokenized once (fast tokenizer, one call per list);
the prompt's token ids are assembled from those pieces, pairs from all queries of a call are sorted by length
and run in batches, so padding is small. Assembling pieces gives exactly the ids of tokenizing the whole
prompt for tokenizers that split on whitespace first (T5, mT5, Flan-T5 do); this is checked when the reranker
is built. Truncation keeps the query and the template: the document is cut to the room left in ``max_length``
(512) tokens; a query is cut only where it would take more than half of the room.

Model names resolve through :func:`rankwise.models.resolve` (local path, offline kit, hub). No T5 weights
exist in the offline kit: here the code is tested on a small randomly initialised T5, and no ranking quality
was measured.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Sequence

import numpy as np

from rankwise.models import require, resolve
from rankwise.pipeline import Reranker, require_texts, rerank_in_chunks
from rankwise.progress import progress
from rankwise.types import Query, Ranking, Run

MONOT5_TEMPLATE = "Query: {query} Document: {document} Relevant:"
RANKT5_TEMPLATE = "Query: {query} Document: {document}"
SCORES = ("log_odds", "log_prob", "logit")
DTYPES = ("float32", "bfloat16", "float16")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _template_parts(template: str) -> list[str]:
    """``[literal, field, literal, field, literal]`` with fields ``{query}`` and ``{document}`` once each."""
    parts: list[str] = []
    fields = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            if spec or conversion:
                raise ValueError(f"template field {{{field}}} takes no format spec or conversion: {template!r}")
            parts.append("{" + field + "}")
            fields.append(field)
    if sorted(fields) != ["document", "query"]:
        raise ValueError(
            f"the template needs {{query}} and {{document}} once each; got fields {fields} in {template!r}"
        )
    if parts[-1].startswith("{"):
        parts.append("")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            before, after = parts[i - 1], parts[i + 1]
            if (before and not before[-1].isspace()) or (after and not after[0].isspace()):
                raise ValueError(
                    f"in the template {template!r}, {part} must be separated from the text around it by spaces "
                    "(so that tokenizing the pieces gives the ids of tokenizing the whole prompt)"
                )
    return parts


class Seq2SeqReranker(Reranker):
    """Score each (query, document) pair from the logits of chosen tokens at the first decoder step.

    Args:
        model: hub name or local folder of a T5-style encoder-decoder (``AutoModelForSeq2SeqLM``).
        template: the prompt, with ``{query}`` and ``{document}``.
        score: ``"log_odds"`` / ``"log_prob"`` (two tokens: the positive and the negative answer) or
            ``"logit"`` (one token); see the module docstring.
        tokens: the answer words, e.g. ``("true", "false")`` or ``("<extra_id_10>",)``.
        tokenizer: name or folder of the tokenizer when the model folder has none.
        batch_size: pairs per forward pass; max_length: encoder input length (tokens).
        device: torch device (default: CUDA when available); dtype: ``"float32"`` (default), ``"bfloat16"``
            or ``"float16"``.
        max_pairs_per_chunk: pairs tokenized and held at once (queries are taken in groups of about this many).
    """

    name = "seq2seq"

    def __init__(
        self,
        model: str | Path,
        *,
        template: str,
        score: str,
        tokens: Sequence[str],
        tokenizer: str | Path | None = None,
        batch_size: int = 16,
        max_length: int = 512,
        device: str | None = None,
        dtype: str = "float32",
        max_pairs_per_chunk: int = 20_000,
    ):
        if score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(map(repr, SCORES))}; got {score!r}")
        needed = 1 if score == "logit" else 2
        if isinstance(tokens, str) or len(tokens) != needed:
            raise ValueError(f"score={score!r} takes {needed} token(s); got tokens={tokens!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {dtype!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.template, self.score_kind, self.batch_size = template, score, int(batch_size)
        self.max_length, self.max_pairs_per_chunk = int(max_length), int(max_pairs_per_chunk)
        self._parts = _template_parts(template)

        purpose = f"the {type(self).__name__}"
        self._torch = torch = require("torch", "torch", purpose)
        transformers = require("transformers", "torch", purpose)
        self.resolved = resolve(model)
        folder = self.resolved.path
        # A tokenizer named apart is passed to transformers as is: it fetches only the tokenizer files (resolving
        # it as a model would download the whole repository, weights included).
        tok_source = folder if tokenizer is None else (Path(tokenizer) if Path(tokenizer).exists() else str(tokenizer))
        hint = ("pass tokenizer='google-t5/t5-base' (monoT5 and RankT5 use T5's vocabulary) or a local tokenizer "
                "folder")
        # transformers builds an empty tokenizer for a folder holding only config.json: refuse that first.
        if isinstance(tok_source, Path) and tok_source.is_dir() and not any(
            (tok_source / name).is_file() for name in TOKENIZER_FILES
        ):
            raise ValueError(f"{tok_source} holds no tokenizer (none of {', '.join(TOKENIZER_FILES)}); {hint}")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(tok_source)
        except Exception as e:  # a format this transformers cannot read, or a hub name not found
            raise ValueError(
                f"cannot load a tokenizer from {tok_source} ({type(e).__name__}: {str(e)[:200]}); {hint}"
            ) from None
        # Everything the tokenizer decides is checked before the (possibly large) model is loaded.
        self.tokens = tuple(tokens)
        self.token_ids = tuple(self._token_id(t) for t in tokens)
        if len(set(self.token_ids)) != len(self.token_ids):
            raise ValueError(f"tokens {self.tokens} map to the same id {self.token_ids[0]}")
        self._prepare_pieces()

        loaded, info = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder, output_loading_info=True)
        tied = {"lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
        missing = [k for k in info.get("missing_keys", ())
                   if not (k in tied and getattr(loaded.config, "tie_word_embeddings", False))]
        if missing:
            raise ValueError(
                f"{folder}: the checkpoint lacks {len(missing)} weight(s) (e.g. {sorted(missing)[0]!r}): "
                "they would be random; is it a T5-style encoder-decoder?"
            )
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = loaded.to(dtype=getattr(torch, dtype), device=self.device).eval()
        config = loaded.config
        start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.pad_token_id
        if start is None:
            raise ValueError(f"{folder}: the config names no decoder_start_token_id or pad_token_id")
        self._start_id = int(start)

        vocab = loaded.get_output_embeddings().weight.shape[0]
        if max(self.token_ids) >= vocab:
            raise ValueError(f"token ids {self.token_ids} exceed the model's output vocabulary ({vocab})")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.resolved.name!r}, source={self.resolved.source!r}, "
                f"score={self.score_kind!r}, tokens={self.tokens}, max_length={self.max_length})")

    # --- tokenization -----------------------------------------------------------------------------------------
    def _encode(self, texts: list[str], max_length: int | None = None) -> list[list[int]]:
        if not texts:
            return []
        options = {"truncation": True, "max_length": max_length} if max_length is not None else {}
        return self.tokenizer(texts, add_special_tokens=False, **options)["input_ids"]

    def _token_id(self, word: str) -> int:
        """The id the model emits for ``word``: the one token the tokenizer encodes it as, or the vocabulary
        entry spelled exactly so."""
        ids = self._encode([word])[0]
        if len(ids) == 1:
            return int(ids[0])
        exact = self.tokenizer.convert_tokens_to_ids(word)
        if isinstance(exact, int) and exact != self.tokenizer.unk_token_id:
            return exact
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(
            f"the tokenizer of {self.resolved.name} splits {word!r} into {len(ids)} tokens {pieces} and has no "
            f"vocabulary entry {word!r}; pass tokens= with words that are single tokens of this tokenizer"
        )

    def _prepare_pieces(self) -> None:
        with_special = self._encode_special("a")
        bare = self._encode(["a"])[0]
        at = next(i for i in range(len(with_special)) if with_special[i:i + len(bare)] == bare)
        self._prefix, self._suffix = with_special[:at], with_special[at + len(bare):]
        literals = [p for p in self._parts if not p.startswith("{")]
        self._literal_ids = dict(zip(literals, self._encode([p.strip() for p in literals])))
        fixed = len(self._prefix) + len(self._suffix) + sum(len(v) for v in self._literal_ids.values())
        self._room = self.max_length - fixed
        if self._room < 2:
            raise ValueError(
                f"max_length={self.max_length} leaves no room for text after the template ({fixed} tokens)"
            )
        # Assembling pieces must give the ids of the whole prompt: true for tokenizers that split on whitespace.
        probe = ("what is a cat?", "A cat is  a small\tanimal.")
        whole = self._encode_special(self.template.format(query=probe[0], document=probe[1]))
        assembled = self._assemble(self._encode([probe[0]])[0], self._encode([probe[1]])[0])
        if whole != assembled:
            raise ValueError(
                f"the tokenizer of {self.resolved.name} does not tokenize the prompt piece by piece (it does not split "
                "on whitespace first), which this reranker relies on; T5-family tokenizers do"
            )

    def _encode_special(self, text: str) -> list[int]:
        return self.tokenizer([text], add_special_tokens=True)["input_ids"][0]

    def _assemble(self, query_ids: list[int], doc_ids: list[int]) -> list[int]:
        out = list(self._prefix)
        for part in self._parts:
            if part == "{query}":
                out += query_ids
            elif part == "{document}":
                out += doc_ids
            else:
                out += self._literal_ids[part]
        return out + self._suffix

    def prompt_ids(self, query: str, documents: Sequence[str]) -> list[list[int]]:
        """The encoder input ids of each (query, document) prompt, truncated as the module docstring says."""
        q_ids = self._encode([query], self._room // 2)[0]
        budget = self._room - len(q_ids)
        return [self._assemble(q_ids, d[:budget]) for d in self._encode(list(documents), self._room)]

    # --- scoring ----------------------------------------------------------------------------------------------
    def _scores_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """``logits``: (pairs, len(tokens)) float64 at the first decoder step."""
        if self.score_kind == "logit":
            return logits[:, 0]
        log_odds = logits[:, 0] - logits[:, 1]
        if self.score_kind == "log_odds":
            return log_odds
        return -np.logaddexp(0.0, -log_odds)  # log P(true) = log sigmoid(log-odds), stable for large |x|

    def _run(self, sequences: list[list[int]]) -> np.ndarray:
        """Scores of encoder inputs, in batches of similar length."""
        torch = self._torch
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        order = np.argsort(lengths, kind="stable")
        picked = np.empty((len(sequences), len(self.token_ids)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        token_ids = torch.tensor(self.token_ids, device=self.device)
        starts = range(0, len(order), self.batch_size)
        for start in progress(starts, desc=f"rerank ({self.name})", total=len(starts), unit="batch"):
            batch = order[start:start + self.batch_size]
            width = int(lengths[batch].max())
            ids = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch.tolist()):
                ids[row, :lengths[i]] = sequences[i]
                mask[row, :lengths[i]] = 1
            decoder = torch.full((len(batch), 1), self._start_id, dtype=torch.long, device=self.device)
            with torch.inference_mode():
                logits = self.model(input_ids=torch.from_numpy(ids).to(self.device),
                                    attention_mask=torch.from_numpy(mask).to(self.device),
                                    decoder_input_ids=decoder).logits[:, 0, :]
                picked[batch] = logits.index_select(1, token_ids).double().cpu().numpy()
        return self._scores_from_logits(picked)

    def score(self, query: Query, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros(0, dtype=np.float64)
        return self._run(self.prompt_ids(query.text, texts))

    def rerank_batch(self, queries: Sequence[Query], run: Run) -> Run:
        return rerank_in_chunks(queries, run, self.max_pairs_per_chunk, self._rerank_chunk, self.name)

    def _rerank_chunk(self, chunk: list[tuple[Query, Ranking]], out: dict[str, Ranking]) -> None:
        # Each distinct text is tokenized once: all candidate texts in one call, all queries in another.
        slot: dict[str, int] = {}
        positions = []
        for _, candidates in chunk:
            positions.append([slot.setdefault(t, len(slot)) for t in require_texts(candidates, self)])
        doc_ids = self._encode(list(slot), self._room)
        query_texts = list(dict.fromkeys(q.text for q, _ in chunk))
        query_ids = dict(zip(query_texts, self._encode(query_texts, self._room // 2)))
        sequences = []
        for (q, _), pos in zip(chunk, positions):
            q_ids = query_ids[q.text]
            budget = self._room - len(q_ids)
            sequences += [self._assemble(q_ids, doc_ids[i][:budget]) for i in pos]
        scores = self._run(sequences)
        start = 0
        for (q, candidates), pos in zip(chunk, positions):
            out[q.qid] = Ranking(q.qid, candidates.docids, scores[start:start + len(pos)], candidates.texts)
            start += len(pos)


class MonoT5Reranker(Seq2SeqReranker):
    """monoT5: ``Query: … Document: … Relevant:``, scored from the "true" and "false" logits (module docstring).

    ``score="log_odds"`` (default) or ``"log_prob"`` (pygaggle's log P(true))."""

    name = "monot5"

    def __init__(self, model: str | Path = "castorini/monot5-base-msmarco", *, score: str = "log_odds",
                 tokens: Sequence[str] = ("true", "false"), template: str = MONOT5_TEMPLATE, **options):
        if score not in ("log_odds", "log_prob"):
            raise ValueError(f"monoT5 scores are 'log_odds' or 'log_prob'; got {score!r} (RankT5Reranker uses 'logit')")
        super().__init__(model, template=template, score=score, tokens=tokens, **options)


class RankT5Reranker(Seq2SeqReranker):
    """RankT5 (encoder-decoder): ``Query: … Document: …``, scored by the logit of ``<extra_id_10>``."""

    name = "rankt5"

    def __init__(self, model: str | Path = "Soyoung97/RankT5-base", *, token: str = "<extra_id_10>",
                 template: str = RANKT5_TEMPLATE, **options):
        super().__init__(model, template=template, score="logit", tokens=(token,), **options)


__all__ = ["MONOT5_TEMPLATE", "RANKT5_TEMPLATE", "MonoT5Reranker", "RankT5Reranker", "Seq2SeqReranker"]
