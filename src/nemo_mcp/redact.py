"""Secret hygiene: a process-wide registry of secrets and a scrubber for text and log records.

Every token the process learns (from NEMO_TOKEN, the store or the token endpoint) is registered
here; ``redact`` replaces it anywhere it might otherwise leak (exception text, logs, tool output).
"""

from __future__ import annotations

import logging
import re
import sys
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
_TOKEN_RE = re.compile(r"\b(nmv_usr_|clm_)[A-Za-z0-9_\-]{4,}")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
MASK = "[redacted]"


def register_secret(value: str | None) -> None:
    """Remember a secret so ``redact`` can scrub it. Short values are ignored (too common)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _TOKEN_RE.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER_RE.sub(lambda m: m.group(1) + MASK, text)


class RedactingFilter(logging.Filter):
    """Scrub secrets from every record's final message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True


def setup_logging(level: str | int = "WARNING") -> None:
    """Log to stderr only (stdout belongs to the MCP protocol on stdio), with secrets scrubbed.

    httpx logs full URLs at INFO, so it is held at WARNING unless we are debugging.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
