"""Secret redaction for agent memories (SPEC §5.11): what an agent commits is scrubbed before it
is stored, and again on the admin export (rows written before a rule existed must not leak).

A confused or prompt-injected agent must not be able to park a credential in TEAM or GLOBAL
memory, where every other agent of the team or the fleet reads it. Each rule below replaces what
it recognises with `[REDACTED:<LABEL>]`; the rules run in order, most specific first, so an
assignment (`OPENAI_API_KEY=sk-…`) is caught whole before the generic `sk-` or base64 rules see
a piece of it. Names are kept (`OPENAI_API_KEY=[REDACTED:API_KEY]`): an agent may remember that a
variable exists, never its value.

False positives cost an agent a fact it meant to keep (a file path, a commit hash), so the base64
rule asks for more than a long run: both letter cases (hex digests and UUIDs have one), and text
that is mostly not made of words (identifiers, paths and URLs are). tests/unit/
test_memories_redact.py is the corpus of what must and must not be redacted.

Pure: text in, text out. Redacting twice changes nothing (the export re-redacts stored text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

# A run of at least this many base64/base64url characters may be a key (24 random bytes).
MIN_BASE64_RUN = 32
# Identifiers, paths and URLs are made of words: camelCase pieces and lower-case runs of three or
# more letters with a vowel cover 75-100% of their characters, against 18% on average (and under
# 66% in 999 of 1 000 cases) for random base64. At or above this share a run is words, not a key.
MAX_WORDY_SHARE = 0.7
_WORD_PIECE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_VOWEL = re.compile(r"[aeiouy]", re.I)


def redaction_marker(label: str) -> str:
    return f"[REDACTED:{label}]"


class Redacted(NamedTuple):
    text: str
    labels: tuple[str, ...]  # the rules that fired, in order (for a log line; never the values)


_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)

# NAME=value and NAME: value, NAME ending in one of the kinds (`*_API_KEY=`, `*_TOKEN=`, `*_SECRET=`,
# plus passwords); the value quoted, or up to the next blank or delimiter.
_ASSIGNMENT = re.compile(
    r"""\b(?P<name>(?:[A-Za-z][A-Za-z0-9_]*_)?(?P<kind>API_KEY|APIKEY|TOKEN|SECRET_KEY|SECRET|PASSWORD))\b
        (?P<separator>["']?[ \t]*[:=][ \t]*)
        (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"',;&)}\]]+)""",
    re.I | re.X,
)
_KIND_LABELS = {"API_KEY": "API_KEY", "APIKEY": "API_KEY", "TOKEN": "TOKEN", "SECRET_KEY": "SECRET", "SECRET": "SECRET"}
# Values that name a secret rather than hold one: `$VAR`, `${VAR}`, `<your key>`, `{{ var }}`, `***`,
# code (`os.environ["X"]`, `get_key()`), and an earlier redaction.
_REFERENCE = re.compile(r"[$<%*{]|\[REDACTED:|[A-Za-z_][\w.]*[(\[]")

_BEARER = re.compile(r"\b(?P<scheme>Bearer)(?P<space>[ \t]+)(?P<token>[A-Za-z0-9._~+/-]+=*)", re.I)
_SK_KEY = re.compile(r"(?<![A-Za-z0-9_-])sk[-_][A-Za-z0-9_-]{16,}")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_BASE64_RUN = re.compile(rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{MIN_BASE64_RUN},}}={{0,2}}(?![A-Za-z0-9+/_=-])")


def looks_random(run: str) -> bool:
    """A base64 run that is a key rather than words: both letter cases, and most of it not made of
    word-like pieces (see MAX_WORDY_SHARE)."""
    if not any(c.isupper() for c in run) or not any(c.islower() for c in run):
        return False
    wordy = sum(
        len(piece)
        for piece in _WORD_PIECE.findall(run)
        if len(piece) >= 3 and piece[1:].islower() and _VOWEL.search(piece)
    )
    return wordy / sum(c.isalnum() for c in run) < MAX_WORDY_SHARE


def _looks_like_a_token(token: str) -> bool:
    """After `Bearer `: a credential, not prose (`the bearer of bad news`, `Bearer authentication`)."""
    return len(token) >= 8 and (len(token) >= 24 or any(not c.isalpha() for c in token))


def _has_digit_or_upper(text: str) -> bool:
    return any(c.isdigit() or c.isupper() for c in text)


def _is_assignment_of_a_value(match: re.Match[str]) -> bool:
    value = match["value"].strip("\"'")
    if not value or _REFERENCE.match(value):
        return False
    # `name: value` is also prose ("the token: it expires daily"): only `PREFIX_TOKEN:` and quoted
    # keys (`"password": "…"`, JSON) count as assignments with a colon.
    return "=" in match["separator"] or "_" in match["name"] or match["separator"][0] in "\"'"


def _assignment(match: re.Match[str], fired: list[str]) -> str:
    if not _is_assignment_of_a_value(match):
        return match[0]
    label = _KIND_LABELS.get(match["kind"].upper(), match["kind"].upper())
    fired.append(label)
    return f"{match['name']}{match['separator']}{redaction_marker(label)}"


def _bearer(match: re.Match[str], fired: list[str]) -> str:
    if not _looks_like_a_token(match["token"]):
        return match[0]
    fired.append("BEARER_TOKEN")
    return f"{match['scheme']}{match['space']}{redaction_marker('BEARER_TOKEN')}"


def _whole(label: str, keep: Callable[[str], bool] = lambda _: True) -> Callable[[re.Match[str], list[str]], str]:
    def replace(match: re.Match[str], fired: list[str]) -> str:
        if not keep(match[0]):
            return match[0]
        fired.append(label)
        return redaction_marker(label)

    return replace


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], list[str]], str]], ...] = (
    (_PRIVATE_KEY, _whole("PRIVATE_KEY")),
    (_ASSIGNMENT, _assignment),
    (_BEARER, _bearer),
    (_SK_KEY, _whole("SK_TOKEN", lambda key: _has_digit_or_upper(key[3:]))),
    (_AWS_ACCESS_KEY, _whole("AWS_ACCESS_KEY")),
    (_BASE64_RUN, _whole("BASE64_BLOB", looks_random)),
)


def redact_secrets(text: str) -> Redacted:
    fired: list[str] = []
    for pattern, replace in _RULES:
        text = pattern.sub(lambda match, replace=replace: replace(match, fired), text)  # type: ignore[misc]
    return Redacted(text, tuple(dict.fromkeys(fired)))
