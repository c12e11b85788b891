"""The one interface every LLM engine speaks, so that every strategy runs on every engine.

An engine (:class:`LLM`) answers four kinds of request, each for a batch of prompts:

- :meth:`LLM.generate` — greedy text generation (listwise permutations, pairwise/setwise choices, reasoning);
- :meth:`LLM.label_logprobs` — log-probabilities that the *next* token starts each of a few labels ("Yes"/"No",
  "A"/"B", identifiers "A".."T"): pointwise yes/no and fine-grained scoring, FIRST, pairwise and setwise in
  logits mode;
- :meth:`LLM.continuation_logprobs` — the log-probability of each token of a given continuation (query likelihood);
- :meth:`LLM.attention` — attention from the end of the prompt (a named segment onwards) to the tokens of other
  segments (ICR; local models only).

Every answer carries a :class:`Usage` (prompt and completion tokens, forward passes, latency), which the strategies
turn into cost records. Engines: :class:`rankwise.rerank.llm.local.LocalLLM` (transformers),
:class:`rankwise.rerank.llm.http.HttpLLM` (OpenAI-compatible servers) and the stand-in judges of
:mod:`rankwise.testing.judges`. :func:`get_llm` builds one from a model name, a path or a URL.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rankwise.errors import UserError


class UnsupportedRequest(UserError, NotImplementedError):
    """The engine cannot answer this kind of request (e.g. attention over HTTP, logprobs from a server that
    offers none); the message says which strategy or option works instead."""


class EngineConfigurationError(UserError, RuntimeError):
    """A fault that would fail every call the same way (wrong URL path, unknown model, refused credentials): raised
    at once instead of being recorded call after call."""


# --- prompts ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prompt:
    """What is sent to a model: chat turns, or raw text for a completion-style prompt.

    ``messages`` are ``(role, content)`` pairs (rendered with the model's chat template by local engines, sent as
    they are to a chat endpoint). ``text`` is a raw prompt (no chat template), used when ``messages`` is empty.
    ``prefix`` is the start of the assistant's answer, written for the model (e.g. ``"["`` so that the next token
    is an identifier); over HTTP it is sent as a final assistant message to continue (a vLLM extension).
    """

    messages: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    prefix: str = ""

    def __post_init__(self):
        if not self.messages and self.text is None:
            raise ValueError("a Prompt needs chat messages or a raw text")

    @classmethod
    def chat(cls, messages: Sequence[tuple[str, str]], prefix: str = "") -> "Prompt":
        return cls(messages=tuple((str(r), str(c)) for r, c in messages), prefix=prefix)

    @classmethod
    def raw(cls, text: str) -> "Prompt":
        return cls(text=text)

    @property
    def is_chat(self) -> bool:
        return bool(self.messages)

    def plain(self) -> str:
        """All the text of the prompt, without any template (for engines that read prompts as text)."""
        if not self.is_chat:
            return self.text or ""
        return "\n\n".join(content for _, content in self.messages) + ("\n\n" + self.prefix if self.prefix else "")


# --- answers ----------------------------------------------------------------------------------------------------
@dataclass
class Usage:
    """The cost of one invocation. ``forward_passes`` counts model passes over this prompt (generation of n tokens
    = n passes: one prefill, n-1 decoding steps); ``cached_tokens`` are prompt tokens served from a reused prefix
    (KV cache) instead of being recomputed. Latency of a batched call is shared equally by its prompts."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    forward_passes: int = 0
    latency_s: float = 0.0
    cached_tokens: int = 0
    retries: int = 0


@dataclass
class Generation:
    text: str
    usage: Usage
    error: str | None = None  # set when the engine gave up on this prompt (text is then "")


@dataclass
class LabelScores:
    """Log-probability that the next token starts each label. ``missing`` lists labels the engine could not score
    exactly (a server that shows only its top-k tokens): they get the lowest log-probability shown, an upper bound."""

    logprobs: dict[str, float]
    usage: Usage
    missing: tuple[str, ...] = ()
    error: str | None = None

    def normalized(self, labels: Sequence[str]) -> np.ndarray:
        """Probabilities of ``labels`` renormalised over the labels alone (sum 1)."""
        values = np.array([self.logprobs.get(label, -math.inf) for label in labels], dtype=np.float64)
        if not np.isfinite(values).any():
            return np.full(len(labels), 1.0 / len(labels))
        values = values - values.max()
        p = np.exp(values)
        return p / p.sum()


@dataclass
class ContinuationScores:
    token_logprobs: list[float]
    usage: Usage
    error: str | None = None

    @property
    def total(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def mean(self) -> float:
        return float(np.mean(self.token_logprobs)) if self.token_logprobs else -math.inf


@dataclass
class AttentionScores:
    """Attention paid by a prompt's source span to each named segment, token by token.

    The source span runs from the first token of the ``source`` segment to the last token of the prompt (for a chat
    prompt, the template's end of turn and start of the answer included). ``tokens[name]`` holds one value per token
    of segment ``name``: the attention weights from every source token to that token, summed over layers, heads and
    source tokens. ``source_tokens`` is the length of the span, so ``tokens[name] / source_tokens`` is the mean over
    the source tokens (ICR's aggregation). ``mass`` sums each segment's tokens."""

    tokens: dict[str, np.ndarray]
    source_tokens: int
    usage: Usage

    @property
    def mass(self) -> dict[str, float]:
        return {name: float(np.sum(values)) for name, values in self.tokens.items()}


@dataclass(frozen=True)
class Segment:
    """A piece of a prompt with a name, so that attention to it can be measured (ICR)."""

    text: str
    name: str | None = None


# --- the interface ----------------------------------------------------------------------------------------------
class LLM:
    """An LLM engine. Subclasses implement the requests they support and :meth:`count_tokens`.

    ``context_length`` is the longest prompt + answer, in tokens, the engine accepts; strategies truncate passages
    to fit it (:mod:`rankwise.rerank.llm.truncate`).
    """

    name: str = "llm"
    context_length: int = 4096
    capabilities: frozenset[str] = frozenset()  # of "generate", "labels", "continuation", "attention"

    # tokens ---------------------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def truncate_text(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a token boundary) holding at most ``max_tokens`` tokens."""
        raise NotImplementedError

    def prompt_tokens(self, prompt: Prompt) -> int:
        """Tokens of the whole prompt as the engine will see it (template included where known)."""
        return self.count_tokens(prompt.plain())

    # requests -------------------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], max_tokens: int, stop: Sequence[str] = ()) -> list[Generation]:
        raise UnsupportedRequest(f"{self.name} cannot generate text")

    def label_logprobs(self, prompts: Sequence[Prompt], labels: Sequence[str]) -> list[LabelScores]:
        raise UnsupportedRequest(
            f"{self.name} gives no next-token log-probabilities; use a strategy in generation mode (mode='generate')"
        )

    def continuation_logprobs(self, prompts: Sequence[Prompt],
                              continuations: Sequence[str]) -> list[ContinuationScores]:
        raise UnsupportedRequest(f"{self.name} cannot score continuations (query likelihood needs a local model or "
                                 "a /v1/completions endpoint with echo and logprobs)")

    def attention(self, segments: Sequence[Segment], source: str, chat: bool = True) -> AttentionScores:
        """Attention from the span that starts at segment ``source`` and ends with the prompt to every named
        segment, per token (:class:`AttentionScores`). ``chat`` wraps the segments in the chat template's user turn."""
        raise UnsupportedRequest(
            f"{self.name} exposes no attention weights: in-context reranking (ICR) needs a local transformers model"
        )

    def attention_batch(self, prompts: Sequence[Sequence[Segment]], source: str,
                        chat: bool = True) -> list[AttentionScores]:
        """:meth:`attention` for several prompts (engines may share work between them)."""
        return [self.attention(segments, source, chat) for segments in prompts]

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # An engine that loads a model or opens connections pickles as the call that built it (``_built_by``, set by
    # its constructor): another process — a Ray actor — then loads its own copy instead of receiving weights.
    _built_by: tuple | None = None

    def __reduce_ex__(self, protocol):
        if self._built_by is None:
            return super().__reduce_ex__(protocol)
        cls, args, kwargs = self._built_by
        return functools.partial(cls, *args, **kwargs), ()


def logsumexp(values: Sequence[float]) -> float:
    values = [v for v in values if v != -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def get_llm(spec: "str | LLM", **options) -> LLM:
    """An engine from a model name, a local path or an OpenAI-compatible URL.

    - ``http://…`` or ``https://…`` → :class:`~rankwise.rerank.llm.http.HttpLLM` (options: ``model``, ``concurrency``,
      ``timeout``, ``retries``, ``api_key``, ``tokenizer``, ``context_length``);
    - anything else → :class:`~rankwise.rerank.llm.local.LocalLLM` (a hub name, a local folder or GGUF file, or the
      offline kit's ``HuggingFaceTB/SmolLM2-135M-Instruct``; options: ``device``, ``batch_size``, ``prefix_reuse``).

    An :class:`LLM` passes through unchanged (options must then be empty).
    """
    if isinstance(spec, LLM):
        if options:
            raise ValueError(f"options {sorted(options)} given with an engine object; set them on the engine instead")
        return spec
    text = str(spec)
    if text.startswith(("http://", "https://")):
        from rankwise.rerank.llm.http import HttpLLM

        return HttpLLM(text, **options)
    from rankwise.rerank.llm.local import LocalLLM

    return LocalLLM(text, **options)
