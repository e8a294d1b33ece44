"""Agent accounts (bot/desk/accounts.py): hashed passwords, roles, groups, the file, the first admin, the CLI."""
from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.desk.accounts import ADMIN_LOGIN, ADMIN_SECRET, Account, AccountStore, ensure_admin, known_groups, main

PASSWORD = "correct horse 42"


@pytest.fixture()
def store(tmp_path: Path) -> AccountStore:
    return AccountStore.in_state_dir(tmp_path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_groups_are_the_hand_off_routing_groups() -> None:
    assert set(known_groups()) == {"presales", "orders", "aftersales", "complaints"}


def test_a_password_is_checked_against_its_salted_hash(store: AccountStore) -> None:
    store.add(Account.new("wang", "小王", PASSWORD, groups=["orders", "aftersales"], limit=2))
    account = store.verify("wang", PASSWORD)
    assert account is not None and account.name == "小王" and account.groups == ("orders", "aftersales")
    assert account.limit == 2 and account.role == "agent" and not account.supervisor
    assert store.verify("wang", "wrong password") is None
    assert store.verify("wang", "") is None
    assert store.verify("nobody", PASSWORD) is None


def test_the_file_keeps_no_password_and_each_account_has_its_own_salt(store: AccountStore) -> None:
    store.add(Account.new("wang", "小王", PASSWORD))
    store.add(Account.new("li", "小李", PASSWORD))
    raw = store.path.read_text(encoding="utf-8")
    assert PASSWORD not in raw
    assert mode(store.path) == 0o600
    wang, li = store.get("wang"), store.get("li")
    assert wang.salt != li.salt and wang.password_hash != li.password_hash
    assert "password_hash" not in repr(wang) and wang.password_hash not in repr(wang)
    assert json.loads(raw)["agents"][0]["login"] == "li"


def test_defaults_every_group_and_the_configured_limit(store: AccountStore) -> None:
    account = Account.new("zhao", "小赵", PASSWORD)
    assert account.groups == known_groups()
    assert account.limit == load_settings().agent_chat_limit
    profile = account.profile()
    assert (profile.agent_id, profile.name, profile.groups, profile.desk) == ("zhao", "小赵", known_groups(), "console")


@pytest.mark.parametrize(("login", "kwargs", "problem"), [
    ("Wang!", {}, "登录名"),
    ("wang", {"role": "boss"}, "角色"),
    ("wang", {"groups": ["orders", "vip"]}, "未知的技能组"),
    ("wang", {"limit": 0}, "上限"),
])
def test_invalid_accounts_are_refused(login: str, kwargs: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Account.new(login, "小王", PASSWORD, **kwargs)


def test_short_password_refused() -> None:
    with pytest.raises(ValueError, match="密码"):
        Account.new("wang", "小王", "short")


def test_a_login_is_added_once_and_removed(store: AccountStore) -> None:
    store.add(Account.new("wang", "小王", PASSWORD))
    with pytest.raises(ValueError, match="已存在"):
        store.add(Account.new("wang", "王二", PASSWORD))
    assert store.remove("wang") and not store.remove("wang")
    assert store.get("wang") is None


def test_a_new_password_changes_the_session_stamp(store: AccountStore) -> None:
    first = Account.new("wang", "小王", PASSWORD)
    second = Account.new("wang", "小王", PASSWORD)
    assert first.stamp != second.stamp  # new salt, new hash: old cookies end


def test_first_start_makes_an_admin_whose_password_is_only_in_the_secret_file(
        store: AccountStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    secret = ensure_admin(store, tmp_path / "secrets")
    assert secret == tmp_path / "secrets" / ADMIN_SECRET
    password = secret.read_text(encoding="utf-8").strip()
    assert mode(secret) == 0o600 and len(password) >= 20
    admin = store.verify(ADMIN_LOGIN, password)
    assert admin is not None and admin.supervisor and admin.groups == known_groups()
    assert str(secret) in caplog.text and password not in caplog.text
    # later starts leave it alone
    assert ensure_admin(store, tmp_path / "secrets") is None
    assert secret.read_text(encoding="utf-8").strip() == password


def test_no_admin_when_accounts_exist(store: AccountStore, tmp_path: Path) -> None:
    store.add(Account.new("wang", "小王", PASSWORD))
    assert ensure_admin(store, tmp_path / "secrets") is None
    assert store.get(ADMIN_LOGIN) is None


def test_command_line_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    state = ["--state-dir", str(tmp_path)]
    assert main([*state, "add", "wang", "--name", "小王", "--groups", "orders,aftersales", "--role", "agent",
                 "--limit", "3", "--password-file", str(password_file)]) == 0
    assert "已添加 wang" in capsys.readouterr().out
    assert AccountStore.in_state_dir(tmp_path).verify("wang", PASSWORD) is not None

    assert main([*state, "add", "li", "--name", "小李", "--groups", "nowhere", "--password-file",
                 str(password_file)]) == 1
    assert "未知的技能组" in capsys.readouterr().err

    assert main([*state, "list"]) == 0
    listing = capsys.readouterr().out
    assert "wang" in listing and "小王" in listing and "orders,aftersales" in listing and PASSWORD not in listing

    assert main([*state, "remove", "wang"]) == 0
    assert main([*state, "remove", "wang"]) == 1
    assert AccountStore.in_state_dir(tmp_path).accounts() == {}


def test_command_line_asks_for_the_password_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, "something else"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["--state-dir", str(tmp_path), "add", "wang", "--name", "小王"]) == 1
    assert AccountStore.in_state_dir(tmp_path).get("wang") is None
