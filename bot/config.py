"""Settings, read once from the environment. Nothing else in the project reads os.environ for these."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _local_origins(web_port: int) -> tuple[str, ...]:
    """The web chat page as a browser on this machine opens it."""
    return (f"http://localhost:{web_port}", f"http://127.0.0.1:{web_port}")


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
    rasa_host: str  # interface Rasa listens on (channels and its HTTP API)
    actions_host: str  # interface the action server listens on
    webchat_origins: tuple[str, ...]  # browser origins allowed to call Rasa (CORS, Socket.IO)
    # Guessing an order's phone digits (bot.guard.order_access): failures counted in a sliding window.
    verify_failures_per_order: int
    verify_failures_per_client: int
    verify_window_seconds: int
    order_lock_seconds: int  # how long an order (or client) stays locked past a limit
    verification_ttl_seconds: int  # a verified order is shown without new digits for this long
    session_max_age_seconds: int  # a web chat session token is honoured this long after it was issued
    retention_seconds: int  # a conversation is deleted this long after its last turn
    # Messages a minute (bot.guard.rate_limit): web chat conversation, address, API key; new sessions per address.
    rate_conversation_per_minute: int
    rate_ip_per_minute: int
    rate_api_key_per_minute: int
    rate_sessions_per_ip_per_minute: int
    # Hand-off (bot.handoff): presence grace, sweep period, the wait past which a shopper is offered to
    # leave a message, the handling time assumed before any was measured, an agent's default chat limit.
    handoff_grace_seconds: int
    handoff_sweep_seconds: int
    handoff_max_wait_seconds: int
    handoff_default_handling_seconds: int
    agent_chat_limit: int
    handoff_hours: str  # "calendar" (working hours and holidays), "always" (a 24/7 team) or "never" (tickets only)
    console_port: int  # the agents' web console (bot.desk.console)
    console_host: str
    telegram_desk_chat: str | None  # the Telegram chat agents work in (bot.desk.telegram_desk); None: no desk
    telegram_agents: tuple[str, ...]  # Telegram user ids allowed to act on the desk
    telegram_api_url: str | None  # a Bot API server other than Telegram's (tests, a local Bot API server)
    api_keys: tuple[str, ...] = field(repr=False)  # REST callers' keys (the app's backend, scripts)
    # Secrets our processes share (bot.runtime.secrets_store makes them; `make run` passes them on).
    actions_token: str | None = field(repr=False)
    rasa_api_token: str | None = field(repr=False)
    redis_password: str | None = field(repr=False)
    session_key: str | None = field(repr=False)
    telegram_desk_token: str | None = field(repr=False)  # the desk bot's token from @BotFather
    # WeChat Official Account channel (connectors.wechat): the account's AppID and AppSecret, the callback's
    # signature token, its EncodingAESKey (safe mode; None: plain mode), the API base (tests: a stand-in).
    wechat_app_id: str | None
    wechat_app_secret: str | None = field(repr=False)
    wechat_token: str | None = field(repr=False)
    wechat_aes_key: str | None = field(repr=False)
    wechat_api_url: str
    # E-mail channel (connectors.email): the service address shoppers write to, the SMTP server answers go out
    # through, the IMAP mailbox watched for new mail (TLS: "starttls", "ssl" or "none"; port 0: the mode's usual
    # port), and how often it is polled when the server has no IDLE (or mail waits for a retry).
    mail_address: str | None
    mail_smtp_host: str | None
    mail_smtp_port: int
    mail_smtp_user: str | None
    mail_smtp_password: str | None = field(repr=False)
    mail_smtp_tls: str
    mail_imap_host: str | None
    mail_imap_port: int
    mail_imap_user: str | None
    mail_imap_password: str | None = field(repr=False)
    mail_imap_tls: str
    mail_poll_seconds: float
    # A CA bundle (PEM) to trust for the mail servers instead of the system's: a self-hosted mail server with
    # the company's own CA. None: the system's CA bundle.
    mail_ca_file: str | None
    # Shoppers' Telegram channel (connectors.telegram): the shop bot's token from @BotFather, the secret Telegram
    # sends with every webhook call, and the public base URL Telegram reaches Rasa at (None: long polling).
    telegram_token: str | None = field(default=None, repr=False)
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    telegram_public_url: str | None = None


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
        rasa_host=os.environ.get("RASA_HOST", "127.0.0.1"),
        actions_host=os.environ.get("ACTIONS_HOST", "127.0.0.1"),
        webchat_origins=_list("WEBCHAT_ORIGINS") or _local_origins(_int("WEB_PORT", 8080)),
        verify_failures_per_order=_int("VERIFY_FAILURES_PER_ORDER", 5),
        verify_failures_per_client=_int("VERIFY_FAILURES_PER_CLIENT", 10),
        verify_window_seconds=_int("VERIFY_WINDOW_SECONDS", 3600),
        order_lock_seconds=_int("ORDER_LOCK_SECONDS", 1800),
        verification_ttl_seconds=_int("VERIFICATION_TTL_SECONDS", 1800),
        session_max_age_seconds=_int("SESSION_MAX_AGE_SECONDS", 30 * 24 * 3600),
        retention_seconds=_int("RETENTION_DAYS", 30) * 24 * 3600,
        rate_conversation_per_minute=_int("RATE_CONVERSATION_PER_MINUTE", 20),
        rate_ip_per_minute=_int("RATE_IP_PER_MINUTE", 120),
        rate_api_key_per_minute=_int("RATE_API_KEY_PER_MINUTE", 20_000),
        rate_sessions_per_ip_per_minute=_int("RATE_SESSIONS_PER_IP_PER_MINUTE", 30),
        handoff_grace_seconds=_int("HANDOFF_GRACE_SECONDS", 20),
        handoff_sweep_seconds=_int("HANDOFF_SWEEP_SECONDS", 5),
        handoff_max_wait_seconds=_int("HANDOFF_MAX_WAIT_SECONDS", 300),
        handoff_default_handling_seconds=_int("HANDOFF_DEFAULT_HANDLING_SECONDS", 240),
        agent_chat_limit=_int("AGENT_CHAT_LIMIT", 3),
        handoff_hours=os.environ.get("HANDOFF_HOURS", "calendar"),
        console_port=_int("CONSOLE_PORT", 8090),
        console_host=os.environ.get("CONSOLE_HOST", "127.0.0.1"),
        telegram_desk_chat=os.environ.get("TELEGRAM_DESK_CHAT") or None,
        telegram_agents=_list("TELEGRAM_AGENTS"),
        telegram_api_url=os.environ.get("TELEGRAM_API_URL") or None,
        api_keys=_list("SHOP_API_KEYS"),
        actions_token=os.environ.get("SHOP_ACTIONS_TOKEN") or None,
        rasa_api_token=os.environ.get("SHOP_RASA_API_TOKEN") or None,
        redis_password=os.environ.get("SHOP_REDIS_PASSWORD") or None,
        session_key=os.environ.get("SHOP_SESSION_KEY") or None,
        telegram_desk_token=os.environ.get("TELEGRAM_DESK_TOKEN") or None,
        wechat_app_id=os.environ.get("WECHAT_APP_ID") or None,
        wechat_app_secret=os.environ.get("WECHAT_APP_SECRET") or None,
        wechat_token=os.environ.get("WECHAT_TOKEN") or None,
        wechat_aes_key=os.environ.get("WECHAT_AES_KEY") or None,
        wechat_api_url=os.environ.get("WECHAT_API_URL") or "https://api.weixin.qq.com",
        mail_address=os.environ.get("MAIL_ADDRESS") or None,
        mail_smtp_host=os.environ.get("MAIL_SMTP_HOST") or None,
        mail_smtp_port=_int("MAIL_SMTP_PORT", 0),
        mail_smtp_user=os.environ.get("MAIL_SMTP_USER") or None,
        mail_smtp_password=os.environ.get("MAIL_SMTP_PASSWORD") or None,
        mail_smtp_tls=(os.environ.get("MAIL_SMTP_TLS") or "starttls").lower(),
        mail_imap_host=os.environ.get("MAIL_IMAP_HOST") or None,
        mail_imap_port=_int("MAIL_IMAP_PORT", 0),
        mail_imap_user=os.environ.get("MAIL_IMAP_USER") or None,
        mail_imap_password=os.environ.get("MAIL_IMAP_PASSWORD") or None,
        mail_imap_tls=(os.environ.get("MAIL_IMAP_TLS") or "ssl").lower(),
        mail_poll_seconds=float(os.environ.get("MAIL_POLL_SECONDS") or 30),
        mail_ca_file=os.environ.get("MAIL_CA_FILE") or None,
        telegram_token=os.environ.get("TELEGRAM_TOKEN") or None,
        telegram_webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None,
        telegram_public_url=os.environ.get("TELEGRAM_PUBLIC_URL") or None,
    )
