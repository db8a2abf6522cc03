"""Accounts: who may change the edition, and how much. Readers never need one.

Roles, each including the one before (design.md §8): a **transcriber** corrects lines
and the segmentation and comments; a **reviewer** also verifies lines or sends them
back; an **editor** also publishes, edits metadata, imports and exports, runs jobs and
trains models; an **admin** also manages accounts.

Kept in ``<edition>/.workbench/users.json`` (back it up with the edition), with
passwords hashed by werkzeug (scrypt).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from werkzeug.security import check_password_hash, generate_password_hash

from workbench.files import write_atomically
from workbench.model import WorkbenchError

Role = Literal["transcriber", "reviewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("transcriber", "reviewer", "editor", "admin")  # each includes the ones before
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD = 8


@dataclass
class User:
    name: str
    role: Role
    password_hash: str
    disabled: bool = False

    def can(self, role: Role) -> bool:
        """Whether this account has ``role``'s rights (its own role, or one above it)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class Users:
    def __init__(self, path: Path):
        self.path = path

    def all(self) -> list[User]:
        if not self.path.exists():
            return []
        return [User(**record) for record in json.loads(self.path.read_text(encoding="utf-8"))]

    def get(self, name: str) -> User | None:
        return next((user for user in self.all() if user.name == name), None)

    def add(self, name: str, role: Role, password: str) -> User:
        if not USER_NAME.fullmatch(name):
            raise WorkbenchError(f"{name!r} is not a valid user name: letters, digits, '.', '-', '_'")
        if role not in ROLES:
            raise WorkbenchError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise WorkbenchError(f"the password must have at least {MIN_PASSWORD} characters")
        users = self.all()
        if any(user.name == name for user in users):
            raise WorkbenchError(f"user {name!r} exists already")
        user = User(name, role, generate_password_hash(password))
        self._write([*users, user])
        return user

    def set_disabled(self, name: str, disabled: bool) -> None:
        users = self.all()
        for user in users:
            if user.name == name:
                user.disabled = disabled
                self._write(users)
                return
        raise WorkbenchError(f"no user {name!r}")

    def set_role(self, name: str, role: Role) -> None:
        if role not in ROLES:
            raise WorkbenchError(f"role must be one of {', '.join(ROLES)}")
        users = self.all()
        for user in users:
            if user.name == name:
                user.role = role
                self._write(users)
                return
        raise WorkbenchError(f"no user {name!r}")

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.get(name)
        if user is None or user.disabled or not check_password_hash(user.password_hash, password):
            return None
        return user

    def _write(self, users: list[User]) -> None:
        data = json.dumps([asdict(user) for user in users], ensure_ascii=False, indent=1).encode("utf-8")
        write_atomically(self.path, data, mode=0o600)  # password hashes: the server's user only
