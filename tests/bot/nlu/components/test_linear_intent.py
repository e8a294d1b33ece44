"""`LinearIntentClassifier`: intents from a linear model (or k-NN) over sentence features.

The messages carry real Rasa feature objects: a hand-made dense "e5" vector
(three well-separated directions, one per intent) and, in one test, the
character n-grams of Rasa's own CountVectorsFeaturizer. No e5 engine needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components.linear_intent import LinearIntentClassifier

INTENTS = ("greet", "query_order", "faq")
DIM = 8
RNG = np.random.default_rng(7)


def with_features(text: str, intent: Optional[str], direction: int, sparse_alias: Optional[str] = None) -> Message:
    """A message whose dense "e5" feature points near axis `direction` (plus noise)."""
    message = Message({TEXT: text, **({INTENT: intent} if intent else {})})
    vector = np.eye(DIM)[direction] + 0.15 * RNG.standard_normal(DIM)
    message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, "e5"))
    if sparse_alias:
        counts = scipy.sparse.coo_matrix(np.eye(1, 4, direction % 4))
        message.add_features(Features(counts, FEATURE_TYPE_SENTENCE, TEXT, sparse_alias))
    return message


def training_data(sparse_alias: Optional[str] = None) -> TrainingData:
    return TrainingData([with_features(f"{intent} {i}", intent, d, sparse_alias)
                         for d, intent in enumerate(INTENTS) for i in range(6)])


@pytest.fixture()
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test-model", node_name="linear")


def trained(storage: LocalModelStorage, data: TrainingData, **config: Any) -> tuple[LinearIntentClassifier, Resource]:
    resource = Resource("linear")
    classifier = LinearIntentClassifier.create({**LinearIntentClassifier.get_default_config(), **config}, storage,
                                               resource, context())
    classifier.train(data)
    return classifier, resource


def load(storage: LocalModelStorage, resource: Resource, **config: Any) -> LinearIntentClassifier:
    return LinearIntentClassifier.load({**LinearIntentClassifier.get_default_config(), **config}, storage, resource,
                                       context())


@pytest.mark.parametrize("mode", ["logistic", "knn"])
def test_predicts_the_nearest_intent_with_a_ranking(storage: LocalModelStorage, mode: str) -> None:
    classifier, _ = trained(storage, training_data(), classifier=mode)
    messages = [with_features(f"new {i}", None, d) for d, i in enumerate(INTENTS)]
    classifier.process(messages)
    assert [m.get(INTENT)["name"] for m in messages] == list(INTENTS)
    for message in messages:
        ranking = message.get(INTENT_RANKING_KEY)
        assert {r["name"] for r in ranking} == set(INTENTS)
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(1.0)
        assert message.get(INTENT) == ranking[0]
        assert ranking[0]["confidence"] > 0.5


def test_logistic_probabilities_are_not_certainties(storage: LocalModelStorage) -> None:
    """The fallback threshold needs graded confidences: a message halfway between two intents is unsure."""
    classifier, _ = trained(storage, training_data())
    halfway = Message({TEXT: "?"})
    halfway.add_features(Features((np.eye(DIM)[0] + np.eye(DIM)[1]).reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT,
                                  "e5"))
    classifier.process([halfway])
    top_two = [r["confidence"] for r in halfway.get(INTENT_RANKING_KEY)[:2]]
    assert top_two[0] < 0.8 and top_two[1] > 0.2
    assert {r["name"] for r in halfway.get(INTENT_RANKING_KEY)[:2]} == {"greet", "query_order"}


@pytest.mark.parametrize("mode", ["logistic", "knn"])
def test_persisted_model_gives_the_same_answers(storage: LocalModelStorage, mode: str) -> None:
    data = training_data(sparse_alias="chars")
    classifier, resource = trained(storage, data, classifier=mode)
    loaded = load(storage, resource, classifier=mode)
    fresh = [with_features("x", None, d, "chars") for d in range(len(INTENTS))]
    copies = [Message(data=dict(m.data), features=list(m.features)) for m in fresh]
    classifier.process(fresh)
    loaded.process(copies)
    assert [m.get(INTENT_RANKING_KEY) for m in copies] == [m.get(INTENT_RANKING_KEY) for m in fresh]


def test_untrained_component_leaves_the_message_alone(storage: LocalModelStorage) -> None:
    classifier = load(storage, Resource("never-trained"))
    message = with_features("hi", None, 0)
    classifier.process([message])
    assert message.get(INTENT) is None


def test_only_the_named_featurizers_are_read(storage: LocalModelStorage) -> None:
    """`featurizers: [e5]` ignores the n-grams, even when they would decide alone."""
    classifier, _ = trained(storage, training_data(sparse_alias="chars"), featurizers=["e5"])
    message = Message({TEXT: "x"})
    message.add_features(Features(np.eye(DIM)[2].reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, "e5"))
    message.add_features(Features(scipy.sparse.coo_matrix(np.eye(1, 4, 0)), FEATURE_TYPE_SENTENCE, TEXT, "chars"))
    classifier.process([message])
    assert message.get(INTENT)["name"] == "faq"


def test_missing_feature_kind_counts_as_zeros(storage: LocalModelStorage) -> None:
    """A message without the dense feature still gets a vector of the trained width (n-grams alone decide)."""
    classifier, _ = trained(storage, training_data(sparse_alias="chars"))
    message = Message({TEXT: "x"})
    message.add_features(Features(scipy.sparse.coo_matrix(np.eye(1, 4, 1)), FEATURE_TYPE_SENTENCE, TEXT, "chars"))
    classifier.process([message])
    assert message.get(INTENT)["name"] == "query_order"


def test_averages_with_the_previous_classifier(storage: LocalModelStorage) -> None:
    data = training_data()
    classifier, _ = trained(storage, data, previous_weight=0.5)
    alone, _ = trained(storage, data)
    message = with_features("x", None, 0)
    baseline = Message(data=dict(message.data), features=list(message.features))
    alone.process([baseline])
    ours = {r["name"]: r["confidence"] for r in baseline.get(INTENT_RANKING_KEY)}
    # What DIET would have left on the message: sure of an intent this model never saw.
    message.set(INTENT, {"name": "chitchat", "confidence": 0.9})
    message.set(INTENT_RANKING_KEY, [{"name": "chitchat", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}])
    classifier.process([message])
    blended = {r["name"]: r["confidence"] for r in message.get(INTENT_RANKING_KEY)}
    assert blended["chitchat"] == pytest.approx(0.45)
    assert blended["greet"] == pytest.approx(0.5 * ours["greet"] + 0.05)
    assert blended["faq"] == pytest.approx(0.5 * ours["faq"])
    assert message.get(INTENT)["name"] == max(blended, key=lambda name: blended[name])


def test_trains_on_rasa_character_ngrams(storage: LocalModelStorage) -> None:
    """End to end with Rasa's tokenizer and CountVectorsFeaturizer (char_wb), no dense features."""
    texts = {
        "query_order": ["我的订单到哪了", "订单什么时候到", "查一下订单", "订单物流呢"],
        "greet": ["你好", "您好啊", "在吗", "你好在吗"],
        "refund": ["我要退款", "怎么退款", "退款多久到账", "申请退款"],
    }
    data = TrainingData([Message({TEXT: t, INTENT: intent}) for intent, ts in texts.items() for t in ts])
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process_training_data(data)
    cv_config = {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "min_ngram": 1,
                 "max_ngram": 3, "alias": "chars"}
    featurizer = CountVectorsFeaturizer.create(cv_config, storage, Resource("chars"), context())
    featurizer.train(data)
    featurizer.process_training_data(data)
    classifier, resource = trained(storage, data, featurizers=["chars"])
    messages = [Message({TEXT: t}) for t in ("订单到了吗", "你好呀", "退款到账了吗")]
    tokenizer.process(messages)
    featurizer.process(messages)
    classifier.process(messages)
    assert [m.get(INTENT)["name"] for m in messages] == ["query_order", "greet", "refund"]
    loaded = load(storage, resource, featurizers=["chars"])
    again = [Message({TEXT: "退款到账了吗"})]
    tokenizer.process(again)
    featurizer.process(again)
    loaded.process(again)
    assert again[0].get(INTENT_RANKING_KEY) == messages[2].get(INTENT_RANKING_KEY)


def test_direct_scoring_matches_sklearn_predict_proba(storage: LocalModelStorage) -> None:
    """`process` scores a logistic regression itself (speed); it must give exactly sklearn's probabilities,
    with a dense and a sparse block, a message missing one kind, and an all-zero row."""
    data = training_data(sparse_alias="chars")
    classifier, _ = trained(storage, data, featurizers=["e5", "chars"])
    messages = [with_features(f"m{i}", None, i % 3, "chars") for i in range(6)]
    for message, counts in zip(messages, ([2, 0, 1, 0], [0, 3, 0, 4], [1, 1, 1, 1])):  # norms other than 1
        message.features = [f for f in message.features if f.origin != "chars"]
        message.add_features(Features(scipy.sparse.coo_matrix(np.array([counts], dtype=float)),
                                      FEATURE_TYPE_SENTENCE, TEXT, "chars"))
    messages.append(with_features("dense only", None, 1))
    messages.append(Message({TEXT: "nothing"}))
    expected = classifier.clf.predict_proba(classifier._matrix(messages))
    assert np.allclose(classifier._probabilities(messages), expected, atol=1e-12)
    assert expected.shape == (len(messages), len(INTENTS))
