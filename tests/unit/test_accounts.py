"""AccountStore (scrypt hashes, refresh tokens, export / import, foreign files) and Throttle."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_chat.server.accounts import APPLICATION_ID, AccountStore
from desktop_chat.server.auth_service import AuthService, AuthSettings, Throttle
from desktop_chat.server.credentials import (
    WEAK_PASSWORD,
    AuthError,
    ScryptParams,
    check_password,
    hash_params,
    hash_password,
)
from desktop_chat.server.errors import ForeignStoreError, ServerError
from desktop_chat.server.tokens import TokenError

FAST = ScryptParams(n=16)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccountStore]:
    accounts = AccountStore(tmp_path / "accounts.sqlite3", FAST)
    yield accounts
    accounts.close()


def _code(exc: pytest.ExceptionInfo[AuthError]) -> str:
    return exc.value.message


def test_create_and_find(store: AccountStore) -> None:
    account = store.create("Ann@Example.COM", "secret-1", "Ann")
    assert len(account.uid) == 28
    assert set(account.uid) <= set(string.ascii_letters + string.digits)
    assert account.email == "ann@example.com"
    assert store.get(account.uid) == account
    assert store.get_by_email("ANN@example.com") == account
    assert store.list_accounts() == [account]
    assert not account.disabled and account.last_login_at is None
    assert account.valid_since == account.created_at // 1000
    for email, password, message in (
        ("ann@EXAMPLE.com", "secret-2", "EMAIL_EXISTS"),
        ("not-an-email", "secret-2", "INVALID_EMAIL"),
        ("a b@example.com", "secret-2", "INVALID_EMAIL"),
        ("bob@example.com", "12345", WEAK_PASSWORD),
        ("bob@example.com", "", "MISSING_PASSWORD"),
    ):
        with pytest.raises(AuthError) as caught:
            store.create(email, password)
        assert _code(caught) == message
    assert WEAK_PASSWORD == "WEAK_PASSWORD : Password should be at least 6 characters"


def test_password_hashes(store: AccountStore) -> None:
    account = store.create("ann@example.com", "secret-1")
    assert account.password_hash.startswith("scrypt$16$8$1$")
    assert hash_params(account.password_hash) == FAST
    assert store.verify_password(account, "secret-1")
    assert not store.verify_password(account, "secret-2")
    assert not check_password("secret-1", "garbage")
    assert hash_password("secret-1", FAST) != hash_password("secret-1", FAST)  # salted
    with pytest.raises(ServerError):
        ScryptParams(n=1000)


def test_hashes_with_old_parameters_are_remade_on_sign_in(tmp_path: Path) -> None:
    file = tmp_path / "accounts.sqlite3"
    old = AccountStore(file, ScryptParams(n=8))
    uid = old.create("ann@example.com", "secret-1").uid
    old.close()
    store = AccountStore(file, FAST)
    try:
        account = store.get(uid)
        assert account is not None and hash_params(account.password_hash).n == 8
        assert store.verify_password(account, "secret-1")
        rehashed = store.get(uid)
        assert rehashed is not None and hash_params(rehashed.password_hash) == FAST
        assert rehashed.valid_since == account.valid_since  # not a password change
        assert store.verify_password(rehashed, "secret-1")
    finally:
        store.close()


def test_password_change_disable_and_revoke_end_sessions(store: AccountStore) -> None:
    account = store.create("ann@example.com", "secret-1")
    uid = account.uid
    for end_sessions in (
        lambda: store.set_password(uid, "secret-2"),
        lambda: store.set_disabled(uid, True),
        lambda: store.revoke_refresh_tokens(uid),
    ):
        token = store.issue_refresh_token(uid, auth_time=123)
        grant = store.redeem_refresh_token(token)
        assert grant is not None and not grant.revoked and grant.auth_time == 123
        before = int(time.time())
        changed = end_sessions()
        assert changed.valid_since >= before
        grant = store.redeem_refresh_token(token)
        assert grant is not None and grant.revoked
    assert store.redeem_refresh_token("never-issued") is None
    assert store.set_disabled(uid, False).disabled is False
    with pytest.raises(AuthError) as caught:
        store.set_password("no-such-uid", "secret-3")
    assert _code(caught) == "USER_NOT_FOUND"


def test_profile_updates(store: AccountStore) -> None:
    uid = store.create("ann@example.com", "secret-1", "Ann").uid
    account = store.update_profile(uid, photo_url="https://p/ann.png")
    assert (account.display_name, account.photo_url) == ("Ann", "https://p/ann.png")
    account = store.update_profile(uid, display_name="Annie", clear=["photo_url"])
    assert (account.display_name, account.photo_url) == ("Annie", None)
    assert store.get(uid) == account


def test_export_import_keeps_uids_and_hashes(store: AccountStore, tmp_path: Path) -> None:
    ann = store.create("ann@example.com", "secret-1", "Ann")
    store.set_disabled(store.create("bob@example.com", "secret-2").uid, True)
    records = store.export()
    other = AccountStore(tmp_path / "other.sqlite3", FAST)
    try:
        assert other.import_accounts(records) == 2
        assert other.export() == records
        imported = other.get(ann.uid)
        assert imported is not None and other.verify_password(imported, "secret-1")
        assert other.import_accounts(records) == 2  # again: replaced by uid
        bad = [*records, {**records[0], "localId": "different-uid"}]
        with pytest.raises(AuthError, match="EMAIL_EXISTS"):
            other.import_accounts(bad)
        with pytest.raises(ServerError, match=r"users\[1\]: passwordHash"):
            other.import_accounts([records[0], {**records[1], "passwordHash": "plain"}])
        with pytest.raises(ServerError, match="unknown field"):
            other.import_accounts([{**records[0], "salt": "x"}])
        assert other.export() == records
    finally:
        other.close()


def test_foreign_and_newer_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ForeignStoreError, match="another program"):
        AccountStore(foreign, FAST)
    newer = tmp_path / "newer.sqlite3"
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=99")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ForeignStoreError, match="newer"):
        AccountStore(newer, FAST)
    text = tmp_path / "text.sqlite3"
    text.write_text("hello, not a database" * 100)
    with pytest.raises(ForeignStoreError):
        AccountStore(text, FAST)
    assert text.read_text().startswith("hello")


def test_throttle_locks_for_a_window_and_success_resets() -> None:
    now = [1000.0]
    throttle = Throttle(max_failures=3, window=300, clock=lambda: now[0])
    throttle.fail("email:a", "address:x")
    throttle.fail("email:a", "address:x")
    throttle.succeed("email:a")  # the account's count starts again
    throttle.fail("email:a", "address:y")
    assert not throttle.locked("email:a")
    throttle.fail("email:a", "address:y")
    throttle.fail("email:a", "address:y")
    assert throttle.locked("email:a") and throttle.locked("address:y")
    assert throttle.locked("email:b", "address:y") and not throttle.locked("email:b")
    now[0] += 299
    assert throttle.locked("email:a")
    now[0] += 2
    assert not throttle.locked("email:a", "address:y")
    throttle.fail("email:c")
    now[0] += 301  # failures older than the window are forgotten
    throttle.fail("email:c")
    throttle.fail("email:c")
    assert not throttle.locked("email:c")


def test_check_id_token_follows_the_account_without_io(tmp_path: Path) -> None:
    service = AuthService.open(tmp_path, AuthSettings(project_id="p", scrypt=FAST))
    try:
        account = service.store.create("ann@example.com", "secret-1")
        now = int(time.time())
        (record,) = service.store.export()
        service.store.import_accounts([{**record, "validSince": now - 100}])  # an old account

        def token(uid: str = account.uid, issued: int = now - 10) -> str:
            return service.issuer.sign(
                {
                    "iss": "https://securetoken.google.com/p",
                    "aud": "p",
                    "sub": uid,
                    "iat": issued,
                    "exp": issued + 3600,
                }
            )

        def reason(id_token: str) -> str:
            with pytest.raises(TokenError) as caught:
                service.check_id_token(id_token)
            return caught.value.reason

        assert asyncio.run(service.verify_user(token()))["sub"] == account.uid
        assert reason(token("someone-else")) == "user not found"
        service.store.revoke_refresh_tokens(account.uid)
        assert reason(token()) == "revoked"
        assert service.check_id_token(token(issued=int(time.time())))["sub"] == account.uid
        service.store.set_disabled(account.uid, True)
        assert reason(token(issued=int(time.time()))) == "user disabled"
        service.store.set_disabled(account.uid, False)
        assert service.check_id_token(token(issued=int(time.time())))
        reopened = AuthService.open(tmp_path, AuthSettings(project_id="p", scrypt=FAST))
        try:  # the state is loaded from the file
            valid_since, disabled = reopened.store.token_state(account.uid) or (0, True)
            assert valid_since >= now and not disabled
        finally:
            reopened.close()
    finally:
        service.close()


def test_the_accounts_file_is_private(store: AccountStore) -> None:
    store.create("ann@example.com", "secret-1")
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
