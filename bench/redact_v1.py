"""The redactor as it was before issue 14 (commit 6921374), frozen: bench/redact_speed.py compares against it."""

from __future__ import annotations

import re
from typing import Any

MARK = "<redacted>"
KEY = r"[\w.-]*(?:pass(?:wd|word|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)[\w.-]*"
PATTERNS = (
    # "key": "value" (JSON)
    (re.compile(rf'(?i)("{KEY}"\s*:\s*")([^"\\]*(?:\\.[^"\\]*)*)(")'), r"\1" + MARK + r"\3"),
    # Authorization: Bearer xxx / Basic xxx (before the generic key form, which would keep the scheme as the value)
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:(bearer|basic|token|digest)\s+)?(\S+)"),
     lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MARK),
    # key=value, key: value, key = 'quoted value', key="quoted value" (logrus), env KEY=value
    (re.compile(rf"(?i)\b({KEY})(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"',;&]+)"), r"\1\2" + MARK),
    # --password value, --token=value, -p value is too ambiguous to touch
    (re.compile(rf"(?i)(--{KEY})(\s+|=)(?!-)(\S+)"), r"\1\2" + MARK),
    # scheme://user:password@host, and user:password@host without a scheme
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]+:)([^\s/@]+)(@)"), r"\1" + MARK + r"\3"),
    (re.compile(r"(?<![/\w.-])([\w.-]+:)([^\s/@:<>]+)(@[\w-]+(?:\.[\w-]+)*)"), r"\1" + MARK + r"\3"),
)


def redact_text(text: str) -> str:
    for pattern, repl in PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_obj(obj: Any, depth: int = 0) -> Any:
    """Every string inside (dict values and keys' values, lists) redacted; the structure kept."""
    if depth > 32:
        return obj
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: (MARK if isinstance(k, str) and re.fullmatch(KEY, k, re.I) and isinstance(v, str) and v
                    else redact_obj(v, depth + 1)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v, depth + 1) for v in obj]
    return obj
