"""The secrets our own processes share, made at first start and kept in the state directory.

- `actions_token`: Rasa sends it to the action server (`Authorization: Bearer`);
  a call without it is refused before any action runs;
- `rasa_api_token`: Rasa's HTTP API (`/conversations/...`, `/model/...`);
- `redis_password`: the embedded Redis requires it;
- `session_key`: signs the web chat's session tokens;
- `api_key`: a REST key for scripts and the benchmark when `SHOP_API_KEYS` is not set.

Each lives in its own file under `<state>/secrets/` (directory 0700, files
0600), is handed to child processes in their environment (never on a command
line, which any local user can read), and is read there through `bot.config`.
Delete a file to rotate that secret: the next start makes a new one.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

NAMES = ("actions_token", "rasa_api_token", "redis_password", "session_key", "api_key")
# The environment variable each secret reaches a child process in (read in bot.config).
ENV = {
    "actions_token": "SHOP_ACTIONS_TOKEN",
    "rasa_api_token": "SHOP_RASA_API_TOKEN",
    "redis_password": "SHOP_REDIS_PASSWORD",
    "session_key": "SHOP_SESSION_KEY",
    "api_key": "SHOP_API_KEYS",
}


@dataclass(frozen=True)
class InternalSecrets:
    actions_token: str
    rasa_api_token: str
    redis_password: str
    session_key: str
    api_key: str

    def env(self, configured_api_keys: tuple[str, ...] = ()) -> dict[str, str]:
        """The environment that hands these secrets to a child process; configured API keys replace ours."""
        env = {ENV[name]: getattr(self, name) for name in NAMES}
        if configured_api_keys:
            env[ENV["api_key"]] = ",".join(configured_api_keys)
        return env


def _read_or_create(path: Path) -> str:
    try:
        value = path.read_text(encoding="ascii").strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(32)
    # O_EXCL: when two starts race, one writes and both read its value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


def load_or_create(state_dir: Path) -> InternalSecrets:
    """The secrets in `<state_dir>/secrets/`, each made on first use."""
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return InternalSecrets(**{name: _read_or_create(folder / name) for name in NAMES})
