"""Starts the whole assistant: Redis, action server, Rasa server, web chat page.

    python -m bot.runtime.runner            # what `make run` calls; Ctrl-C stops everything

`Stack` is also what the tests and the benchmark use, on free ports, so they run
exactly what a user runs.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.runtime.redis_service import RedisServer, ensure_redis, free_port
from bot.runtime.secrets_store import InternalSecrets, load_or_create

# One OpenMP/OpenBLAS thread per server process unless the environment says otherwise.
# Their idle worker threads spin after every call, and a server answers many short
# calls: with the default (one thread per core) our Rasa server used about 85 ms of
# CPU per turn under load, with this about 64 ms, at the same latency. The e5 encoder
# still uses every core for a lone turn (bot.nlu.encoder sets its own count).
SERVER_THREAD_ENV = {"OMP_NUM_THREADS": "1"}


def server_thread_env() -> dict[str, str]:
    """SERVER_THREAD_ENV without the variables the caller's environment already sets."""
    return {k: v for k, v in SERVER_THREAD_ENV.items() if k not in os.environ}

logger = logging.getLogger(__name__)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def wait_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail(log)
            raise RuntimeError(f"process for {url} exited with {process.returncode}; log {log}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log}")


def require_model(rasa_url: str, token: Optional[str], model: Path, log: Path) -> None:
    """Fail when Rasa answers but could not load `model` (a broken file, a missing asset): it would take every
    shopper's message and ignore it. Rasa loads the model before it serves, so its /status tells (409: none)."""
    url = f"{rasa_url}/status" + (f"?{urllib.parse.urlencode({'token': token})}" if token else "")
    try:
        with urllib.request.urlopen(url, timeout=30):
            return
    except urllib.error.HTTPError as error:
        if error.code != 409:  # anything else is not about the model: the start goes on
            return
    tail = _log_tail(log)
    raise RuntimeError(f"Rasa is up but could not load the model {model} (retrain with `make model`); log {log}:\n"
                       f"{tail}")


@dataclass
class Stack:
    """The running assistant. `start()` brings every part up and waits until each answers."""

    model: Path
    rasa_port: int
    actions_port: int
    web_port: Optional[int]
    state_dir: Path
    shop_db: Path
    redis_url: Optional[str]
    max_message_chars: int
    max_body_bytes: int
    rasa_host: str = "127.0.0.1"
    actions_host: str = "127.0.0.1"
    webchat_origins: tuple[str, ...] = ()  # default: the web page on this machine
    public_rasa_url: Optional[str] = None  # Rasa as shoppers' browsers reach it; default rasa_url
    configured_api_keys: tuple[str, ...] = field(default=(), repr=False)  # SHOP_API_KEYS; else one is made
    handoff_hours: Optional[str] = None  # HANDOFF_HOURS for every process (tests: "always"); None: the setting
    console_port: Optional[int] = None  # the agents' web console (bot.desk.console); None: not started
    console_host: str = "127.0.0.1"
    telegram_desk: bool = False  # the agents' Telegram desk, when its token and chat are configured
    credentials_file: Path = PROJECT_ROOT / "credentials.yml"  # the channels Rasa opens
    extra_env: dict[str, str] = field(default_factory=dict)  # more settings for every process (tests: a channel's)
    secrets: Optional[InternalSecrets] = field(default=None, init=False, repr=False)
    redis: Optional[RedisServer] = field(default=None, init=False)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)

    @classmethod
    def from_settings(cls, settings: Settings, model: Path, free_ports: bool = False, web: bool = True) -> Stack:
        pick = (lambda _: free_port()) if free_ports else (lambda port: port)
        return cls(
            model=model, rasa_port=pick(settings.rasa_port), actions_port=pick(settings.actions_port),
            web_port=pick(settings.web_port) if web else None, state_dir=settings.state_dir,
            shop_db=settings.shop_db, redis_url=settings.redis_url,
            max_message_chars=settings.max_message_chars, max_body_bytes=settings.max_body_bytes,
            rasa_host=settings.rasa_host, actions_host=settings.actions_host,
            webchat_origins=() if free_ports else settings.webchat_origins,
            public_rasa_url=None if free_ports else settings.rasa_public_url,
            configured_api_keys=settings.api_keys,
            console_port=pick(settings.console_port) if web else None, console_host=settings.console_host,
            telegram_desk=bool(settings.telegram_desk_token and settings.telegram_desk_chat),
        )

    # -- URLs --------------------------------------------------------------------
    @property
    def rasa_url(self) -> str:
        return f"http://localhost:{self.rasa_port}"

    @property
    def api_token(self) -> str:
        """The token of Rasa's HTTP API (`?token=` or `Authorization: Bearer`)."""
        assert self.secrets is not None, "start() the stack first"
        return self.secrets.rasa_api_token

    @property
    def api_key(self) -> str:
        """A REST key (`Authorization: Bearer <key>`): the first configured one, else the one made at first start."""
        if self.configured_api_keys:
            return self.configured_api_keys[0]
        assert self.secrets is not None, "start() the stack first"
        return self.secrets.api_key

    @property
    def origins(self) -> tuple[str, ...]:
        """Browser origins allowed to reach Rasa: the configured ones, else this stack's web page."""
        if self.webchat_origins:
            return self.webchat_origins
        return (f"http://localhost:{self.web_port}", f"http://127.0.0.1:{self.web_port}") if self.web_port else ()

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    @property
    def web_url(self) -> Optional[str]:
        return f"http://localhost:{self.web_port}/" if self.web_port else None

    @property
    def console_url(self) -> Optional[str]:
        return f"http://localhost:{self.console_port}/" if self.console_port else None

    # -- life cycle ----------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
            SHOP_DB=str(self.shop_db),
            REDIS_URL=self.redis.url if self.redis else "",
            MAX_MESSAGE_CHARS=str(self.max_message_chars),
            WEBCHAT_ORIGINS=",".join(self.origins),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        if self.handoff_hours:
            env["HANDOFF_HOURS"] = self.handoff_hours
        env.update(self.extra_env)
        if self.secrets:
            env.update(self.secrets.env(self.configured_api_keys))
        env.update(server_thread_env())
        env.pop("SANIC_REQUEST_MAX_SIZE", None)
        return env

    def _endpoints_file(self) -> Path:
        endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
        endpoints["action_endpoint"]["url"] = f"{self.actions_url}/webhook"  # headers stay: they carry the secret
        path = self.state_dir / f"endpoints.{self.rasa_port}.yml"
        path.write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
        return path

    def _spawn(self, name: str, args: list[str], env: Optional[dict[str, str]] = None) -> tuple[subprocess.Popen, Path]:
        log = self.state_dir / "logs" / f"{name}.{getattr(self, name + '_port', None) or 'x'}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "ab")  # noqa: SIM115 - the server process writes to it after we return
        process = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env={**self._env(), **(env or {})}, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
        self.processes[name] = process
        return process, log

    def start(self, timeout: float = 180) -> Stack:
        from bot.shop import ensure_database

        self.state_dir.mkdir(parents=True, exist_ok=True)
        for port in filter(None, (self.rasa_port, self.actions_port, self.web_port, self.console_port)):
            if not port_is_free(port):
                raise RuntimeError(f"port {port} is in use: stop what runs there or set RASA_PORT/ACTIONS_PORT/WEB_PORT")
        if not self.model.exists():
            raise RuntimeError(f"no model at {self.model}: run `make model`")
        ensure_database(self.shop_db)
        self.secrets = load_or_create(self.state_dir)
        try:
            self.redis = ensure_redis(self.redis_url, self.state_dir / "redis", password=self.secrets.redis_password)
            py = sys.executable
            actions, actions_log = self._spawn("actions", [
                py, "-m", "bot.runtime.action_server", "--port", str(self.actions_port), "--host", self.actions_host])
            rasa, rasa_log = self._spawn("rasa", [
                py, "-m", "bot.dialogue.rasa_server", "run", "--model", str(self.model), "--port", str(self.rasa_port),
                "--interface", self.rasa_host,
                "--credentials", str(self.credentials_file), "--endpoints", str(self._endpoints_file()),
                "--enable-api", "--cors", *self.origins,
            # Shoppers' requests above this get 413 before Rasa parses them. Only for
            # the Rasa server: the action server receives whole trackers, which grow.
            ], env={"SANIC_REQUEST_MAX_SIZE": str(self.max_body_bytes)})
            if self.web_port:
                web, web_log = self._spawn("web", [py, "-m", "bot.web.server", "--port", str(self.web_port)],
                                           env={"RASA_PUBLIC_URL": self.public_rasa_url or self.rasa_url})
                wait_http(f"http://localhost:{self.web_port}/health", web, timeout, web_log)
            if self.console_port:
                console, console_log = self._spawn("console", [
                    py, "-m", "bot.desk.console.server", "--port", str(self.console_port), "--host", self.console_host,
                ], env=self._agents_env())
                wait_http(f"http://localhost:{self.console_port}/health", console, timeout, console_log)
            if self.telegram_desk:
                self.start_telegram_desk()
            wait_http(f"{self.actions_url}/health", actions, timeout, actions_log)
            wait_http(f"{self.rasa_url}/webhooks/rest/", rasa, timeout, rasa_log)
            require_model(self.rasa_url, self.api_token, self.model, rasa_log)
        except BaseException:
            self.stop()
            raise
        return self

    def _agents_env(self) -> dict[str, str]:
        """What the agents' desks need besides the common environment: Rasa's port (transcripts) and the state."""
        return {"RASA_PORT": str(self.rasa_port), "SHOP_STATE_DIR": str(self.state_dir)}

    def start_telegram_desk(self, env: Optional[dict[str, str]] = None) -> tuple[subprocess.Popen, Path]:
        """The agents' Telegram desk (`python -m bot.desk.telegram_desk`) on this stack's Redis, Rasa and state, as
        `start()` runs it when configured; `env` adds settings (the tests: the desk's token and a Bot API stand-in).
        The process and its log."""
        return self._spawn("telegram_desk", [sys.executable, "-m", "bot.desk.telegram_desk"],
                           env={**self._agents_env(), **(env or {})})

    def stop(self) -> None:
        for _name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self.redis:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


OPTIONAL_PROCESSES = frozenset({"telegram_desk"})  # their failure leaves shoppers and the console served


def main() -> int:
    from bot.tools.train import model_path

    parser = argparse.ArgumentParser(description="run the shop assistant")
    parser.add_argument("--no-web", action="store_true", help="do not serve the web chat page")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    stack = Stack.from_settings(settings, model_path(settings.models_dir), web=not args.no_web)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("==> starting Redis, action server, Rasa server, web chat and agents' console (first start takes ~30 s)")
    stack.start()
    redis_kind = "embedded" if stack.redis and stack.redis.embedded else "external"
    print(f"""
  Web chat:        {stack.web_url or '(disabled)'}
  Agents' console: {stack.console_url or '(disabled)'}  (first login: admin, password in {stack.state_dir / 'secrets' / 'console_admin'})
  Telegram desk:   {'running' if stack.telegram_desk else 'off (set TELEGRAM_DESK_TOKEN and TELEGRAM_DESK_CHAT)'}
  Rasa REST:       {stack.rest_url}
  Rasa socket.io:  {stack.rasa_url}/socket.io/
  Action server:   {stack.actions_url}/webhook
  Redis:           {stack.redis.display_url if stack.redis else '-'} ({redis_kind})
  REST API key:    {'SHOP_API_KEYS (as configured)' if stack.configured_api_keys else stack.state_dir / 'secrets' / 'api_key'}
  Logs:            {stack.state_dir / 'logs'}
  Press Ctrl-C to stop everything.
""", flush=True)
    reported: set[str] = set()
    try:
        while not stopping:
            gone = [name for name, p in stack.processes.items() if p.poll() is not None]
            for name in set(gone) & OPTIONAL_PROCESSES - reported:  # e.g. a wrong Telegram token: the rest go on
                print(f"!! {name} stopped; see {stack.state_dir / 'logs'}. The rest keeps running.", file=sys.stderr)
                reported.add(name)
            dead = [name for name in gone if name not in OPTIONAL_PROCESSES]
            if dead:
                print(f"!! {', '.join(dead)} stopped unexpectedly; see the logs. Shutting down.", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        print("==> stopping")
        stack.stop()
        print("==> stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
