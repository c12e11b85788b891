"""Test doubles users may import for their own tests: deterministic stand-in LLM judges and a small
OpenAI-protocol server. Nothing here is meant for production use.

- :class:`OracleJudge`, :class:`NoisyJudge` (:mod:`rankwise.testing.judges`): LLM engines whose answers come from
  relevance labels, so that the *algorithm* of an LLM reranker can be checked against known answers.
- :class:`OpenAIServer` (:mod:`rankwise.testing.openai_server`): a local transformers model served over the OpenAI
  protocol on loopback (``python -m rankwise.testing.openai_server``), with fault injection; imported on use
  (it needs the ``llm`` extra).
- :class:`ScriptedLLM`, :class:`StandInDecomposer` (:mod:`rankwise.testing.rag`): an LLM engine whose answers a test
  writes (failures and empty answers included) and a decomposer with known sub-questions, for the RAG layer.
"""
from rankwise.testing.judges import NoisyJudge, OracleJudge


def __getattr__(name: str):
    if name in ("ScriptedLLM", "StandInDecomposer"):
        from rankwise.testing import rag

        return getattr(rag, name)
    if name == "OpenAIServer":
        from rankwise.testing.openai_server import OpenAIServer

        return OpenAIServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OracleJudge", "NoisyJudge", "OpenAIServer", "ScriptedLLM", "StandInDecomposer"]
