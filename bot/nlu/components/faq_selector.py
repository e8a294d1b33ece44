"""`FaqResponseSelector`: Rasa's ResponseSelector, run only for FAQ messages.

For every other message its answer was computed and never used (about a tenth
of a turn's CPU).
"""
from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message


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

