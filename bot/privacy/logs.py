"""Log records with personal data masked, whichever library logs them (Rasa logs message texts at debug)."""
from __future__ import annotations

import logging
from typing import Any

from bot.privacy.masking import mask_value

_installed = False


def install_masking() -> None:
    """Mask every log record this process creates from now on (idempotent)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = mask_value(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = mask_value(record.args)
        return record

    logging.setLogRecordFactory(masked_record)
    _installed = True
