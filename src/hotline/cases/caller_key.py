"""One caller under one number: the caller's number as the cases are keyed by it (``caller_key``).

Asterisk hands over the caller ID as the trunk sent it: ``13912341234``, ``+8613912341234``,
``8613912341234``, ``013912341234`` (a trunk prefix) and ``008613912341234`` are the same mobile.
The key is the number in E.164 (``+8613912341234``) when Google's libphonenumber (the
``phonenumbers`` package, maintained, with the numbering plans of every country) finds a valid
number in it, read with the site's ``phone_region`` (CN by default: a number without a country code
is a Chinese one). A number it cannot make valid (a short code, an extension, a foreign format it
does not know) is keyed by its digits, with a leading ``+`` kept; a number without a digit
(``anonymous``, a withheld ID) has no key: withheld callers are not one caller.

``FORMAT`` names the region and the library's version the keys were made with: a new version may
know new number ranges, so the store re-keys the rows when it changes (cases/store.py
``CaseStore.rekey_callers``); migration 0013 wrote them with its own frozen copy of this function.
"""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "CN"
_NOT_DIAL = re.compile(r"[^\d+]")


def caller_key(number: str, region: str = DEFAULT_REGION) -> str:
    """The key the caller's cases are filed under ("" for a number without digits)."""
    dial = _NOT_DIAL.sub("", number or "")
    dial = dial[:1] + dial[1:].replace("+", "")  # a plus only in front
    if not dial.strip("+"):
        return ""
    try:
        parsed = phonenumbers.parse(dial, region)
    except phonenumbers.NumberParseException:
        return dial
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return dial


def key_format(region: str) -> str:
    """What the keys depend on besides the number: the region and the library's version."""
    return f"{region}|phonenumbers {phonenumbers.__version__}"


def valid_region(region: str) -> bool:
    """A region libphonenumber knows (ISO 3166 two letters: CN, HK, TW, US...)."""
    return region in phonenumbers.SUPPORTED_REGIONS


def mask_number(number: str) -> str:
    """Shift managers see enough of a caller's number to tell calls apart, not to dial it."""
    if len(number) <= 4:
        return "*" * len(number)
    head = number[:3] if len(number) > 7 else ""
    return head + "*" * (len(number) - len(head) - 4) + number[-4:]
