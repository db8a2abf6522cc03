"""Accounts: who may change the edition, and how much. Readers never need one.

Roles, each including the one before (design.md §8): a **transcriber** corrects lines
and the segmentation and comments; a **reviewer** also verifies lines or sends them
back; an **editor** also publishes, edits metadata, imports and exports, runs jobs and
trains models; an **admin** also manages accounts.

Kept in ``<edition>/.workbench/users.json`` (back it up with the edition), with
passwords hashed by werkzeug (scrypt). Every change an admin (or the command line)
makes is journalled in ``.workbench/accounts.jsonl``: who did what to whom and when,
never a password or a hash.

Each account has a **session generation**: a login records it in the session, and a
logout, a new password, a new role or disabling the account bumps it, which ends
every session made before at its next request (web/auth.py explains why this and not
a library). Its **unlocks** count likewise renews the key of its login rate limit, so
that an admin (web or command line, another process) can unlock it.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from werkzeug.security import check_password_hash, generate_password_hash

from workbench.files import AppendLog, write_atomically
from workbench.model import WorkbenchError

if TYPE_CHECKING:
    from workbench.edition import Edition

Role = Literal["transcriber", "reviewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("transcriber", "reviewer", "editor", "admin")  # each includes the ones before
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD = 8


class LastAdminError(WorkbenchError):
    """The change would leave the edition without an active admin."""


@dataclass
class User:
    name: str
    role: Role
    password_hash: str
    disabled: bool = False
    session_generation: int = 0  # sessions made with another generation are over
    unlocks: int = 0  # part of the login rate limit's key: a new value starts a fresh count

    def can(self, role: Role) -> bool:
        """Whether this account has ``role``'s rights (its own role, or one above it)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def active_admin(self) -> bool:
        return self.role == "admin" and not self.disabled


class Users:
    def __init__(self, path: Path, log_path: Path | None = None):
        self.path = path
        # Without a log (test set-ups, tools), changes are made but not journalled.
        self.log = AppendLog(log_path) if log_path is not None else None

    @classmethod
    def of(cls, edition: Edition) -> Users:
        """The edition's accounts, every change journalled."""
        return cls(edition.users_file, edition.accounts_log)

    def all(self) -> list[User]:
        if not self.path.exists():
            return []
        return [User(**record) for record in json.loads(self.path.read_text(encoding="utf-8"))]

    def get(self, name: str) -> User | None:
        return next((user for user in self.all() if user.name == name), None)

    def add(self, name: str, role: Role, password: str, who: str | None = None) -> User:
        check_account(name, password)
        _check_role(role)
        with self._locked():
            users = self.all()
            if any(user.name == name for user in users):
                raise WorkbenchError(f"user {name!r} exists already", code="user-exists", name=name)
            user = User(name, role, generate_password_hash(password))
            self._write([*users, user])
        self._journal(who, "add", name, role=role)
        return user

    def set_disabled(self, name: str, disabled: bool, who: str | None = None) -> None:
        def change(user: User) -> None:
            user.disabled = disabled
            user.session_generation += 1

        self._change(name, change)
        self._journal(who, "disable" if disabled else "enable", name)

    def set_role(self, name: str, role: Role, who: str | None = None) -> None:
        _check_role(role)
        was: list[Role] = []

        def change(user: User) -> None:
            was.append(user.role)
            user.role = role
            user.session_generation += 1  # a session never keeps rights its account lost

        self._change(name, change)
        self._journal(who, "role", name, role=role, was=was[0])

    def set_password(self, name: str, password: str, who: str | None = None) -> None:
        _check_password(password)
        password_hash = generate_password_hash(password)  # slow (scrypt): outside the lock

        def change(user: User) -> None:
            user.password_hash = password_hash
            user.session_generation += 1

        self._change(name, change)
        self._journal(who, "password", name)

    def end_sessions(self, name: str) -> None:
        """End every session of this account (a logout): not journalled, nothing changed but that."""

        def change(user: User) -> None:
            user.session_generation += 1

        self._change(name, change)

    def unlock(self, name: str, who: str | None = None) -> None:
        """Let a login-rate-limited account try again at once (its limit's key changes)."""

        def change(user: User) -> None:
            user.unlocks += 1

        self._change(name, change)
        self._journal(who, "unlock", name)

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.get(name)
        if user is None or user.disabled or not check_password_hash(user.password_hash, password):
            return None
        return user

    def history(self) -> list[dict]:
        """The journal of account changes, latest first."""
        return list(reversed(list(self.log.records()))) if self.log else []

    def _change(self, name: str, change: Callable[[User], None]) -> None:
        """Change one account under the lock, refusing a change that leaves no active admin."""
        with self._locked():
            users = self.all()
            user = next((user for user in users if user.name == name), None)
            if user is None:
                raise WorkbenchError(f"no user {name!r}", code="no-user", name=name)
            admins_before = sum(user.active_admin for user in users)
            change(user)
            if admins_before and not any(user.active_admin for user in users):
                raise LastAdminError(f"{name} is the last active admin: make another admin first")
            self._write(users)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Read-change-write of users.json from several threads (a logout, an admin's change)
        # and processes (the command line): a lost session-generation bump would leave a
        # session alive that should have ended. flock works between both.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _journal(self, who: str | None, action: str, account: str, **details: str) -> None:
        if self.log is None:
            return
        at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.log.append([{"at": at, "who": who, "action": action, "account": account, **details}])

    def _write(self, users: list[User]) -> None:
        data = json.dumps([asdict(user) for user in users], ensure_ascii=False, indent=1).encode("utf-8")
        write_atomically(self.path, data, mode=0o600)  # password hashes: the server's user only


def check_account(name: str, password: str) -> None:
    """Refuse a name or password a new account cannot have (before anything is made for it)."""
    if not USER_NAME.fullmatch(name):
        raise WorkbenchError(f"{name!r} is not a valid user name: letters, digits, '.', '-', '_'", code="user-name")
    _check_password(password)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise WorkbenchError(f"role must be one of {', '.join(ROLES)}", code="role")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WorkbenchError(
            f"the password must have at least {MIN_PASSWORD} characters", code="password", minimum=MIN_PASSWORD
        )
