"""`bot.dialogue.rasa_speedups` gives exactly what Rasa's own code gives, only faster.

Each patched function is compared with Rasa's original on the same inputs:
event-type lookup, the action-response check (valid and invalid responses of
every event kind) and the joining of sparse features for DIET.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    Event,
    FollowupAction,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.utils.endpoints import EndpointConfig

from bot.dialogue import rasa_speedups


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    rasa_speedups.install()


def test_event_types_resolve_like_rasa() -> None:
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")


def test_a_bad_action_response_keeps_rasas_error() -> None:
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
    assert action._validate_action_result({"events": [{"event": "slot", "name": "x", "value": 1}], "responses": []})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list"})


GOOD_EVENTS = [
    SlotSet("order_id", "2611038862104557").as_dict(),
    SlotSet("phone_last4", None).as_dict(),
    ActiveLoop("return_form").as_dict(),
    ActiveLoop(None).as_dict(),
    FollowupAction("action_listen").as_dict(),
    BotUttered("好的", {"buttons": [{"title": "是", "payload": "/affirm"}]}).as_dict(),
    ActionExecuted("utter_greet").as_dict(),
    UserUttered("你好", {"name": "greet", "confidence": 1.0}).as_dict(),
    LoopInterrupted(True).as_dict(),
    AllSlotsReset().as_dict(),
    Restarted().as_dict(),
    SessionStarted().as_dict(),
    {"event": "slot", "name": "x", "value": [1, 2], "timestamp": None},
]
BAD_EVENTS = [
    {"event": "slot", "value": 1},                      # no name
    {"event": "slot", "name": 3, "value": 1},           # name not a string
    {"event": "no_such_kind"},
    {"name": "x", "value": 1},                          # no event
    {"event": "slot", "name": "x", "value": 1, "timestamp": "yesterday"},
    {"event": "bot", "text": "hi", "metadata": "not an object"},
    {"event": "followup"},                              # no name
    {"event": 5},
    "slot",
    None,
]
RESULTS = (
    [{"events": [event], "responses": []} for event in GOOD_EVENTS + BAD_EVENTS]
    + [
        {"events": GOOD_EVENTS, "responses": [{"text": "好的"}]},
        {},
        {"events": []},
        {"responses": [{"text": "x"}, "not an object"]},
        {"responses": "x"},
        {"events": None},
        {"events": GOOD_EVENTS + [BAD_EVENTS[0]]},
        [],
        "events",
    ]
)


@pytest.mark.parametrize("result", RESULTS, ids=range(len(RESULTS)))
def test_action_response_check_agrees_with_the_full_schema(result: object) -> None:
    schema = RemoteAction.action_response_format_spec()
    expected = validator_for(schema, default=Draft202012Validator)(schema).is_valid(result)
    assert rasa_speedups._is_valid_action_result(result) == expected


def test_every_rasa_event_kind_has_its_own_check() -> None:
    from rasa.shared.utils.schemas.events import EVENT_SCHEMA

    kinds = {branch["properties"]["event"]["const"] for branch in EVENT_SCHEMA["oneOf"]}
    assert set(rasa_speedups._event_validators()) == kinds


def random_coo(rows: int, cols: int, dtype: type, seed: int) -> scipy.sparse.coo_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((rows, cols)) < 0.3) * rng.integers(1, 5, (rows, cols))
    return scipy.sparse.coo_matrix(dense.astype(dtype))


@pytest.mark.parametrize("feature_type", [FEATURE_TYPE_SEQUENCE, FEATURE_TYPE_SENTENCE])
@pytest.mark.parametrize("shapes", [[(7, 3), (7, 120), (7, 1), (7, 2000)], [(1, 5), (1, 0), (1, 9)], [(3, 4), (3, 4)]])
@pytest.mark.parametrize("dtypes", [[np.float32] * 4, [np.int64, np.float32, np.float64, np.int64]])
def test_sparse_features_join_exactly_like_rasa(feature_type: str, shapes: list, dtypes: list) -> None:
    names = [f"featurizer{i}" for i in range(len(shapes))]
    features = [
        Features(random_coo(rows, cols, dtype, seed), feature_type, TEXT, name)
        for seed, ((rows, cols), dtype, name) in enumerate(zip(shapes, dtypes, names))
    ]
    ours = rasa_speedups.combine_features(features, names)
    rasas = rasa_speedups._original_combine(features, names)
    assert isinstance(ours.features, scipy.sparse.coo_matrix) and isinstance(rasas.features, scipy.sparse.coo_matrix)
    assert ours.features.shape == rasas.features.shape
    assert ours.features.dtype == rasas.features.dtype
    for part in ("row", "col", "data"):
        ours_part, rasas_part = getattr(ours.features, part), getattr(rasas.features, part)
        assert ours_part.dtype == rasas_part.dtype
        np.testing.assert_array_equal(ours_part, rasas_part)
    assert (ours.type, ours.attribute, ours.origin) == (rasas.type, rasas.attribute, rasas.origin)
    assert ours.fingerprint() == rasas.fingerprint()
    assert features[0].origin == "featurizer0"  # the inputs are left as they were


def test_dense_and_mismatched_features_go_to_rasa() -> None:
    dense = [Features(np.ones((1, 3)), FEATURE_TYPE_SENTENCE, TEXT, "a"), Features(np.zeros((1, 2)), FEATURE_TYPE_SENTENCE, TEXT, "b")]
    joined = rasa_speedups.combine_features(dense, ["a", "b"])
    np.testing.assert_array_equal(joined.features, [[1, 1, 1, 0, 0]])
    mismatched = [Features(random_coo(2, 3, np.float32, 0), FEATURE_TYPE_SEQUENCE, TEXT, "a"),
                  Features(random_coo(3, 3, np.float32, 1), FEATURE_TYPE_SEQUENCE, TEXT, "b")]
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        rasa_speedups.combine_features(mismatched, ["a", "b"])
    mixed = [Features(random_coo(1, 3, np.float32, 0), FEATURE_TYPE_SENTENCE, TEXT, "a"), dense[1]]
    with pytest.raises(ValueError, match="Cannot combine sparse and dense"):
        rasa_speedups.combine_features(mixed, ["a", "b"])


def test_api_token_is_added_to_run_only_and_survives_a_leading_dash() -> None:
    from bot.dialogue.rasa_server import with_api_token

    assert with_api_token(["run", "--enable-api"], "-abc") == ["run", "--enable-api", "--auth-token=-abc"]
    assert with_api_token(["run", "--auth-token", "x"], "y") == ["run", "--auth-token", "x"]
    assert with_api_token(["train"], "y") == ["train"]
    assert with_api_token(["run"], None) == ["run"]
