r"""Text -> index terms, for BM25: English words; characters and overlapping bigrams for Chinese, Japanese, Korean.

The defaults reproduce the analysis Pyserini/Anserini apply to English (Lucene's ``DefaultEnglishAnalyzer``):

1. split into words roughly as Lucene's ``StandardTokenizer`` (Unicode word boundaries, UAX #29) does:
   letters and digits, single characters kept, ``3.5`` / ``1,000`` / ``u.s`` / ``don't`` kept whole;
2. drop the possessive ``'s`` (Lucene's ``EnglishPossessiveFilter``);
3. lowercase, then remove Lucene's 33 English stop words;
4. stem with the original **Porter** algorithm (Lucene's ``PorterStemFilter``; Snowball's "porter" in PyStemmer).

Why Porter and not Snowball "english" (Porter2): Porter is what Lucene, Anserini and Pyserini run, and it
reproduces their numbers. Measured with BM25Retriever defaults (k1 0.9, b 0.4):

    stemmer   token pattern             SciFact nDCG@10   R@100    Vaswani MAP
    porter    default (single chars)    0.6776            0.9253   0.2858
    porter    bm25s's \b\w\w+\b         0.6713            0.9187   0.2871
    english   default                   0.6823            0.9193   0.2877
    none      default                   0.6651            0.8859   0.2245
    reference: Pyserini flat 0.6789 (SciFact nDCG@10), Anserini 0.2856 (Vaswani MAP)

Snowball scores a little higher here, but departs from the reference systems; it stays one argument away
(``stemmer="english"``). Keeping single characters, as Lucene does, is worth 0.006 nDCG@10 on SciFact, where
terms such as "vitamin c" or "b cell" are common.

Languages written without spaces: runs of Han, Hiragana, Katakana or Hangul characters become every character
plus the overlapping character bigrams (``cjk="unigram+bigram"``, the default), or the bigrams only as Lucene's
``CJKAnalyzer`` does (``cjk="bigram"``; a lone character stays a unigram). On MLQA-R Chinese the default gives
nDCG@10 0.6667 against 0.6333 for bigrams only (docs/results.md). The Latin words around CJK runs go through the
word analysis above. With ``language="auto"`` (the default) this is decided from the text itself, run by run, so
English, Chinese, Japanese and mixed texts can share one index and a query matches a document whatever its
language. ``language="en"`` switches the detection off (CJK runs then stay whole "words", as in bm25s's and
Pyserini's English analysis); ``"zh"``, ``"ja"`` and ``"ko"`` state the language explicitly and tokenize exactly as
``"auto"`` does, since detection already works per run.
Scripts such as Thai, which also lack spaces, are not segmented.
"""
from __future__ import annotations

import functools

import re
import unicodedata
from typing import Iterable, Sequence

import Stemmer
from bm25s import stopwords as _bm25s_stopwords

from rankwise.progress import progress

# Unicode word boundaries (UAX #29) approximated with one regular expression: letters and digits joined by
# an apostrophe or "." stay one word, digits joined by "," stay one number (Lucene's StandardTokenizer keeps
# "don't", "u.s.a", "3.5" and "1,000" whole). Single characters are kept, as Lucene keeps them.
DEFAULT_TOKEN_PATTERN = r"\w+(?:(?:['’.]|(?<=\d),(?=\d))\w+)*"

# Scripts written without spaces between words (plus Hangul, which Lucene's CJKAnalyzer bigrams too).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3005\u3007\u3021-\u3029\u3038-\u303b"
_KANA = "\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"  # no U+30FB "・", a name separator
_HANGUL = "\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff"
CJK_CHARS = _HAN + _KANA + _HANGUL
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")
_CJK_RUNS = re.compile(f"([{CJK_CHARS}]+)")  # capturing: re.split keeps the runs at odd positions
# Fullwidth Latin and halfwidth Katakana, folded by NFKC as Lucene's CJKWidthFilter folds them.
_WIDTH_FORMS = re.compile("[\uff00-\uffef]")

LANGUAGES = ("auto", "en", "zh", "ja", "ko")

# Named stop word lists. "en" is Lucene's English set (the one Anserini/Pyserini use), which bm25s ships.
STOPWORDS = {
    "en": _bm25s_stopwords.STOPWORDS_EN,
    "english": _bm25s_stopwords.STOPWORDS_EN,
    "en_plus": _bm25s_stopwords.STOPWORDS_EN_PLUS,
    "de": _bm25s_stopwords.STOPWORDS_GERMAN,
    "nl": _bm25s_stopwords.STOPWORDS_DUTCH,
    "fr": _bm25s_stopwords.STOPWORDS_FRENCH,
    "es": _bm25s_stopwords.STOPWORDS_SPANISH,
    "pt": _bm25s_stopwords.STOPWORDS_PORTUGUESE,
    "it": _bm25s_stopwords.STOPWORDS_ITALIAN,
    "ru": _bm25s_stopwords.STOPWORDS_RUSSIAN,
    "sv": _bm25s_stopwords.STOPWORDS_SWEDISH,
    "no": _bm25s_stopwords.STOPWORDS_NORWEGIAN,
    "da": _bm25s_stopwords.STOPWORDS_DANISH,
    "tr": _bm25s_stopwords.STOPWORDS_TURKISH,
}


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a run of CJK characters; a single character stays a unigram."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def cjk_unigrams_bigrams(run: str) -> list[str]:
    """Every character of a run of CJK characters, then its overlapping bigrams (a single character: itself)."""
    if len(run) < 2:
        return [run] if run else []
    return list(run) + [run[i : i + 2] for i in range(len(run) - 1)]


# How runs of CJK characters become terms: "unigram+bigram" (the default) or Lucene CJKAnalyzer's "bigram".
CJK_MODES = {"unigram+bigram": cjk_unigrams_bigrams, "bigram": cjk_bigrams}


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one Han, Kana or Hangul character."""
    return _HAS_CJK.search(text) is not None


class Tokenizer:
    """Turns text into BM25 terms. Callable: ``Tokenizer()("Running shoes")`` -> ``["run", "shoe"]``.

    Args:
        language: ``"auto"`` (bigram CJK runs found in the text, words elsewhere), ``"en"`` (words only),
            or ``"zh"`` / ``"ja"`` / ``"ko"`` (same as ``"auto"``; see the module docstring).
        stemmer: a PyStemmer algorithm name (``"porter"``, ``"english"``, ``"french"``, …) or None.
        stopwords: ``"en"`` (Lucene's list), another name of :data:`STOPWORDS`, a list of words, or None.
        lowercase: lowercase before matching stop words and stemming.
        token_pattern: regular expression whose matches are the words (default :data:`DEFAULT_TOKEN_PATTERN`).
        cjk: how runs of CJK characters become terms: ``"unigram+bigram"`` (default: each character and each
            overlapping pair) or ``"bigram"`` (pairs only, as Lucene's ``CJKAnalyzer``); see the module docstring.

    Words are analysed once each and cached, so tokenizing a large corpus costs one regex pass per text plus
    one dictionary lookup per word.
    """

    def __init__(
        self,
        language: str = "auto",
        stemmer: str | None = "porter",
        stopwords: str | Iterable[str] | None = "en",
        lowercase: bool = True,
        token_pattern: str | None = None,
        cjk: str = "unigram+bigram",
    ):
        if cjk not in CJK_MODES:
            raise ValueError(f"cjk must be one of {', '.join(map(repr, CJK_MODES))}; got {cjk!r}")
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(map(repr, LANGUAGES))}; got {language!r}")
        if stemmer is not None and stemmer not in Stemmer.algorithms():
            raise ValueError(
                f"unknown stemmer {stemmer!r}: use None or one of PyStemmer's algorithms: "
                + ", ".join(Stemmer.algorithms())
            )
        if isinstance(stopwords, str):
            if stopwords not in STOPWORDS:
                raise ValueError(
                    f"unknown stop word list {stopwords!r}: use None, a list of words, or one of "
                    + ", ".join(map(repr, STOPWORDS))
                )
            stopword_set = set(STOPWORDS[stopwords])
        else:
            stopwords = None if stopwords is None else sorted(set(stopwords))
            stopword_set = set(stopwords or ())
        if lowercase:
            stopword_set = {w.lower() for w in stopword_set}
        try:
            self._find_words = re.compile(token_pattern or DEFAULT_TOKEN_PATTERN).findall
        except re.error as e:
            raise ValueError(f"token_pattern {token_pattern!r} is not a valid regular expression: {e}") from e

        self.language = language
        self.stemmer = stemmer
        self.stopwords = stopwords
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.cjk = cjk
        self._cjk_terms = CJK_MODES[cjk]
        self._stopword_set = stopword_set
        self._stem = Stemmer.Stemmer(stemmer).stemWord if stemmer else None
        self._segment_cjk = language != "en"
        self._cache: dict[str, str] = {}  # word -> term ("" for a stop word)

    # --- configuration (saved with an index so queries are analysed as the documents were) ----------------
    def config(self) -> dict:
        return {
            "language": self.language,
            "stemmer": self.stemmer,
            "stopwords": self.stopwords,
            "lowercase": self.lowercase,
            "token_pattern": self.token_pattern,
            "cjk": self.cjk,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Tokenizer":
        # Indexes saved before the "cjk" setting existed were built with bigrams only: keep reading them that way.
        return cls(**{"cjk": "bigram", **config})

    def __reduce__(self):  # the stemmer is a C object: another process (a Ray actor) rebuilds it from the settings
        return functools.partial(Tokenizer, **self.config()), ()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if not isinstance(v, list))
        return f"Tokenizer({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.config() == other.config()

    # --- tokenizing -----------------------------------------------------------------------------------------
    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        """The terms of one text, in order (repeats kept: BM25 counts them)."""
        if self._segment_cjk and _HAS_CJK.search(text):
            if _WIDTH_FORMS.search(text):
                text = unicodedata.normalize("NFKC", text)
            terms: list[str] = []
            for i, part in enumerate(_CJK_RUNS.split(text)):
                if i % 2:
                    terms += self._cjk_terms(part)
                elif part:
                    terms += self._words(part)
            return terms
        return self._words(text)

    def tokenize_many(self, texts: Sequence[str] | Iterable[str], desc: str = "tokenize") -> list[list[str]]:
        """The terms of many texts (with a progress bar on a terminal)."""
        total = len(texts) if hasattr(texts, "__len__") else None
        return [self.tokenize(t) for t in progress(texts, desc=desc, total=total, unit="doc")]

    def tokenize_to_ids(self, texts: Iterable[str], vocab: dict[str, int], desc: str = "tokenize") -> list[list[int]]:
        """Tokenize many texts straight into term ids, adding new terms to ``vocab`` (term -> id).

        Same terms as :meth:`tokenize`, but each distinct word is looked up once in a word -> id table, which
        saves a dictionary operation per token when indexing a corpus.
        """
        word_ids: dict[str, int] = {}  # word -> term id, -1 for a stop word
        analyze, find, lowercase = self._analyze, self._find_words, self.lowercase
        total = len(texts) if hasattr(texts, "__len__") else None
        out = []
        for text in progress(texts, desc=desc, total=total, unit="doc"):
            if self._segment_cjk and _HAS_CJK.search(text):
                out.append([vocab.setdefault(t, len(vocab)) for t in self.tokenize(text)])
                continue
            ids = []
            for word in find(text.lower() if lowercase else text):
                i = word_ids.get(word)
                if i is None:
                    term = analyze(word)
                    i = word_ids[word] = vocab.setdefault(term, len(vocab)) if term else -1
                if i >= 0:
                    ids.append(i)
            out.append(ids)
        return out

    def _words(self, text: str) -> list[str]:
        cache = self._cache
        out = []
        for word in self._find_words(text.lower() if self.lowercase else text):
            term = cache.get(word)
            if term is None:
                term = cache[word] = self._analyze(word)
            if term:
                out.append(term)
        return out

    def _analyze(self, word: str) -> str:
        """One word -> its term, or "" when it is a stop word."""
        if word.endswith(("'s", "’s", "'S", "’S")):  # possessive, as Lucene's EnglishPossessiveFilter
            word = word[:-2]
        if not word or word in self._stopword_set:
            return ""
        return self._stem(word) if self._stem else word
