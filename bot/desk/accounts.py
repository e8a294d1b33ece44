"""Agent accounts for the console: who may log in, with which role, skill groups and chat limit.

Kept in `<state_dir>/agents.json` (mode 0600). Passwords are stored as scrypt
hashes with a salt of their own per account and checked in constant time. The
console reads the file at every login, so accounts added here work at once::

    python -m bot.desk.accounts add wang --name 小王 --groups orders,aftersales --role agent --limit 3
    python -m bot.desk.accounts add ops --name 运营 --role supervisor --password-file pw.txt
    python -m bot.desk.accounts list
    python -m bot.desk.accounts remove wang

On the console's first start, when there is no account at all, `ensure_admin`
makes a supervisor `admin` in every group with a random password, written to
`<state_dir>/secrets/console_admin` (0600); the log says where, never what.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

from bot.config import load_settings
from bot.handoff.escalation import escalation_rules
from bot.handoff.queue import AgentProfile

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "agents.json"
ADMIN_LOGIN = "admin"
ADMIN_NAME = "管理员"
ADMIN_SECRET = "console_admin"  # file under <state_dir>/secrets/
ROLES = ("agent", "supervisor")
LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
# scrypt cost: about 16 MB and 50 ms per check, so a stolen file is slow to guess from.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
SALT_BYTES = 16


def known_groups() -> tuple[str, ...]:
    """The skill groups the hand-off routes to (bot/handoff/triggers.yml)."""
    return escalation_rules().groups


def hash_password(password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_LEN,
                          maxmem=256 * n * r)


@dataclass(frozen=True)
class Account:
    login: str
    name: str
    role: str
    groups: tuple[str, ...]
    limit: int
    salt: str = field(repr=False)  # hex
    password_hash: str = field(repr=False)  # hex
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def stamp(self) -> str:
        """Changes with the password: a login cookie names it, so a new password ends every old session."""
        return hashlib.sha256(f"{self.login}:{self.password_hash}".encode()).hexdigest()[:16]

    def profile(self) -> AgentProfile:
        """The agent as the hand-off queue knows them (the agent id is the login)."""
        return AgentProfile(self.login, self.name, self.groups, self.limit, self.role, desk="console")

    def check(self, password: str) -> bool:
        if not password or len(password) > MAX_PASSWORD_CHARS:
            return False
        computed = hash_password(password, bytes.fromhex(self.salt), self.n, self.r, self.p)
        return hmac.compare_digest(computed, bytes.fromhex(self.password_hash))

    @classmethod
    def new(cls, login: str, name: str, password: str, *, role: str = "agent",
            groups: Sequence[str] = (), limit: Optional[int] = None) -> Account:
        """A validated account with a fresh salt (ValueError says what is wrong, in Chinese for the CLI)."""
        if not LOGIN_PATTERN.match(login):
            raise ValueError("登录名只能用小写字母、数字和 _ . -，2 到 32 个字符")
        if role not in ROLES:
            raise ValueError(f"角色只能是 {' / '.join(ROLES)}")
        if not (MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS):
            raise ValueError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符")
        valid = known_groups()
        chosen = tuple(dict.fromkeys(groups)) or valid
        unknown = [g for g in chosen if g not in valid]
        if unknown:
            raise ValueError(f"未知的技能组：{', '.join(unknown)}（可选：{', '.join(valid)}）")
        limit = load_settings().agent_chat_limit if limit is None else limit
        if not 1 <= limit <= 20:
            raise ValueError("同时接待上限应在 1 到 20 之间")
        salt = secrets.token_bytes(SALT_BYTES)
        return cls(login, name.strip() or login, role, chosen, limit, salt.hex(), hash_password(password, salt).hex())


# A hash to compare against when the login is unknown, so the answer takes as long either way.
_DUMMY = Account("-", "-", "agent", (), 1, "00" * SALT_BYTES, "00" * SCRYPT_LEN)


class AccountStore:
    """The accounts file. Every read goes to the file, so accounts changed by the CLI apply at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AccountStore:
        return cls(state_dir / ACCOUNTS_FILE)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialises read-modify-write between the CLI and consoles."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def accounts(self) -> dict[str, Account]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {item["login"]: Account(**{**item, "groups": tuple(item["groups"])}) for item in raw["agents"]}

    def get(self, login: str) -> Optional[Account]:
        return self.accounts().get(login)

    def verify(self, login: str, password: str) -> Optional[Account]:
        """The account when the password is right, else None (as slow for an unknown login)."""
        account = self.get(login)
        ok = (account or _DUMMY).check(password)
        return account if account is not None and ok else None

    def add(self, account: Account) -> None:
        with self._locked():
            accounts = self.accounts()
            if account.login in accounts:
                raise ValueError(f"账号 {account.login} 已存在（先 remove 再 add 可重设密码）")
            accounts[account.login] = account
            self._write(accounts)

    def remove(self, login: str) -> bool:
        with self._locked():
            accounts = self.accounts()
            if accounts.pop(login, None) is None:
                return False
            self._write(accounts)
            return True

    def _write(self, accounts: dict[str, Account]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"agents": [asdict(a) for a in sorted(accounts.values(), key=lambda a: a.login)]}, handle,
                      ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


def ensure_admin(store: AccountStore, secrets_dir: Path) -> Optional[Path]:
    """With no account at all, make supervisor `admin` in every group; the file holding its password, else None."""
    with store._locked():
        if store.accounts():
            return None
        password = secrets.token_urlsafe(18)
        secrets_dir.mkdir(parents=True, exist_ok=True)
        secrets_dir.chmod(0o700)
        secret = secrets_dir / ADMIN_SECRET
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        secret.chmod(0o600)
        store._write({ADMIN_LOGIN: Account.new(ADMIN_LOGIN, ADMIN_NAME, password, role="supervisor")})
    logger.warning("No console account existed: created supervisor '%s'; its password is in %s "
                   "(add agents with `python -m bot.desk.accounts add`)", ADMIN_LOGIN, secret)
    return secret


# ------------------------------------------------------------------ command line


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip()
    first = getpass.getpass("密码：")
    if getpass.getpass("再输入一次：") != first:
        raise ValueError("两次输入的密码不一致")
    return first


def main(argv: Optional[list[str]] = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.desk.accounts", description="Agent accounts of the console.")
    parser.add_argument("--state-dir", type=Path, default=settings.state_dir,
                        help=f"where {ACCOUNTS_FILE} lives (default: SHOP_STATE_DIR)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add an agent or supervisor")
    add.add_argument("login")
    add.add_argument("--name", required=True, help="the name shoppers see, e.g. 小王")
    add.add_argument("--groups", default="", help=f"comma-separated skill groups (default: all of {', '.join(known_groups())})")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--limit", type=int, default=None,
                     help=f"chats at once (default AGENT_CHAT_LIMIT, now {settings.agent_chat_limit})")
    add.add_argument("--password-file", help="read the password from this file instead of asking")
    commands.add_parser("list", help="list the accounts")
    remove = commands.add_parser("remove", help="remove an account")
    remove.add_argument("login")
    args = parser.parse_args(argv)
    store = AccountStore.in_state_dir(args.state_dir)
    try:
        if args.command == "add":
            groups = [g.strip() for g in args.groups.split(",") if g.strip()]
            account = Account.new(args.login, args.name, _read_password(args), role=args.role, groups=groups,
                                  limit=args.limit)
            store.add(account)
            print(f"已添加 {account.login}（{account.name}，{account.role}，技能组 {','.join(account.groups)}，"
                  f"上限 {account.limit}）")
        elif args.command == "list":
            for account in store.accounts().values():
                print(f"{account.login:<16} {account.name:<10} {account.role:<10} {','.join(account.groups):<40} "
                      f"{account.limit}")
        elif args.command == "remove":
            if not store.remove(args.login):
                raise ValueError(f"没有账号 {args.login}")
            print(f"已删除 {args.login}")
    except (ValueError, OSError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
