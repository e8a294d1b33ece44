"""`NumberAnswerClassifier`: a message of only digits is an answer, not "bye".

Character n-grams of a number can look like anything: "2611038862104557" contains
"886", shoppers' "bye". A shopper who sends only digits is answering a question
(a size, a quantity, a pasted order number, the phone's last four digits); only
the bye codes themselves stay goodbye.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.shop.identifiers import DIGITS_ONLY, ORDER_NO, PHONE_LAST4

logger = logging.getLogger(__name__)

# What shoppers type for "bye" (拜拜): these keep the classifier's intent. Not 8886 or 8888,
# which may be the end of a phone number the shopper must be able to verify with.
BYE_CODES = ("88", "886", "888")



@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class NumberAnswerClassifier(GraphComponent):
    """Makes a digits-only message an `inform` answer, unless it is shoppers' "bye".

    Runs after the intent classifier and before `FallbackClassifier`. Character n-grams of a
    number can look like anything: with 88 and 886 meaning "bye", DIET read a
    bare size (42), quantity (2) or order number containing 88 as goodbye. A
    shopper who sends only digits is answering a question; only the bye codes
    (`BYE_CODES`, or the `keep_pattern` configured) keep the classifier's intent. A pasted order
    number DIET left untagged gets its `order_id` entity from the order-number
    pattern, four lone digits their `phone_last4`; a number DIET tagged is
    left as it is.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"intent": "inform", "keep_pattern": "|".join(BYE_CODES)}

    def __init__(self, config: Dict[str, Any], name: str) -> None:
        self._intent = str(config.get("intent", "inform"))
        self._keep = re.compile(str(config.get("keep_pattern", "|".join(BYE_CODES))))
        self._name = name

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NumberAnswerClassifier:
        return cls(config, execution_context.node_name)

    def answer_digits(self, text: str) -> Optional[str]:
        """The digits of `text` when it holds only digits and separators and is not a bye code."""
        if not DIGITS_ONLY.fullmatch(text):
            return None
        digits = re.sub(r"\D", "", text)
        return digits if digits and not self._keep.fullmatch(digits) else None

    def _entity(self, entity: str, value: str, start: int, end: int) -> Dict[str, Any]:
        return {
            ENTITY_ATTRIBUTE_TYPE: entity,
            ENTITY_ATTRIBUTE_VALUE: value,
            ENTITY_ATTRIBUTE_START: start,
            ENTITY_ATTRIBUTE_END: end,
            EXTRACTOR: self._name,
        }

    def _tag(self, message: Message, text: str, digits: str) -> None:
        entities = list(message.get(ENTITIES) or [])
        numbers = [e for e in entities if e.get(ENTITY_ATTRIBUTE_TYPE) in ("order_id", "phone_last4")]
        if ORDER_NO.fullmatch(digits):
            # One order number, maybe typed in groups ("2611 0388 6210 4557"):
            # whatever DIET tagged inside it is a fragment of it.
            if [e.get(ENTITY_ATTRIBUTE_VALUE) for e in numbers] == [digits]:
                return
            entities = [e for e in entities if e not in numbers] + [self._entity("order_id", digits, 0, len(text))]
        elif numbers:
            return
        elif PHONE_LAST4.fullmatch(digits):
            entities.append(self._entity("phone_last4", digits, 0, len(text)))
        else:
            entities += [self._entity("order_id", m.group(), m.start(), m.end()) for m in ORDER_NO.finditer(text)]
        message.set(ENTITIES, entities, add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            digits = self.answer_digits(text) if isinstance(text, str) else None
            if digits is None:
                continue
            previous = message.get(INTENT) or {}
            if previous.get(INTENT_NAME_KEY) != self._intent:
                logger.debug("digits-only message: %s -> %s", previous.get(INTENT_NAME_KEY), self._intent)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self._intent]
            # The other intents stay listed for trainers, at no weight, so the
            # fallback's ambiguity check does not compare 1.0 against DIET's guess.
            top = {INTENT_NAME_KEY: self._intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, top, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY,
                [top] + [{**r, PREDICTED_CONFIDENCE_KEY: 0.0} for r in ranking],
                add_to_output=True,
            )
            self._tag(message, text, digits)
        return messages

