"""Fixes for per-turn work that Rasa 3.6 repeats needlessly; behaviour is unchanged.

Profiling our Rasa server under load (py-spy, bench/bench_rest.py) showed
hot spots that are not doing useful work:

1. `Event.resolve_by_type` walks every Event subclass, calling
   `inspect.isabstract` on each, for every event it parses: every event an
   action server returns and every event read from a tracker store.
   We look names up in a table built on first use instead.
2. `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
   checks the (constant) schema itself and compiles a validator on every call.
   We compile it once; a response that fails still goes through Rasa's own
   method, so the error and its message are Rasa's. Most of that check is the
   event schema's `oneOf` over 23 event kinds; each kind is told apart by
   its `event` constant, so an event is checked against its own kind only.
3. `Message._combine_features` joins the sparse features of N featurizers
   with N-1 `scipy.sparse.hstack` calls after a deepcopy of the first; DIET
   does it twice per message (sequence and sentence). We join them in one
   concatenation with the same entries, order, shape and dtypes.

`install()` is idempotent; `python -m bot.dialogue.rasa_server` calls it before Rasa's CLI.
"""
from __future__ import annotations

from functools import cache
from typing import Any, Optional, Sequence

import numpy as np
import scipy.sparse
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.common import all_subclasses

# scipy's own index-dtype and upcast rules, so the result matches hstack's (scipy is pinned in the lock).
from scipy.sparse._sputils import get_index_dtype, upcast

_installed = False
_original_resolve = Event.resolve_by_type
_original_validate = RemoteAction._validate_action_result
_original_combine = Message._combine_features
_event_classes: dict[str, type[Event]] = {}


def resolve_event_type(type_name: str, default: Optional[type[Event]] = None) -> Optional[type[Event]]:
    """`Event.resolve_by_type` with a lookup table (same first-match order, same errors)."""
    cls = _event_classes.get(type_name)
    if cls is None:
        for candidate in all_subclasses(Event):  # first call, or a subclass imported since
            _event_classes.setdefault(candidate.type_name, candidate)
        cls = _event_classes.get(type_name)
    return cls if cls is not None else _original_resolve(type_name, default)


@cache
def _event_validators() -> dict[str, Any]:
    """One compiled validator per event kind: the event schema without its `oneOf`, plus that kind's branch.

    Equivalent to the full schema because every `oneOf` branch pins `event` to
    its own constant (checked here) and `event` is required: an event can only
    ever match the branch of its kind. Empty when that no longer holds.
    """
    from jsonschema.validators import validator_for
    from rasa.shared.utils.schemas.events import EVENT_SCHEMA

    base = {key: value for key, value in EVENT_SCHEMA.items() if key != "oneOf"}
    validators: dict[str, Any] = {}
    if "event" not in base.get("required", []):
        return validators
    for branch in EVENT_SCHEMA["oneOf"]:
        kind = branch.get("properties", {}).get("event", {}).get("const")
        if not isinstance(kind, str) or kind in validators:
            return {}
        schema = {"allOf": [base, branch]}
        cls = validator_for(schema)
        cls.check_schema(schema)
        validators[kind] = cls(schema)
    return validators


def _is_valid_action_result(result: Any) -> bool:
    """The action response schema (`RemoteAction.action_response_format_spec`), one event kind at a time."""
    validators = _event_validators()
    if not validators or not isinstance(result, dict):
        return False
    events = result.get("events", [])
    responses = result.get("responses", [])
    if not isinstance(events, list) or not isinstance(responses, list):
        return False
    if not all(isinstance(response, dict) for response in responses):
        return False
    for event in events:
        validator = validators.get(str(event.get("event"))) if isinstance(event, dict) else None
        if validator is None or next(iter(validator.iter_errors(event)), None) is not None:
            return False
    return True


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Valid results pass a per-event-kind check; anything else goes to Rasa's own check and error."""
    if _is_valid_action_result(result):
        return True
    return _original_validate(self, result)


def combine_features(features: Sequence[Features], featurizers: list[str]) -> Optional[Features]:
    """`Message._combine_features` with one concatenation for COO sparse features.

    Same result as Rasa's pairwise `hstack`: a COO matrix with the blocks'
    entries in block order, the upcast dtype and scipy's index dtype. Dense,
    mixed or mismatched inputs go to Rasa's own method (and its errors).
    """
    if len(features) < 2 or not all(isinstance(f.features, scipy.sparse.coo_matrix) for f in features):
        return _original_combine(features, featurizers)
    blocks = [f.features for f in features]
    rows = blocks[0].shape[0]
    if any(b.shape[0] != rows for b in blocks):
        return _original_combine(features, featurizers)
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
    shape = (rows, int(offsets[-1]))
    index_dtype = get_index_dtype(maxval=max(shape))
    data = np.concatenate([b.data for b in blocks]).astype(upcast(*(b.dtype for b in blocks)), copy=False)
    row = np.concatenate([b.row for b in blocks]).astype(index_dtype, copy=False)
    col = np.concatenate([b.col + offset for b, offset in zip(blocks, offsets[:-1])]).astype(index_dtype, copy=False)
    first = features[0]
    combined = scipy.sparse.coo_matrix((data, (row, col)), shape=shape)
    return Features(combined, first.type, first.attribute, featurizers)


def install() -> None:
    global _installed
    if _installed:
        return
    Event.resolve_by_type = staticmethod(resolve_event_type)
    RemoteAction._validate_action_result = validate_action_result
    Message._combine_features = staticmethod(combine_features)
    _installed = True
