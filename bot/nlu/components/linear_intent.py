"""`LinearIntentClassifier`: logistic regression (or k-NN) over the sentence features.

DIET learns its own representation from a few thousand training messages and
generalises poorly to how shoppers really write (issue 13). A linear model over
the e5 sentence embedding, optionally beside the character n-grams, leans on
what e5 already knows about language, trains in seconds and gives calibrated
probabilities for the fallback threshold.

The same component averages its probabilities with those of the intent classifier
before it (`previous_weight`), which makes an ensemble with DIET in one entry.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple, Type, Union

import numpy as np
import scipy.sparse
import skops.io as sio
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import dump_obj_as_json_to_file, read_json_file
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

LOGISTIC = "logistic"
KNN = "knn"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Intent from a scikit-learn classifier over the message's sentence features.

    Reads the dense (e5) and sparse (n-gram) sentence features of the featurizers
    named in `featurizers` (their `alias`; empty: all of them). Each kind is scaled
    to unit length, so neither drowns the other whatever the vocabulary size.
    """

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> List[str]:
        return ["sklearn", "skops"]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # Aliases of the featurizers whose sentence features are used; empty: all.
            "featurizers": [],
            "classifier": LOGISTIC,
            # Inverse regularisation of the logistic regression. Unit-length inputs
            # need a weak prior: at C=1 every probability stays low and flat, and on
            # the held-out set C=100 beat C=10 (bench/pipelines/README.md).
            "C": 100.0,
            # None keeps the training frequencies as priors; "balanced" (Rasa's choice)
            # scored lower on the held-out set.
            "class_weight": None,
            "max_iter": 1000,
            # k-NN: neighbours voting, weighted by cosine similarity.
            "neighbors": 5,
            # Weight of the previous intent classifier's ranking (e.g. DIET) in the
            # averaged probabilities; 0: this classifier alone.
            "previous_weight": 0.0,
            RANKING_LENGTH: LABEL_RANKING_LENGTH,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        clf: Any = None,
        sizes: Optional[Dict[str, int]] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._featurizers: List[str] = list(self._config["featurizers"] or [])
        self._model_storage = model_storage
        self._resource = resource
        self.clf = clf
        # Widths of the dense and the sparse block, so a message missing one kind of
        # feature still gets a vector of the trained width.
        self._sizes = sizes or {"dense": 0, "sparse": 0}

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        if config.get("classifier", LOGISTIC) not in (LOGISTIC, KNN):
            raise ValueError(f"LinearIntentClassifier.classifier must be '{LOGISTIC}' or '{KNN}'")
        if not 0.0 <= float(config.get("previous_weight", 0.0)) <= 1.0:
            raise ValueError("LinearIntentClassifier.previous_weight must be between 0 and 1")

    def _build(self) -> Any:
        if self._config["classifier"] == KNN:
            # Brute force over cosine distance: works on sparse rows, and a few
            # thousand training messages take well under a millisecond.
            return KNeighborsClassifier(
                n_neighbors=int(self._config["neighbors"]), metric="cosine", algorithm="brute",
                weights=_similarity_weights,
            )
        return LogisticRegression(
            C=float(self._config["C"]), class_weight=self._config["class_weight"],
            max_iter=int(self._config["max_iter"]), solver="lbfgs", multi_class="multinomial",
            random_state=42,
        )

    def _sentence_features(self, message: Message, sparse: bool) -> List[Any]:
        """The message's sentence features from our featurizers, in the order Rasa combines them.

        Not `Message.get_sparse_features`: it also deep-copies and stacks every token's
        features, which we never use; that was most of this component's 2 ms a message."""
        return [f.features for f in message.features
                if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_sparse() == sparse
                and (not self._featurizers or f.origin in self._featurizers)]

    def _blocks(self, message: Message) -> Tuple[Optional[np.ndarray], Optional[scipy.sparse.spmatrix]]:
        dense = self._sentence_features(message, sparse=False)
        sparse = self._sentence_features(message, sparse=True)
        return (np.hstack([np.asarray(d).reshape(1, -1) for d in dense]) if dense else None,
                scipy.sparse.hstack([scipy.sparse.csr_matrix(s).reshape(1, -1) for s in sparse]).tocsr()
                if sparse else None)

    def _matrix(self, messages: List[Message]) -> Union[np.ndarray, scipy.sparse.csr_matrix]:
        """One row per message: unit-length dense block beside unit-length sparse block.

        Dense features alone stay a dense array: BLAS makes the fit several times faster.
        """
        dense_rows, sparse_rows = [], []
        for message in messages:
            dense, sparse = self._blocks(message)
            dense_rows.append(np.zeros((1, self._sizes["dense"])) if dense is None else dense)
            sparse_rows.append(scipy.sparse.csr_matrix((1, self._sizes["sparse"])) if sparse is None else sparse)
        dense_block = normalize(np.vstack(dense_rows)) if self._sizes["dense"] else None
        sparse_block = normalize(scipy.sparse.vstack(sparse_rows).tocsr()) if self._sizes["sparse"] else None
        if sparse_block is None:
            return dense_block
        blocks = [b for b in (dense_block, sparse_block) if b is not None]
        return scipy.sparse.hstack([scipy.sparse.csr_matrix(b) for b in blocks]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("No intent examples: %s is not trained.", self.__class__.__name__)
            return self._resource
        dense, sparse = self._blocks(examples[0])
        self._sizes = {"dense": 0 if dense is None else dense.shape[1],
                       "sparse": 0 if sparse is None else sparse.shape[1]}
        if not any(self._sizes.values()):
            raise ValueError(f"LinearIntentClassifier: no sentence features from featurizers {self._featurizers}")
        labels = [str(e.get(INTENT)) for e in examples]
        # One BLAS thread: the matrices are small, and on a busy 2-core machine
        # threads spinning for each other made the fit six times slower.
        with threadpool_limits(1):
            self.clf = self._build().fit(self._matrix(examples), labels)
        self.persist()
        return self._resource

    def _previous(self, message: Message) -> Dict[str, float]:
        ranking = message.get(INTENT_RANKING_KEY) or []
        return {r[INTENT_NAME_KEY]: float(r[PREDICTED_CONFIDENCE_KEY]) for r in ranking if r.get(INTENT_NAME_KEY)}

    def _probabilities(self, messages: List[Message]) -> np.ndarray:
        """`predict_proba` of the matrix `_matrix` would build, one row per message.

        A multinomial logistic regression is scored here directly from the rows'
        non-zero entries: building the scipy matrix and sklearn's input checks took
        about 2 ms a message, a tenth of a whole turn. `tests/bot/nlu` checks that
        both give the same probabilities."""
        clf = self.clf
        if not isinstance(clf, LogisticRegression) or clf.coef_.shape[0] < 2:
            return clf.predict_proba(self._matrix(messages))
        width = self._sizes["dense"]
        weights = clf.coef_.T  # features x classes
        scores = np.tile(clf.intercept_, (len(messages), 1))
        for row, message in enumerate(messages):
            dense, sparse = self._blocks(message)
            if width and dense is not None:
                norm = float(np.linalg.norm(dense))
                if norm:
                    scores[row] += (dense[0] / norm) @ weights[:width]
            if self._sizes["sparse"] and sparse is not None and sparse.nnz:
                sparse = sparse.tocsr()
                sparse.sum_duplicates()
                norm = float(np.sqrt(np.square(sparse.data).sum()))
                if norm:
                    scores[row] += (sparse.data / norm) @ weights[width + sparse.indices]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.clf is None or not messages:
            return messages
        probabilities = self._probabilities(messages)
        classes = [str(c) for c in self.clf.classes_]
        weight = float(self._config["previous_weight"])
        length = int(self._config[RANKING_LENGTH])
        for message, row in zip(messages, probabilities):
            confidences = dict(zip(classes, (float(p) for p in row)))
            previous = self._previous(message) if weight else {}
            if previous:
                confidences = {name: (1 - weight) * confidences.get(name, 0.0) + weight * previous.get(name, 0.0)
                               for name in set(confidences) | set(previous)}
            ranking = [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
                       for name, confidence in sorted(confidences.items(), key=lambda kv: (-kv[1], kv[0]))]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking[:length] if length > 0 else ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.clf, model_dir / "classifier.skops")
            dump_obj_as_json_to_file(model_dir / "sizes.json", self._sizes)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / "classifier.skops"
                # Only the types skops trusts for sklearn's own estimators, plus what
                # k-NN keeps: our vote weights and its training rows (a sparse matrix).
                untrusted = sio.get_untrusted_types(file=path)
                if set(untrusted) - _TRUSTED:
                    raise ValueError(f"untrusted types in {path}: {untrusted}")
                clf = sio.load(path, trusted=untrusted)
                sizes = read_json_file(model_dir / "sizes.json")
        except ValueError as error:  # no resource (never trained) or a refused file
            logger.debug("LinearIntentClassifier not loaded (%s); it leaves intents alone.", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, clf, sizes)


def _similarity_weights(distances: np.ndarray) -> np.ndarray:
    """k-NN vote weights: cosine similarity (1 - distance), floored so a far neighbour still counts a little."""
    return np.clip(1.0 - distances, 1e-6, None)


_TRUSTED = {f"{__name__}._similarity_weights", "scipy.sparse._csr.csr_matrix"}
