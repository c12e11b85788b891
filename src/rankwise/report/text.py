"""Passage snippets with the query's terms highlighted, as diffir shows them.

A word is highlighted when it analyses to one of the query's terms with the same analysis BM25 uses
(:class:`rankwise.retrieve.tokenize.Tokenizer`: Porter stemming, English stop words dropped), so "running" in a
passage lights up for the query "run" while "the" never does. Long passages are cut to the window of words with the
most query terms, marked with "…" where text was left out.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache


@lru_cache(maxsize=1)
def _analysis():
    """(word pattern, tokenizer): imported on first use, since the retrieval package is slow to import."""
    from rankwise.retrieve.tokenize import DEFAULT_TOKEN_PATTERN, Tokenizer

    return re.compile(DEFAULT_TOKEN_PATTERN), Tokenizer()


def query_terms(query: str) -> frozenset[str]:
    """The analysed terms of a query (what a passage's words are matched against)."""
    return frozenset(_analysis()[1].tokenize(query))


def snippet_html(text: str, terms: frozenset[str], max_words: int = 60) -> str:
    """``text`` as escaped HTML, at most ``max_words`` words around the densest run of query terms, each matching
    word in ``<mark>``."""
    pattern, tokenizer = _analysis()
    tokenize = tokenizer.tokenize
    words = list(pattern.finditer(text))
    hits = [bool(terms) and not terms.isdisjoint(tokenize(w.group())) for w in words]
    start, end = 0, len(words)
    if len(words) > max_words:
        counts = [0]
        for hit in hits:
            counts.append(counts[-1] + hit)
        best = max(range(len(words) - max_words + 1), key=lambda i: (counts[i + max_words] - counts[i], -i))
        start, end = best, best + max_words
    begin = 0 if start == 0 else words[start].start()
    finish = len(text) if end == len(words) else words[end - 1].end()
    out = ["… " if begin > 0 else ""]
    pos = begin
    for word, hit in zip(words[start:end], hits[start:end]):
        if hit:
            out.append(html.escape(text[pos : word.start()]))
            out.append(f"<mark>{html.escape(word.group())}</mark>")
            pos = word.end()
    out.append(html.escape(text[pos:finish]))
    out.append(" …" if finish < len(text) else "")
    return "".join(out)
