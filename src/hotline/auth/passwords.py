"""Password hashing with argon2id (argon2-cffi, the reference implementation's binding).

A hash or a verification costs tens of milliseconds of CPU (and memory) by design: the service
runs them on their own small executor (``hash_async``/``verify_async``), never on the event loop
nor on the case store's threads, so a burst of logins cannot delay a screen pop's read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from hotline.errors import HotlineError

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters

MIN_LENGTH = 10
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn's 0..4: 3 is "safely unguessable" (about 10^8 guesses and more)


class WeakPassword(HotlineError, ValueError):
    error_id = "password-weak"
    status = 400


def check_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    """Refuse a weak password with a reason a person can act on: too short or too long, the user
    name (or name) in it, or guessable by zxcvbn (common passwords, dictionary words, keyboard
    runs, dates, repeats, l33t), which is told the user's own words too."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    words = [w.strip().lower() for w in user_inputs if w and len(w.strip()) >= 3]
    lowered = password.lower()
    for word in words:
        if word in lowered:
            raise WeakPassword("the password must not contain the user name or the user's name")
    result = zxcvbn(password[:72], user_inputs=words)  # zxcvbn takes at most 72 characters
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hint = " ".join(x for x in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if x)
        raise WeakPassword("the password is too easy to guess" + (f": {hint}" if hint else "")
                           + " A few unrelated words make a strong one.")


def hash_password(password: str, check: bool = True) -> str:
    """The argon2id hash; ``check=False`` when the strength was checked already (or for the rehash
    of a password that was accepted under an older rule: the user must still get in)."""
    if check:
        check_strength(password)
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or an empty/invalid hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


HASH_WORKERS = 2  # logins beyond this many at once wait their turn here, not in the store's queue
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")  # threads start on first use


async def hash_async(password: str, check: bool = True) -> str:
    """``hash_password`` on the hashing executor."""
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password, check)


async def verify_async(password_hash: str, password: str) -> bool:
    """``verify`` on the hashing executor."""
    return await asyncio.get_running_loop().run_in_executor(_pool, verify, password_hash, password)


# a hash to verify against when the user does not exist, so both cases take the same time
DUMMY_HASH = _hasher.hash("no such user, constant time")
