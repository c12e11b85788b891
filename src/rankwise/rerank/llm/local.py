"""A local causal LM through transformers (CPU, or CUDA when present): generation, next-token log-probabilities,
continuation log-probabilities and attention weights, in batches.

Prefix reuse: when a batch of prompts shares a token prefix (pointwise prompts of one query put the instruction and
the query first), the prefix is run once and its KV cache is copied for every prompt, so only each prompt's own
suffix is computed. The answers are those of full forward passes (to float rounding); ``Usage.cached_tokens`` says
how many prompt tokens came from the cache.

Models: a hub name, a local folder, or a GGUF file or folder (read with the ``gguf`` package, dequantised and saved
once as safetensors under ``$RANKWISE_CACHE/models`` — ~25 s the first time, well under a second afterwards). The
offline kit's ``HuggingFaceTB/SmolLM2-135M-Instruct`` is found without network (``rankwise.models.resolve``).
"""
from __future__ import annotations

import copy
import inspect
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rankwise.models import require, resolve
from rankwise.rerank.llm.backends import (
    LLM,
    AttentionScores,
    ContinuationScores,
    Generation,
    LabelScores,
    Prompt,
    Segment,
    Usage,
    logsumexp,
)

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def models_cache() -> Path:
    from rankwise.datasets import cache_dir

    return cache_dir() / "models"


def gguf_to_folder(gguf_path: Path, name: str) -> Path:
    """A safetensors folder converted once from a GGUF file (cached by file name and size)."""
    transformers = require("transformers", "llm", "loading a GGUF model")
    require("gguf", "llm", "loading a GGUF model")
    stat = gguf_path.stat()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-")
    target = models_cache() / f"{safe}--{gguf_path.stem}-{stat.st_size}"
    if (target / "config.json").is_file():
        return target
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, file = str(gguf_path.parent), gguf_path.name
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=file)
    config = transformers.AutoConfig.from_pretrained(folder, gguf_file=file)
    model = transformers.AutoModelForCausalLM.from_config(config)
    # transformers' own GGUF reader gives the dequantised tensors under the model's parameter names (going through
    # from_pretrained(gguf_file=…) would also need `accelerate`).
    tensors = load_gguf_checkpoint(str(gguf_path), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = getattr(config, "tie_word_embeddings", False)
    if unexpected or [m for m in missing if not (tied and m == "lm_head.weight")]:
        raise RuntimeError(f"{gguf_path}: the GGUF tensors do not match the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    if tied:
        model.tie_weights()
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)  # atomic: a half-written folder is never taken for a model
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


class LocalLLM(LLM):
    """A transformers causal LM (module docs).

    Args:
        model: hub name, local folder, or GGUF file/folder (default: the offline kit's SmolLM2-135M-Instruct).
        device: ``cpu``, ``cuda``… (default: CUDA when available).
        dtype: torch dtype name (default float32 on CPU, bfloat16 on CUDA).
        batch_size: prompts per forward pass.
        prefix_reuse: compute a prefix shared by a batch's prompts once (KV cache), when it has at least
            ``min_prefix_tokens`` tokens.
        context_length: override the model's ``max_position_embeddings``.
    """

    capabilities = frozenset({"generate", "labels", "continuation", "attention"})

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 8, prefix_reuse: bool = True, min_prefix_tokens: int = 16,
                 context_length: int | None = None):
        self._built_by = (LocalLLM, (model,), dict(device=device, dtype=dtype, batch_size=batch_size,
                                                    prefix_reuse=prefix_reuse, min_prefix_tokens=min_prefix_tokens,
                                                    context_length=context_length))
        torch = require("torch", "llm", "a local LLM")
        transformers = require("transformers", "llm", "a local LLM")
        self.torch = torch
        resolved = resolve(model, family="llm")
        path = resolved.path
        if resolved.format == "gguf":
            gguf = resolved.file or (path if path.is_file() else next(iter(sorted(path.glob("*.gguf")))))
            path = gguf_to_folder(Path(gguf), str(model))
        self.name = str(model)
        self.source = resolved.source
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        self.model = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.pad_id = self.tokenizer.pad_token_id
        self.eos_ids = self._eos_ids()
        self.batch_size = int(batch_size)
        self.prefix_reuse = bool(prefix_reuse)
        self.min_prefix_tokens = int(min_prefix_tokens)
        self.context_length = int(context_length or getattr(self.model.config, "max_position_embeddings", 2048))
        self.decoder = self.model.get_decoder()
        self.head = self.model.get_output_embeddings()
        params = inspect.signature(self.decoder.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5
        self._label_ids: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"LocalLLM({self.name!r}, device={self.device!r})"

    def _eos_ids(self) -> list[int]:
        ids = set()
        gen = getattr(self.model, "generation_config", None)
        for value in (getattr(gen, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(value)
        for token in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return sorted(ids)

    # --- tokens --------------------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def truncate_text(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= max_tokens:
            return text
        return text[: offsets[max_tokens - 1][1]]

    def render(self, prompt: Prompt) -> str:
        """The prompt as the model reads it: chat template applied (with the generation prompt), then the prefix."""
        if not prompt.is_chat:
            return prompt.text or ""
        messages = [{"role": r, "content": c} for r, c in prompt.messages]
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = "".join(f"{r}: {c}\n\n" for r, c in prompt.messages) + "assistant: "
        return text + prompt.prefix

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        text = self.render(prompt)
        if prompt.is_chat:  # the chat template writes its special tokens itself
            return self.encode(text)
        return self.tokenizer(text)["input_ids"]

    def prompt_tokens(self, prompt: Prompt) -> int:
        return len(self.prompt_ids(prompt))

    # --- generation ----------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        torch = self.torch
        from transformers import GenerationConfig

        config = GenerationConfig(max_new_tokens=max(int(max_tokens), 1), do_sample=False, pad_token_id=self.pad_id,
                                  eos_token_id=self.eos_ids)
        out: list[Generation | None] = [None] * len(prompts)
        encoded = [self.prompt_ids(p) for p in prompts]
        for batch in self._batches(encoded):
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # left padding: every prompt ends where generation starts
                seq = encoded[i]
                ids[row, width - len(seq):] = torch.tensor(seq)
                mask[row, width - len(seq):] = 1
            start = time.perf_counter()
            with torch.no_grad():
                generated = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                                generation_config=config)
            latency = (time.perf_counter() - start) / len(batch)
            for row, i in enumerate(batch):
                new = generated[row, width:].tolist()
                n = len(new)
                for k, t in enumerate(new):
                    if t in self.eos_ids:
                        n = k + 1  # the end token was produced by a forward pass too
                        break
                text = self.tokenizer.decode([t for t in new[:n] if t not in self.eos_ids], skip_special_tokens=True)
                for s in stop:
                    if s and s in text:
                        text = text[: text.index(s)]
                out[i] = Generation(text, Usage(len(encoded[i]), n, n, latency))
        return out  # type: ignore[return-value]

    # --- scoring -------------------------------------------------------------------------------------------------
    def _batches(self, seqs: list[list[int]]) -> list[list[int]]:
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together: less padding
        return [order[s: s + self.batch_size] for s in range(0, len(order), self.batch_size)]

    def _shared_prefix(self, seqs: list[list[int]], limit: int) -> "_Prefix":
        """The token prefix all of ``seqs`` share, cut to at most ``limit`` tokens, run once into a KV cache — when
        prefix reuse is on, there are at least two sequences and the prefix has ``min_prefix_tokens`` tokens (else
        an empty prefix). The one prefix-reuse path of this engine: scoring and attention both use it."""
        shared = min(_common_prefix(seqs), limit) if self.prefix_reuse and len(seqs) > 1 else 0
        if shared < self.min_prefix_tokens:
            return _Prefix(0, None, None, 0.0)
        torch = self.torch
        start = time.perf_counter()
        with torch.no_grad():
            result = self.decoder(input_ids=torch.tensor([seqs[0][:shared]], device=self.device), use_cache=True)
        cache = getattr(result, "cache", None)
        if cache is None:
            cache = result.past_key_values
        return _Prefix(shared, cache, result.last_hidden_state[0], time.perf_counter() - start)

    def _after(self, prefix: "_Prefix", rows: int) -> dict:
        """Keyword arguments that continue ``rows`` sequences from a copy of the prefix's cache."""
        if not prefix.length:
            return {}
        cache = copy.deepcopy(prefix.cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        return {self._cache_kw: cache, "use_cache": True}

    @staticmethod
    def _usages(seqs: list[list[int]], prefix: "_Prefix") -> list[Usage]:
        """One usage per sequence: the prefix's pass (and its seconds) is charged to the first sequence; the others
        count the prefix's tokens as cached (computed once, used again)."""
        usages = [Usage(len(s), 0, 1, 0.0, prefix.length if k else 0) for k, s in enumerate(seqs)]
        if prefix.length and usages:
            usages[0].forward_passes += 1
            usages[0].latency_s += prefix.seconds
        return usages

    def _hidden_at(self, seqs: list[list[int]], positions: list[list[int]]):
        """Final hidden states at the requested positions of each sequence, and each sequence's usage."""
        torch = self.torch
        # every sequence keeps a token of its own after the shared prefix
        prefix = self._shared_prefix(seqs, min(len(s) for s in seqs) - 1)
        offset = prefix.length
        out: list = [None] * len(seqs)
        usages = self._usages(seqs, prefix)
        with torch.no_grad():
            for batch in self._batches(seqs):
                start = time.perf_counter()
                parts = [seqs[i][offset:] for i in batch]
                width = max(len(p) for p in parts)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), offset + width), dtype=torch.long)
                mask[:, :offset] = 1
                for row, part in enumerate(parts):  # right padding: real tokens keep their positions
                    ids[row, : len(part)] = torch.tensor(part)
                    mask[row, offset: offset + len(part)] = 1
                hidden = self.decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      **self._after(prefix, len(batch))).last_hidden_state
                for row, i in enumerate(batch):
                    rows = [prefix.hidden[p] if p < offset else hidden[row, p - offset] for p in positions[i]]
                    out[i] = torch.stack(rows)
                    usages[i].latency_s += (time.perf_counter() - start) / len(batch)
        return out, usages

    def _logprobs_at(self, seqs, positions):
        hidden, usages = self._hidden_at(seqs, positions)
        with self.torch.no_grad():
            return [self.torch.log_softmax(self.head(h).float(), dim=-1) for h in hidden], usages

    def label_ids(self, label: str) -> list[int]:
        """Tokens that start ``label`` as the next token: its first token with and without a leading space."""
        if label not in self._label_ids:
            ids = {ids[0] for ids in (self.encode(label), self.encode(" " + label)) if ids}
            self._label_ids[label] = sorted(ids)
        return self._label_ids[label]

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[LabelScores]:
        seqs = [self.prompt_ids(p) for p in prompts]
        rows, usages = self._logprobs_at(seqs, [[len(s) - 1] for s in seqs])
        out = []
        for row, usage in zip(rows, usages):
            values = row[0].tolist()
            logprobs = {label: logsumexp([values[t] for t in self.label_ids(label)]) for label in labels}
            out.append(LabelScores(logprobs, usage))
        return out

    def continuation_logprobs(self, prompts: Sequence[Prompt],
                              continuations: Sequence[str]) -> list[ContinuationScores]:
        heads = [self.prompt_ids(p) for p in prompts]
        tails = [self.encode(c) for c in continuations]
        seqs = [h + t for h, t in zip(heads, tails)]
        positions = [list(range(len(h) - 1, len(h) + len(t) - 1)) for h, t in zip(heads, tails)]
        rows, usages = self._logprobs_at(seqs, positions)
        out = []
        for row, tail, usage in zip(rows, tails, usages):
            values = [float(row[k, t]) for k, t in enumerate(tail)]
            out.append(ContinuationScores(values, usage))
        return out

    # --- for the test server ------------------------------------------------------------------------------------
    def sequence_logprobs(self, ids: list[int]) -> list[float | None]:
        """log p(token_i | tokens before it) for every token (None for the first)."""
        if len(ids) < 2:
            return [None] * len(ids)
        rows, _ = self._logprobs_at([ids], [list(range(len(ids) - 1))])
        return [None] + [float(rows[0][k, t]) for k, t in enumerate(ids[1:])]

    def generate_ids(self, ids: list[int], max_tokens: int, top_k: int = 0):
        """Greedy generation from token ids: (new ids up to and including an end token, each step's top-k
        ``[(token id, logprob)]``, each chosen token's logprob)."""
        torch = self.torch
        from transformers import GenerationConfig

        config = GenerationConfig(max_new_tokens=max(int(max_tokens), 1), do_sample=False, pad_token_id=self.pad_id,
                                  eos_token_id=self.eos_ids, output_logits=True, return_dict_in_generate=True)
        with torch.no_grad():
            out = self.model.generate(input_ids=torch.tensor([ids], device=self.device),
                                      attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=self.device),
                                      generation_config=config)
        new = out.sequences[0, len(ids):].tolist()
        tops, chosen = [], []
        for step, token in enumerate(new):
            logprobs = torch.log_softmax(out.logits[step][0].float(), dim=-1)
            chosen.append(float(logprobs[token]))
            if top_k:
                values, indices = torch.topk(logprobs, top_k)
                tops.append(list(zip(indices.tolist(), values.tolist())))
            if token in self.eos_ids:
                new = new[: step + 1]
                break
        return new, tops, chosen

    # --- attention -----------------------------------------------------------------------------------------------
    def _segment_ids(self, segments: Sequence[Segment], chat: bool) -> tuple[list[int], dict[str, tuple[int, int]]]:
        """Token ids of the segments (each tokenized on its own, so its tokens are known exactly) inside the chat
        template's user turn, and each named segment's token span."""
        head, tail = "", ""
        if chat and self.tokenizer.chat_template:
            marker = "\u0000SEGMENTS\u0000"
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                                      add_generation_prompt=True)
            head, tail = text.split(marker)
        ids: list[int] = []
        spans: dict[str, tuple[int, int]] = {}
        for piece in [Segment(head)] + list(segments) + [Segment(tail)]:
            tokens = self.encode(piece.text) if piece.text else []
            if piece.name is not None:
                spans[piece.name] = (len(ids), len(ids) + len(tokens))
            ids += tokens
        return ids, spans

    def attention(self, segments: Sequence[Segment], source: str, chat: bool = True) -> AttentionScores:
        """Attention from the span that starts at segment ``source`` and runs to the end of the prompt (the chat
        template's closing text included) to every named segment, per token, summed over layers, heads and the
        span's tokens (:class:`~rankwise.rerank.llm.backends.AttentionScores`)."""
        return self.attention_batch([segments], source, chat)[0]

    def attention_batch(self, prompts: Sequence[Sequence[Segment]], source: str,
                        chat: bool = True) -> list[AttentionScores]:
        """:meth:`attention` for several prompts. When they share a token prefix that ends before every source
        span (ICR: the same passages, then different query endings), the prefix runs once with the fast attention
        kernel, and only each prompt's own suffix runs with eager attention on a copy of its KV cache: the source
        rows of the attention matrix are all that is read, and they are all in the suffix."""
        torch = self.torch
        encoded = [self._segment_ids(segments, chat) for segments in prompts]
        for _, spans in encoded:
            if source not in spans:
                raise ValueError(f"no segment named {source!r} among {sorted(spans)}")
        seqs = [ids for ids, _ in encoded]
        prefix = self._shared_prefix(seqs, min(spans[source][0] for _, spans in encoded))
        offset = prefix.length
        layers = [m for name, m in self.model.named_modules() if name.endswith("self_attn")]
        if not layers:
            raise RuntimeError(f"{self.name}: no self-attention modules found to read attention from")
        usages = self._usages(seqs, prefix)
        out: list[AttentionScores] = []
        previous = self.model.config._attn_implementation
        with torch.no_grad():
            for (ids, spans), usage in zip(encoded, usages):
                s0 = spans[source][0]
                total = torch.zeros(len(ids), dtype=torch.float64)

                def collect(module, args, output, s0=s0, total=total):
                    weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
                    if weights is None:
                        raise RuntimeError("the attention layer returned no weights; eager attention is required")
                    # rows: the suffix's positions (offset onwards), of which the source span's; columns: every position
                    total.add_(weights[0, :, s0 - offset:, :].sum(dim=(0, 1)).double().cpu())

                self.model.set_attn_implementation("eager")  # fused kernels do not return attention weights
                hooks = [m.register_forward_hook(collect) for m in layers]
                start = time.perf_counter()
                try:
                    self.decoder(input_ids=torch.tensor([ids[offset:]], device=self.device),
                                 **self._after(prefix, 1))
                finally:
                    for h in hooks:
                        h.remove()
                    self.model.set_attn_implementation(previous)
                usage.latency_s += time.perf_counter() - start
                values = total.numpy()
                tokens = {name: values[a:b].copy() for name, (a, b) in spans.items()}
                out.append(AttentionScores(tokens, len(ids) - s0, usage))
        return out


@dataclass
class _Prefix:
    """A token prefix computed once: its length (0: none), KV cache, final hidden states and seconds."""

    length: int
    cache: object
    hidden: object
    seconds: float


def _common_prefix(seqs: list[list[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    k = 0
    while k < n and all(s[k] == first[k] for s in seqs):
        k += 1
    return k
