"""Test doubles users may import for their own tests: deterministic stand-in LLM judges and a small
OpenAI-protocol server. Nothing here is meant for production use.

- :class:`OracleJudge`, :class:`NoisyJudge` (:mod:`rankwise.testing.judges`): LLM engines whose answers come from
  relevance labels, so that the *algorithm* of an LLM reranker can be checked against known answers;
  :class:`ScriptedLLM`, an engine whose generated answers are given (query rewriting, RAG).
- :class:`OpenAIServer` (:mod:`rankwise.testing.openai_server`): a local transformers model served over the OpenAI
  protocol on loopback (``python -m rankwise.testing.openai_server``), with fault injection; imported on use
  (it needs the ``llm`` extra).
- :class:`ServeProcess` (:mod:`rankwise.testing.serve_process`): ``rankwise serve`` as a subprocess on a free
  loopback port, always stopped (SIGTERM, then SIGKILL).
- :class:`StandInDecomposer` (:mod:`rankwise.testing.rag`): a decomposer with known sub-questions, for the RAG
  layer (with :class:`ScriptedLLM` as its generator).
"""
from rankwise.testing.judges import NoisyJudge, OracleJudge, ScriptedLLM


def __getattr__(name: str):
    if name == "StandInDecomposer":
        from rankwise.testing.rag import StandInDecomposer

        return StandInDecomposer
    if name == "OpenAIServer":
        from rankwise.testing.openai_server import OpenAIServer

        return OpenAIServer
    if name == "ServeProcess":
        from rankwise.testing.serve_process import ServeProcess

        return ServeProcess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OracleJudge", "NoisyJudge", "ScriptedLLM", "StandInDecomposer", "OpenAIServer", "ServeProcess"]
