"""Tokenizer: known outputs for English (Porter, Lucene's analysis), Chinese, Japanese, Korean and mixed text."""
from __future__ import annotations

import pytest

from rankwise.retrieve import BM25Retriever, Tokenizer, cjk_bigrams, has_cjk
from rankwise.retrieve.tokenize import cjk_unigrams_bigrams

BIGRAMS = Tokenizer(cjk="bigram")  # Lucene CJKAnalyzer's analysis
from rankwise.types import Document, Query


# --- English -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "word, porter",
    [
        # Examples from Porter (1980), "An algorithm for suffix stripping", run through the whole algorithm.
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("cats", "cat"),
        ("hopping", "hop"),
        ("generalizations", "gener"),
        ("oscillators", "oscil"),
    ],
)
def test_porter_stemming_follows_porters_paper(word, porter):
    assert Tokenizer()(word) == [porter]


def test_english_sentence_lowercased_stopped_and_stemmed():
    # "the"/"are" are Lucene stop words; Porter turns the final y into i (step 1c).
    assert Tokenizer()("The runners' shoes are running quickly") == ["runner", "shoe", "run", "quickli"]


def test_snowball_english_is_available_and_differs_from_porter():
    # Porter2 keeps "gener..." words whole (its R1 exception), Porter strips to "gener".
    assert Tokenizer(stemmer="english")("generalizations") == ["general"]
    assert Tokenizer(stemmer="porter")("generalizations") == ["gener"]


def test_words_split_as_lucene_standard_tokenizer():
    # Lucene keeps "u.s.a", "1,000.50", "3.5" and "don't" whole and drops the possessive 's.
    text = "John's U.S.A. trip costs 1,000.50 dollars, don't pay 3.5% more"
    assert Tokenizer(stemmer=None)(text) == [
        "john", "u.s.a", "trip", "costs", "1,000.50", "dollars", "don't", "pay", "3.5", "more",
    ]


def test_single_characters_are_kept_but_stop_words_go():
    assert Tokenizer()("vitamin C and a B cell") == ["vitamin", "c", "b", "cell"]


def test_stopword_options():
    text = "the cat is on the mat"
    assert Tokenizer(stemmer=None, stopwords=None)(text) == ["the", "cat", "is", "on", "the", "mat"]
    assert Tokenizer(stemmer=None, stopwords=["cat", "MAT"])(text) == ["the", "is", "on", "the"]
    assert Tokenizer(stemmer=None)(text) == ["cat", "mat"]


def test_lowercase_off_keeps_case_and_only_exact_stop_words_match():
    assert Tokenizer(stemmer=None, lowercase=False)("The the Apple") == ["The", "Apple"]


def test_custom_token_pattern():
    assert Tokenizer(stemmer=None, token_pattern=r"\b\w\w+\b")("a b cd efg") == ["cd", "efg"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stemmer": "klingon"}, "unknown stemmer 'klingon'"),
        ({"stopwords": "xx"}, "unknown stop word list 'xx'"),
        ({"language": "fr"}, "language must be one of"),
        ({"token_pattern": "(["}, "not a valid regular expression"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer(**kwargs)


def test_config_round_trip():
    t = Tokenizer(stemmer="english", stopwords=["foo"], lowercase=False, token_pattern=r"\w+", language="en")
    assert Tokenizer.from_config(t.config()) == t
    assert Tokenizer.from_config(t.config())("Foo Bars") == t("Foo Bars")


# --- Chinese, Japanese, Korean ---------------------------------------------------------------------------------
def test_cjk_bigrams():
    assert cjk_bigrams("北京大学") == ["北京", "京大", "大学"]
    assert cjk_bigrams("的") == ["的"]
    assert cjk_bigrams("") == []


def test_cjk_unigrams_bigrams():
    assert cjk_unigrams_bigrams("北京大学") == ["北", "京", "大", "学", "北京", "京大", "大学"]
    assert cjk_unigrams_bigrams("的") == ["的"]
    assert cjk_unigrams_bigrams("") == []


def test_the_default_indexes_characters_and_pairs():
    assert Tokenizer()("北京，上海。的") == ["北", "京", "北京", "上", "海", "上海", "的"]
    # Latin words stay words (stemmed) so that they match the same words in English texts.
    assert Tokenizer()("Running 检索 tests") == ["run", "检", "索", "检索", "test"]
    # A one-character query finds a document that has the character inside a longer run.
    bm25 = BM25Retriever().index([Document("a", "北京大学"), Document("b", "上海交通")])
    assert bm25.search([Query("q", "京")], k=2)["q"].docids == ["a"]
    assert BM25Retriever(tokenizer=BIGRAMS).index([Document("a", "北京大学")]).search([Query("q", "京")], k=1)["q"].docids == []


def test_cjk_mode_is_checked_and_old_indexes_keep_bigrams():
    with pytest.raises(ValueError, match="cjk must be one of 'unigram\\+bigram', 'bigram'"):
        Tokenizer(cjk="trigram")
    config = Tokenizer().config()
    assert config["cjk"] == "unigram+bigram" and Tokenizer.from_config(config) == Tokenizer()
    del config["cjk"]  # an index saved before the setting existed was built with bigrams only
    assert Tokenizer.from_config(config).cjk == "bigram"


def test_chinese_overlapping_bigrams():
    assert BIGRAMS("我爱北京天安门") == ["我爱", "爱北", "北京", "京天", "天安", "安门"]


def test_chinese_punctuation_splits_runs_and_lone_characters_stay():
    assert BIGRAMS("北京，上海。的") == ["北京", "上海", "的"]


def test_japanese_bigrams_span_kanji_kana_boundaries():
    assert BIGRAMS("東京タワーに行きました") == [
        "東京", "京タ", "タワ", "ワー", "ーに", "に行", "行き", "きま", "まし", "した",
    ]


def test_katakana_middle_dot_separates_names():
    assert BIGRAMS("ジョン・スミス") == ["ジョ", "ョン", "スミ", "ミス"]


def test_korean_bigrams_within_words():
    assert BIGRAMS("안녕하세요 세계") == ["안녕", "녕하", "하세", "세요", "세계"]


def test_mixed_latin_and_cjk():
    assert BIGRAMS("BM25とColBERTの比較") == ["bm25", "と", "colbert", "の比", "比較"]
    # Latin words inside Chinese text are stemmed like any English word, so they match English documents.
    assert BIGRAMS("Running 检索系统 tests") == ["run", "检索", "索系", "系统", "test"]


def test_fullwidth_latin_is_folded():
    assert BIGRAMS("ＡＢＣ検索") == ["abc", "検索"]


def test_language_detection_from_the_text():
    assert has_cjk("abc 中") and not has_cjk("abc déjà vu")
    # Explicit "zh"/"ja"/"ko" tokenize as "auto"; "en" switches CJK segmentation off.
    assert Tokenizer(language="zh")("我爱北京 test") == Tokenizer()("我爱北京 test")
    assert Tokenizer(language="ja")("東京タワー") == Tokenizer()("東京タワー")
    assert Tokenizer(language="en")("我爱北京 test") == ["我爱北京", "test"]


# --- a tiny Chinese collection ----------------------------------------------------------------------------------
CHINESE_DOCS = [
    Document("capital-cn", "北京是中国的首都，有故宫和天安门。"),
    Document("shanghai", "上海是中国最大的城市，有外滩。"),
    Document("capital-jp", "东京是日本的首都，人口很多。"),
    Document("python", "Python是一种流行的编程语言。"),
]


@pytest.mark.parametrize(
    "query, best",
    [
        ("中国的首都是哪里", "capital-cn"),
        ("日本首都", "capital-jp"),
        ("上海外滩", "shanghai"),
        ("python 编程", "python"),
    ],
)
def test_chinese_collection_ranks_the_right_document_first(query, best):
    run = BM25Retriever().index(CHINESE_DOCS).search([Query("q", query)], k=10)
    assert run["q"].docids[0] == best


def test_chinese_needs_segmentation():
    # Without bigrams a whole sentence is one "word" that no document contains.
    run = BM25Retriever(tokenizer=Tokenizer(language="en")).index(CHINESE_DOCS).search(["中国的首都是哪里"])
    assert len(run["1"]) == 0


def test_tokenize_to_ids_gives_the_same_terms_as_tokenize():
    texts = ["The runners' shoes", "我爱北京 Running", "", "the of", "shoes and 北京"]
    tokenizer, vocab = Tokenizer(), {}
    ids = tokenizer.tokenize_to_ids(texts, vocab)
    term = {i: t for t, i in vocab.items()}
    assert [[term[i] for i in doc] for doc in ids] == [Tokenizer()(t) for t in texts]
