"""Who a shopper is, decided by our server: signed web chat sessions and API keys.

The conversation id used to be whatever the client named, so anyone who knew or
guessed one read that conversation's replies. Now:

- the web chat page asks our web server for a **session token** (`POST /session`):
  a random conversation id signed with `SHOP_SESSION_KEY` (itsdangerous, expiring
  after `SESSION_MAX_AGE_SECONDS`); the Socket.IO channel binds each connection to
  the conversation its token names and refuses messages that name another;
- a **REST** caller sends `Authorization: Bearer <key>`: an API key from
  `SHOP_API_KEYS` (the app's backend, which names its own users' conversations),
  or a session token (then the conversation is the token's).
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Optional

from itsdangerous import BadData, URLSafeTimedSerializer

SESSION_SALT = "shop-webchat-session"
SESSION_ID_BYTES = 16  # 32 hex characters: not guessable


def new_session_id() -> str:
    return secrets.token_hex(SESSION_ID_BYTES)


class SessionTokens:
    """Issues and checks signed, expiring web chat session tokens."""

    def __init__(self, key: str, max_age_seconds: int) -> None:
        if not key:
            raise ValueError("session tokens need a key (SHOP_SESSION_KEY)")
        self._serializer = URLSafeTimedSerializer(key, salt=SESSION_SALT)
        self.max_age_seconds = max_age_seconds

    def issue(self, session_id: Optional[str] = None) -> tuple[str, str]:
        """(token, session id): for `session_id`, or for a new conversation."""
        session_id = session_id or new_session_id()
        return str(self._serializer.dumps({"sid": session_id})), session_id

    def session_of(self, token: object) -> Optional[str]:
        """The conversation a token names, or None when it is forged, expired or malformed."""
        if not isinstance(token, str) or not token or len(token) > 512:
            return None
        try:
            data = self._serializer.loads(token, max_age=self.max_age_seconds)
        except BadData:
            return None
        sid = data.get("sid") if isinstance(data, dict) else None
        return sid if isinstance(sid, str) and sid else None


@dataclass(frozen=True)
class Caller:
    """Who is calling REST: an app backend with an API key, or a web chat session."""

    kind: str  # "api_key" or "session"
    name: str  # which key (its position, never the key itself), or the session's conversation id

    @property
    def client_id(self) -> str:
        """How the order access guard and rate limits count this caller."""
        return f"{self.kind}:{self.name}"


def bearer(header: Optional[str]) -> Optional[str]:
    """The credential in `Authorization: Bearer <credential>`, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    value = header[len("Bearer "):].strip()
    return value or None


def api_key_name(credential: str, keys: tuple[str, ...]) -> Optional[str]:
    """Which configured API key this is ("key1", ...), compared in constant time; None when none matches."""
    found = None
    for index, key in enumerate(keys, 1):
        if hmac.compare_digest(credential.encode(), key.encode()):
            found = f"key{index}"  # no early exit: every key is compared
    return found


def identify(header: Optional[str], api_keys: tuple[str, ...], tokens: Optional[SessionTokens]) -> Optional[Caller]:
    """The caller an Authorization header proves, or None."""
    credential = bearer(header)
    if credential is None:
        return None
    name = api_key_name(credential, api_keys)
    if name is not None:
        return Caller("api_key", name)
    session = tokens.session_of(credential) if tokens else None
    return Caller("session", session) if session else None
