"""`NumberAnswerClassifier`: a digits-only message is an answer, never "bye".

Shoppers write 88/886 for goodbye, and order numbers are full of those runs.
These tests feed the component what DIET might have produced and check what
the dialogue will see.
"""
from __future__ import annotations

from typing import Any, Optional

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.verification import parse_order_no
from bot.nlu.components.number_answer import NumberAnswerClassifier


@pytest.fixture()
def classifier() -> NumberAnswerClassifier:
    return NumberAnswerClassifier(NumberAnswerClassifier.get_default_config(), "NumberAnswerClassifier")


def diet_output(text: str, intent: str = "goodbye", confidence: float = 0.97,
                entities: Optional[list[dict[str, Any]]] = None) -> Message:
    message = Message({TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence})
    message.set(INTENT_RANKING_KEY, [
        {"name": intent, "confidence": confidence},
        {"name": "inform", "confidence": 0.02},
        {"name": "thank", "confidence": 0.01},
    ])
    message.set(ENTITIES, entities or [])
    return message


def entity_values(message: Message) -> list[tuple[str, str]]:
    return [(e["entity"], e["value"]) for e in message.get(ENTITIES)]


def test_order_number_full_of_bye_digits_is_inform(classifier: NumberAnswerClassifier) -> None:
    message = diet_output("2611038862104557")
    classifier.process([message])
    assert message.get(INTENT) == {"name": "inform", "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0] == {"name": "inform", "confidence": 1.0}
    assert [r["name"] for r in ranking[1:]] == ["goodbye", "thank"]  # kept for trainers, at no weight
    assert all(r["confidence"] == 0.0 for r in ranking[1:])
    assert entity_values(message) == [("order_id", "2611038862104557")]


@pytest.mark.parametrize("text", ["88", "886", "888", "88。", "8 8", "88~", "ok 88", "好嘞886"])
def test_bye_codes_keep_their_intent(classifier: NumberAnswerClassifier, text: str) -> None:
    message = diet_output(text)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "goodbye"
    assert message.get(ENTITIES) == []


@pytest.mark.parametrize("text", ["42", "39", "2", "1", "110", "868", "688", "88888"])
def test_bare_sizes_and_quantities_are_answers(classifier: NumberAnswerClassifier, text: str) -> None:
    """A form asking for a size or a quantity gets "42" or "2" back; that is never a goodbye."""
    message = diet_output(text, confidence=0.8)
    classifier.process([message])
    assert message.get(INTENT) == {"name": "inform", "confidence": 1.0}
    assert message.get(ENTITIES) == []  # no order number or phone digits in them


def test_text_with_words_is_left_to_diet(classifier: NumberAnswerClassifier) -> None:
    message = diet_output("订单2611038862104557到哪了", intent="inquire_logistics", confidence=0.8)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "inquire_logistics"


def test_grouped_order_number_becomes_one_entity(classifier: NumberAnswerClassifier) -> None:
    fragment = {"entity": "phone_last4", "value": "2611", "start": 0, "end": 4, "extractor": "DIETClassifier"}
    message = diet_output("2611 0388 6210 4557", entities=[fragment])
    classifier.process([message])
    assert entity_values(message) == [("order_id", "2611038862104557")]
    assert parse_order_no("2611 0388 6210 4557") == ("2611038862104557", "")


@pytest.mark.parametrize("digits", ["8886", "8888", "0921"])
def test_four_digits_are_phone_digits(classifier: NumberAnswerClassifier, digits: str) -> None:
    message = diet_output(digits)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "inform"  # a phone may end in 8886: the shopper must get verified
    assert entity_values(message) == [("phone_last4", digits)]


def test_diet_entities_are_kept(classifier: NumberAnswerClassifier) -> None:
    tagged = {"entity": "order_id", "value": "2611038862104557", "start": 0, "end": 16, "extractor": "DIETClassifier"}
    message = diet_output("2611038862104557", entities=[dict(tagged)])
    classifier.process([message])
    assert message.get(ENTITIES) == [tagged]


def test_order_number_and_phone_digits_in_one_message(classifier: NumberAnswerClassifier) -> None:
    message = diet_output("2611038862104557 1234")
    classifier.process([message])
    assert message.get(INTENT)["name"] == "inform"
    assert entity_values(message) == [("order_id", "2611038862104557")]
    assert parse_order_no("2611038862104557 1234") == ("2611038862104557", "")


def test_non_order_numbers_get_no_order_entity(classifier: NumberAnswerClassifier) -> None:
    message = diet_output("13812345678", intent="inform", confidence=0.6)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "inform"
    assert message.get(ENTITIES) == []
