"""Two fixes for per-turn work that Rasa 3.6 repeats needlessly; behaviour is unchanged.

Profiling our Rasa server under load (py-spy, bench/bench_rest.py) showed two
hot spots that are not doing useful work:

1. `Event.resolve_by_type` walks every Event subclass, calling
   `inspect.isabstract` on each, for every event it parses: every event an
   action server returns and every event read from a tracker store.
   We look names up in a table built on first use instead.
2. `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
   checks the (constant) schema itself and compiles a validator on every call.
   We compile it once; a response that fails still goes through Rasa's own
   method, so the error and its message are Rasa's.

`install()` is idempotent; `python -m bot.rasa_server` calls it before Rasa's CLI.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_installed = False
_original_resolve = Event.resolve_by_type
_original_validate = RemoteAction._validate_action_result
_event_classes: dict[str, type[Event]] = {}


def resolve_event_type(type_name: str, default: Optional[type[Event]] = None) -> Optional[type[Event]]:
    """`Event.resolve_by_type` with a lookup table (same first-match order, same errors)."""
    cls = _event_classes.get(type_name)
    if cls is None:
        for candidate in all_subclasses(Event):  # first call, or a subclass imported since
            _event_classes.setdefault(candidate.type_name, candidate)
        cls = _event_classes.get(type_name)
    return cls if cls is not None else _original_resolve(type_name, default)


@lru_cache(maxsize=1)
def _action_result_validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Valid results pass with a precompiled validator; invalid ones get Rasa's own error."""
    if next(iter(_action_result_validator().iter_errors(result)), None) is None:
        return True
    return _original_validate(self, result)


def install() -> None:
    global _installed
    if _installed:
        return
    Event.resolve_by_type = staticmethod(resolve_event_type)  # type: ignore[method-assign]
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    _installed = True
