"""Configure JSON logs with a request id and secret redaction (metrics: `bot.metrics`).

Every log line, from structlog or from a library's stdlib `logging` call, goes
through one chain: context (request id), level, time, exception text, then the
redaction processor, then the renderer. Redaction is the last step before
output, so nothing reaches a line without passing it: values under secret-like
keys are replaced, any other value is turned into text and scrubbed of Slack
tokens, HMAC signatures, URL passwords and every registered secret value.

The module is longer than 400 lines because the logs and the metrics share the
request id and the HSS error codes; the metrics could move to a module of
their own when they grow again.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr
from structlog.types import EventDict, Processor, WrappedLogger

if TYPE_CHECKING:
    from bot.settings import Settings

REDACTED: Final = "[REDACTED]"

# --- Redaction -------------------------------------------------------------------------

# A key is secret when one of its words is one of these ("cloud_sdk_sk", "db-pwd")...
_SECRET_WORDS: Final = frozenset({"ak", "sk", "pwd", "dsn"})
# ...or when it contains one of these ("X-Auth-Token", "slack_signing_secret", "set_cookie").
_SECRET_PARTS: Final = (
    *("token", "secret", "password", "passwd", "authorization", "cookie", "signature"),
    *("credential", "api_key", "apikey", "access_key", "accesskey", "private_key"),
)
_KEY_WORDS: Final = re.compile(r"[^a-z0-9]+")

_SECRET_PATTERNS: Final = (
    # Slack bot/user/app/refresh/config tokens: xoxb-…, xoxp-…, xoxa-…, xoxe.xoxp-…, xapp-…
    re.compile(r"\b(?:xox[abeoprs](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+"),
    # The AK/SK signature header: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…
    re.compile(r"SDK-HMAC-SHA256\s+[^\"'\n]*?Signature=[0-9A-Fa-f]+"),
    re.compile(r"SDK-HMAC-SHA256\s+Access=[^,\s\"']+"),
    re.compile(r"(?i)\bSignature=[0-9A-Fa-f]{16,}"),
    # Bearer tokens in a header rendered as text.
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    # IAM (PKI) tokens, as found in an X-Subject-Token or X-Auth-Token header.
    re.compile(r"\bMII[A-Za-z0-9+/=_-]{64,}"),
)
# Slack's response URLs (post into a channel for 30 minutes), plain, JSON-escaped or
# percent-encoded as they appear in a logged request body.
_RESPONSE_URL: Final = re.compile(
    r"(?i)(?:https?(?::|%3A)(?:\\?/|%2F){2})?hooks\.slack\.com(?:\\?/|%2F)[^\s\"'&,)<>]*"
)
# Fields of a Slack request body whose value never belongs in a log, besides secret-like
# names (`token`): what the user typed, and what lets anyone answer in their place.
_BODY_FIELDS: Final = frozenset({"response_url", "text", "payload", "trigger_id", "view"})
# `name=value` as in a form-encoded body (Bolt logs one on a bad signature)...
_FORM_PAIR: Final = re.compile(
    r"(?<![A-Za-z0-9_%])(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,63})=(?P<value>[^&\s,)]*)"
)
# ...and `"name": "value"` as in a JSON or repr'd body (Socket Mode's debug lines).
_QUOTED_PAIR: Final = re.compile(
    r"(?P<q>[\"'])(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,63})(?P=q)\s*:\s*"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
)
# The password of a URL: postgresql://user:password@host/db -> postgresql://user:[REDACTED]@…
_URL_PASSWORD: Final = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/?#\s]+@")
# Shorter secrets would mask ordinary words; a key name still masks them.
_MIN_SECRET_LENGTH: Final = 6


class SecretRegistry:
    """Hold the configured secret values, so they are masked wherever they show up."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | SecretStr | None) -> None:
        """Mask this value from now on (ignored if empty or shorter than 6 characters)."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value or len(value) < _MIN_SECRET_LENGTH or value in self._values:
            return
        self._values.add(value)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        """Forget every registered value."""
        self._values.clear()
        self._pattern = None

    def mask(self, text: str) -> str:
        """Replace every registered value in `text`."""
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)


SECRETS: Final = SecretRegistry()


def register_secret(value: str | SecretStr | None) -> None:
    """Mask this value in every log line from now on."""
    SECRETS.add(value)


def register_settings_secrets(settings: Settings) -> None:
    """Register every `SecretStr` setting, and the password of `AUDIT_DB_URL`."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value)
    with suppress(ValueError):  # a malformed URL has no password to find
        register_secret(urlsplit(settings.AUDIT_DB_URL).password)


def is_secret_key(key: object) -> bool:
    """Tell whether a mapping key names a secret (`token`, `X-Auth-Token`, `cloud_sdk_sk`…)."""
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    if not _SECRET_WORDS.isdisjoint(_KEY_WORDS.split(lowered)):
        return True
    squashed = lowered.replace("-", "_")
    return any(part in squashed for part in _SECRET_PARTS)


def redact_text(text: str) -> str:
    """Mask Slack tokens, HMAC signatures, bearer tokens, URL passwords and registered secrets."""
    text = SECRETS.mask(text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    text = _RESPONSE_URL.sub(REDACTED, text)
    text = _FORM_PAIR.sub(_mask_pair, text)
    text = _QUOTED_PAIR.sub(_mask_quoted, text)
    return _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)


def _sensitive_field(key: str) -> bool:
    return is_secret_key(key) or key.lower() in _BODY_FIELDS


def _mask_pair(match: re.Match[str]) -> str:
    key = match["key"]
    return f"{key}={REDACTED}" if _sensitive_field(key) and match["value"] else match[0]


def _mask_quoted(match: re.Match[str]) -> str:
    if not _sensitive_field(match["key"]):
        return match[0]
    quote = match["q"]
    return f"{quote}{match['key']}{quote}: {quote}{REDACTED}{quote}"


def redact(value: object, *, depth: int = 0) -> object:  # noqa: PLR0911  one masked form per value type
    """Return `value` with secrets masked at any depth; unknown objects become masked text."""
    if depth > 20:
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            redact_text(str(k)): REDACTED if is_secret_key(k) else redact(v, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, depth=depth + 1) for v in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    # Anything else (exceptions, dataclasses, requests) is rendered as text, then scrubbed.
    return redact_text(str(value))


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in a structlog event dict (the last processor before rendering)."""
    return {
        key: REDACTED if is_secret_key(key) else redact(value) for key, value in event_dict.items()
    }


# --- Logging ---------------------------------------------------------------------------

LogFormat = Literal["json", "console"]
_HANDLER_MARK: Final = "_hss_export_bot_handler"


def _shared_chain() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "json", *, stream: IO[str] | None = None
) -> None:
    """Send structlog and stdlib logging as redacted JSON (or console) lines to `stream`."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_chain(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs one INFO line per request and httpcore one DEBUG line per socket event; the
    # HSS client logs one line of its own per call (operation, status, request id, latency),
    # so both stay at WARNING unless LOG_LEVEL=DEBUG asks for everything.
    numeric = logging.getLevelNamesMapping()[level]
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
        )
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_chain(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def configure_from_settings(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Register the configured secrets, then configure logging from LOG_LEVEL and LOG_FORMAT."""
    register_settings_secrets(settings)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, stream=stream)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger that writes through the configured chain."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


# --- Request id ------------------------------------------------------------------------


def new_request_id() -> str:
    """Return a fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


@contextmanager
def correlation(request_id: str | None = None, **fields: str | int | None) -> Iterator[str]:
    """Bind a request id (new if not given) and other fields to every log line in the block.

    The binding follows the context into tasks created inside the block, so the
    HSS calls and audit writes of one Slack command carry its request id.
    """
    rid = request_id or new_request_id()
    values = {k: v for k, v in fields.items() if v is not None}
    with structlog.contextvars.bound_contextvars(request_id=rid, **values):
        yield rid


def current_request_id() -> str | None:
    """Return the request id bound by the enclosing `correlation()` block, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
