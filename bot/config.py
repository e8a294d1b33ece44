"""Settings, read once from the environment. Nothing else in the project reads os.environ for these."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    state_dir: Path  # runtime files: shop database, logs, embedded Redis
    models_dir: Path
    shop_db: Path
    redis_url: str | None  # an external Redis; None means start an embedded one
    rasa_port: int
    actions_port: int
    web_port: int
    web_host: str  # where the web chat page listens
    rasa_public_url: str  # Rasa's URL as a shopper's browser reaches it (the page's socket.io target)
    max_message_chars: int  # longer shopper messages get a polite "please shorten" answer
    max_body_bytes: int  # HTTP bodies above this are refused before parsing


def load_settings() -> Settings:
    state_dir = Path(os.environ.get("SHOP_STATE_DIR", PROJECT_ROOT / ".state"))
    return Settings(
        state_dir=state_dir,
        models_dir=Path(os.environ.get("SHOP_MODELS_DIR", PROJECT_ROOT / "models")),
        shop_db=Path(os.environ.get("SHOP_DB", state_dir / "shop.db")),
        redis_url=os.environ.get("REDIS_URL") or None,
        rasa_port=_int("RASA_PORT", 5005),
        actions_port=_int("ACTIONS_PORT", 5055),
        web_port=_int("WEB_PORT", 8080),
        web_host=os.environ.get("WEB_HOST", "0.0.0.0"),
        rasa_public_url=os.environ.get("RASA_PUBLIC_URL") or f"http://localhost:{_int('RASA_PORT', 5005)}",
        max_message_chars=_int("MAX_MESSAGE_CHARS", 500),
        max_body_bytes=_int("MAX_BODY_BYTES", 64 * 1024),
    )
