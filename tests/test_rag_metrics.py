"""Answer metrics against HotpotQA's official evaluation script (../shared/data/hotpotqa/hotpot_evaluate_v1.py), run
from ../shared on the same predictions, the way tests/test_evaluate_trec_eval.py checks measures against trec_eval."""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import sys

import pytest

from rankwise.rag.metrics import citation_scores, contains_answer, exact_match, f1_score, normalize_answer
from conftest import shared_path

# Predictions that exercise every rule of the normalisation: case, punctuation, articles, white space, yes/no,
# unicode (accents, non-ASCII dashes and quotes, CJK), numbers with separators, empty answers.
CASES = [
    ("Paris", "Paris"), ("paris.", "Paris"), ("The Paris", "Paris"), ("Paris, France", "Paris"),
    ("a dog and the cat", "the dog and a cat"), ("an apple", "apple pie"), ("theatre", "the atre"),
    ("  New   York  City ", "New York City"), ("New-York", "New York"), ("newyork", "New York"),
    ("yes", "yes"), ("Yes.", "yes"), ("no", "yes"), ("yes", "no"), ("yes it is", "yes"), ("no", "no way"),
    ("noanswer", "noanswer"), ("noanswer", "Paris"), ("", "Paris"), ("", ""), ("Paris", ""),
    ("Pedro Rodríguez", "Pedro Rodriguez"), ("Pedro Rodríguez", "Pedro Rodríguez"), ("café", "CAFÉ"),
    ("1986–2013", "from 1986 to 2013"), ("1986-2013", "1986 2013"), ("O’Neil", "O'Neil"), ("O'Neil", "ONeil"),
    ("“quoted”", '"quoted"'), ("北京", "北京"), ("北京 市", "北京"), ("3,677 seated", "3,677"), ("3677", "3,677"),
    ("250 million copies", "250 million"), ("the the the", "the"), ("A", "a"), ("An Englishman", "English man"),
    ("Greenwich Village, New York City", "Greenwich Village, New York City"), ("Greenwich Village", "New York City"),
    ("Chief of Protocol [1]", "Chief of Protocol"), ("$100", "100"), ("50%", "50"), ("e.g. this", "eg this"),
    ("Tromeo and Juliet", "Tromeo & Juliet"), ("İstanbul", "istanbul"), ("ΑΒΓ", "αβγ"), ("tab\there", "tab here"),
]


@pytest.fixture(scope="module")
def hotpot():
    """The official script as a module (its ``import ujson`` served by the standard json module, which the README
    of the data folder says works the same for it)."""
    path = shared_path("hotpotqa", "hotpot_evaluate_v1.py")
    saved = sys.modules.get("ujson")
    sys.modules["ujson"] = json
    try:
        spec = importlib.util.spec_from_file_location("hotpot_evaluate_v1", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["ujson"]
        else:
            sys.modules["ujson"] = saved
    return module


def official(hotpot, prediction: str, gold: str) -> tuple[float, float]:
    em = float(hotpot.exact_match_score(prediction, gold))
    f1 = hotpot.f1_score(prediction, gold)[0]
    return em, float(f1)


@pytest.mark.parametrize("prediction,gold", CASES)
def test_em_f1_equal_the_official_script(hotpot, prediction, gold):
    assert normalize_answer(prediction) == hotpot.normalize_answer(prediction)
    em, f1 = official(hotpot, prediction, gold)
    assert exact_match(prediction, gold) == em
    assert f1_score(prediction, gold) == f1  # the same float operations: exactly equal


def test_yes_no_rule_differs_from_plain_token_f1(hotpot):
    # HotpotQA's special case: a yes/no answer on either side scores 0 unless both are the same, although the
    # tokens overlap (plain token F1 would give 0.5); without yes/no on either side, overlap counts as usual.
    assert f1_score("yes", "yes it is") == official(hotpot, "yes", "yes it is")[1] == 0.0
    assert f1_score("it is yes", "yes") == official(hotpot, "it is yes", "yes")[1] == 0.0
    assert f1_score("yes it is", "it is") == official(hotpot, "yes it is", "it is")[1] == 0.8


def _script_run(hotpot, tmp_path, predictions: dict, gold: list) -> dict:
    pred_path, gold_path = tmp_path / "pred.json", tmp_path / "gold.json"
    pred_path.write_text(json.dumps({"answer": predictions, "sp": {k: [] for k in predictions}}), encoding="utf-8")
    gold_path.write_text(json.dumps(gold), encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hotpot.eval(str(pred_path), str(gold_path))
    return ast.literal_eval(out.getvalue().strip().splitlines()[-1])


def _variants(answer: str) -> list[str]:
    words = answer.split()
    return [answer, answer.lower(), f"The {answer}.", f"{answer} [1][2]", f"It was {answer}, I think",
            " ".join(words[:-1]) or "nothing", "yes", "no", "", answer.replace(",", ""), f"{words[0]} and more"]


def test_real_hotpotqa_answers_equal_the_script_run_on_files(hotpot, tmp_path):
    """The 100 HotpotQA gold answers with 11 kinds of prediction each: per question and on average (the script's
    own eval() over files), EM and F1 equal."""
    data = json.loads(shared_path("hotpotqa", "hotpot_dev_distractor_first100.json").read_text(encoding="utf-8"))
    for kind in range(11):
        predictions, gold = {}, []
        for i, item in enumerate(data):
            qid = item.get("_id", f"dev{i:03d}")
            predictions[qid] = _variants(item["answer"])[kind]
            gold.append({"_id": qid, "answer": item["answer"], "supporting_facts": []})
        script = _script_run(hotpot, tmp_path, predictions, gold)
        ems = [exact_match(predictions[g["_id"]], g["answer"]) for g in gold]
        f1s = [f1_score(predictions[g["_id"]], g["answer"]) for g in gold]
        assert sum(ems) / len(ems) == pytest.approx(script["em"], abs=1e-12)
        assert sum(f1s) / len(f1s) == pytest.approx(script["f1"], abs=1e-12)


def test_a_list_of_accepted_answers_scores_the_best_one(hotpot):
    """Lists: the maximum over the accepted answers (SQuAD's script), each scored by the HotpotQA rules."""
    accepted = ["Robert Erskine Childers DSC", "Erskine Childers", "Childers"]
    for prediction in ["Erskine Childers", "Robert Childers", "childers.", "Henry Roth", "yes", ""]:
        ems = [official(hotpot, prediction, g)[0] for g in accepted]
        f1s = [official(hotpot, prediction, g)[1] for g in accepted]
        assert exact_match(prediction, accepted) == max(ems)
        assert f1_score(prediction, accepted) == max(f1s)
    assert exact_match("x", ["x"]) == exact_match("x", "x") == 1.0  # a one-element list is the string
    with pytest.raises(ValueError, match="empty list of accepted answers"):
        f1_score("x", [])


def test_accuracy_is_whole_word_containment():
    assert contains_answer("It was Paris, France.", "paris") == 1.0
    assert contains_answer("Parisian food", "Paris") == 0.0
    assert contains_answer("the answer is New York City", ["Boston", "New York"]) == 1.0
    assert contains_answer("York New", "New York") == 0.0
    assert contains_answer("anything", "the") == 0.0  # the gold normalises to nothing: never matched
    assert contains_answer("", "Paris") == 0.0


def test_citation_precision_and_recall():
    assert citation_scores(["a", "b"], {"a", "c"}) == (0.5, 0.5)
    assert citation_scores(["a"], {"a", "c"}) == (1.0, 0.5)
    assert citation_scores([], {"a"}) == (0.0, 0.0)  # nothing cited: both 0, as HotpotQA scores an empty sp list
    assert citation_scores(["a", "a", "c"], {"a", "c"}) == (1.0, 1.0)
