"""`TextNormalizer`: rewrites the message text with `normalize_text` before the tokenizer sees it.

Every channel and `rasa test`/`rasa shell` get the same treatment, because it is
part of the model's pipeline.

A pasted order card (`bot.nlu.order_card`) is context, not the question: the
classifier reads only the shopper's own words around it, and the card's order
number becomes an `order_id` entity of the parse. DIET, the spaCy extractor and
`NumberAnswerClassifier` add their entities to that list; none of them drops it.
The entity's `start`/`end` point into the message as the shopper sent it (the
tracker keeps that text): the rewritten text no longer holds the number.
"""
from __future__ import annotations

from typing import Any, Dict, List

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
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.guard.commands import COMMAND_PREFIX
from bot.nlu.normalize import keeps_offsets, normalize_text
from bot.nlu.order_card import CARD_ONLY_TEXT, CardSplit, classifier_text, split_order_cards


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Puts shopper text into canonical form (see `bot.nlu.normalize`) and sets pasted order cards aside."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"order_cards": True, "card_only_text": CARD_ONLY_TEXT}

    def __init__(self, config: Dict[str, Any], name: str = "TextNormalizer") -> None:
        self._config = config
        self._order_cards = bool(config.get("order_cards", True))
        self._card_only_text = str(config.get("card_only_text") or CARD_ONLY_TEXT)
        self._name = name

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        return cls(config, execution_context.node_name or cls.__name__)

    def _cards(self, text: str) -> CardSplit | None:
        if not self._order_cards or text.lstrip().startswith(COMMAND_PREFIX):
            return None
        split = split_order_cards(text)
        return split if split.cards else None

    def _set_card_aside(self, message: Message, text: str) -> bool:
        """Rewrites `message` to the shopper's words with the card's order numbers as entities; False: no card."""
        words, split = classifier_text(text, self._card_only_text)
        if split is None:
            return False
        message.set(TEXT, words)
        entities = list(message.get(ENTITIES) or [])
        entities += [
            {
                ENTITY_ATTRIBUTE_TYPE: "order_id",
                ENTITY_ATTRIBUTE_VALUE: number.value,
                ENTITY_ATTRIBUTE_START: number.start,
                ENTITY_ATTRIBUTE_END: number.end,
                EXTRACTOR: self._name,
            }
            for number in split.order_numbers
        ]
        message.set(ENTITIES, entities, add_to_output=True)
        return True

    def _normalize(self, message: Message, training: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        if not training:
            if self._order_cards and self._set_card_aside(message, text):
                return
        elif not message.get(ENTITIES):
            # A training example keeps its label and its annotated offsets: only an
            # unannotated one with words beside a card is reduced to those words.
            split = self._cards(text)
            if split is not None and split.shopper_words:
                text = split.shopper_words
                message.set(TEXT, text)
        normalized = normalize_text(text)
        if normalized == text:
            return
        # Entity offsets of annotated examples must keep pointing at their text.
        if training and message.get(ENTITIES) and not keeps_offsets(text, normalized):
            return
        message.set(TEXT, normalized)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message, training=True)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message, training=False)
        return messages
