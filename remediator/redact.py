"""Secret redaction: THE redactor for every output channel (consoles, --json, the daemon's JSON log, the
journal, the daemon's store, evidence files, webhook payloads).

Role: pure text and data. A value that looks like a credential becomes `<redacted>`; the key, the flag, the
header name, the URL's scheme, user and host stay, so a person still sees *what* was there. Over-redacting a
harmless value is acceptable; leaking a password is not.
Bounded: every rule is anchored on a literal (a key word, `://`, `-----BEGIN`, a token prefix) and every
repetition after it is bounded and possessive, so a hostile line costs linear time (tests/unit/test_redact.py
times 1 MiB hostile lines; bench/redact_speed.py measures MB/s on a dockerd log).
Kept on purpose (look-alikes, see tests/unit/test_redact.py KEPT): a key word followed by a plain word
(`token expired`, `password authentication failed`), keys whose suffix says they hold no secret (`token_count`,
`password_file`, `--password-stdin`, `auth_type`), source positions (`auth/token.go:45`), `image:tag@sha256:…`,
a URL user without a password (`ssh://git@host`).
Must not: do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MARK = "<redacted>"
# the key words: a key containing one of these holds a credential (the key itself is kept)
WORDS = (r"pass(?:wd|word|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth"
         r"|routing[_-]?key|integration[_-]?key|service[_-]?key|session[_-]?id|cookie")
# the words that, alone and followed by a space, introduce a value (`password X`, `token X`)
SPACED = frozenset({"passwd", "password", "passphrase", "pwd", "secret", "token"})
# a key ending like this names something about the credential, not the credential
HARMLESS_SUFFIX = re.compile(r"(?i)(?:[_.-](?:count|len|length|size|ttl|timeout|type|kind|file|path|dir|stdin|"
                             r"expiry|expires(?:[_-]at)?|enabled|required|min|max|limit|policy|mode|format|version|"
                             r"url|uri|endpoint|name)|\.(?:go|py|c|h|rs|js|ts|java|rb|s|so|txt|yaml|yml|json|toml|ini|conf|cfg|log|pem|crt|"
                             r"key|env|sock|db|sqlite3?|lock|pid))$")
KEY = rf"[\w.-]*(?:{WORDS})[\w.-]*"  # a whole key (redact_obj): kept for callers of the old API
_KEY_IN = re.compile(rf"(?i)(?:{WORDS})")
_SCHEME_WORDS = r"bearer|basic|digest|negotiate|ntlm|token|aws4-hmac-sha256"
_Rule = tuple["re.Pattern[str]", "str | Callable[[re.Match[str]], str]"]


def _kv_span(m: re.Match[str], orig: str) -> tuple[int, int] | None:
    """key sep value: the span of the value to drop, or None when the key or the value says it is no secret.
    `m` may run over a lower-cased copy of `orig` (same length): the words it shows a person come from `orig`."""
    rest = m["rest"] or ""
    if HARMLESS_SUFFIX.search(rest):
        return None
    start = i = m.start()
    while i > 0 and start - i < 64 and (orig[i - 1].isalnum() or orig[i - 1] in "_.-"):
        i -= 1
    left = orig[i:start]
    if left + orig[start:m.end("rest")] in ("PWD", "OLDPWD"):  # the shell's working directory (sudo logs it)
        return None
    flag = left.startswith("-")
    group = next((g for g in ("eval", "dval", "sval", "bval") if m[g] is not None), None)
    if group is None:
        return None
    vstart, vend = m.span(group)
    val = orig[vstart:vend]
    if val.startswith(MARK):
        return None
    if m["sp"] is not None:  # `password X`: only a bare word after a bare key word, and X must look like one
        if val.startswith("-"):  # a flag follows: `--password-file -`, `must pass --data-root`
            return None
        if not flag and (left or rest or m["kq"] or group != "bval" or m["kw"].lower() not in SPACED or not _looks_secret(val)):
            return None
    return vstart, vend


def _kv_sub(text: str, low: str) -> str:
    """The key=value rule: found on the lower-cased copy (a case-sensitive scan skips most positions at once),
    replaced in the original."""
    pattern, subject = (_KV, low) if len(low) == len(text) else (_KV_ANYCASE, text)
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(subject):
        span = _kv_span(m, text)
        if span is not None:
            out += [text[pos:span[0]], MARK]
            pos = span[1]
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _looks_secret(word: str) -> bool:
    """A word after `password ` / `token `: a credential has a digit or a symbol, inner capitals, or length."""
    if len(word) < 4:
        return False
    if len(word) >= 20 or any(c.isdigit() for c in word) or not word.isalpha():
        return True
    return any(c.isupper() for c in word[1:])


def _userinfo(m: re.Match[str]) -> str:
    """scheme://user:password@host -> user kept, password gone; a lone user kept unless it looks like a token."""
    info = m["info"]
    user, colon, _ = info.partition(":")
    if colon:
        return m["pre"] + user + ":" + MARK + "@"
    if len(info) > 32 or any(c.isdigit() for c in info) and len(info) >= 16 or TOKEN_SHAPE.fullmatch(info):
        return m["pre"] + MARK + "@"
    return m[0]


def _prefix(token: str) -> str:
    """What a shaped token keeps: its kind (`ghp_`, `github_pat_`, `glpat-`, `xoxb-`, `AKIA`)."""
    m = re.match(r"[A-Za-z]{2,6}[_-](?:pat_|live_)?", token)
    return m[0] if m else token[:4]


def _hook_path(m: re.Match[str]) -> str:
    """/hooks/… /webhooks/…: every long, mixed path segment is a token (Mattermost, Zapier, Rocket.Chat, …)."""
    segs = m["path"].split("/")
    return m["pre"] + "/".join(MARK if len(s) >= 16 and any(c.isdigit() for c in s) and any(c.isalpha() for c in s)
                               else s for s in segs)


TOKEN_SHAPE = re.compile(
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255}"
    r"|gl(?:pat|rt|dt|ptt|oas|cbt|ft|imt|agent|soat)-[A-Za-z0-9_-]{20,255}|xox[baprse]-[A-Za-z0-9-]{10,255}"
    r"|xapp-[A-Za-z0-9-]{10,255}|(?:sk|rk)_live_[A-Za-z0-9]{16,255}|AIza[A-Za-z0-9_-]{35}|npm_[A-Za-z0-9]{36}"
    r"|dckr_pat_[A-Za-z0-9_-]{20,255}|pypi-AgE[A-Za-z0-9_-]{20,255}")
# PEM private key blocks (also JSON-escaped, with literal \\n): the body goes, the armour lines stay
PEM = re.compile(r"(-----BEGIN [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)(?:[^-]|-(?!----)){0,65536}+"
                r"(-----END [A-Z0-9 ]{0,40}?PRIVATE KEY(?: BLOCK)?-----)?")
_VAL = r"[^\s\"',;&\\]{1,4096}+"
def _KEEP1(m: re.Match[str]) -> str:  # noqa: N802 - a replacement, named like the constant it stands for
    return m[1] + MARK  # a function: a template string (r"\1…") is expanded by Python code on every match


def _KEEP1_AT(m: re.Match[str]) -> str:  # noqa: N802
    return m[1] + MARK + "@"


_KV_MARKER = re.compile("(?!)")  # never matches: stands for _KV in RULES
RULES: tuple[_Rule, ...] = (
    # Cookie / Set-Cookie headers: the whole value (many pairs, spaces) up to the end of the line or the quote
    (re.compile(r"(?i)(\b(?:set-)?cookie(?:\\{0,3}\")?[ \t]*[:=][ \t]*(?:\\{0,3}\"|\[\"?)?)[^\r\n\"\\\]]{1,8192}+"),
     _KEEP1),
    # known webhook hosts: the path token
    (re.compile(r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>?#\\]{1,512}+"), _KEEP1),
    (re.compile(r"(?i)(discord(?:app)?\.com/api/webhooks/\d{1,30}+/)[^\s\"'<>?#/\\]{1,512}+"), _KEEP1),
    (re.compile(r"(?i)(\.office\.com/webhook(?:b2)?/)[^\s\"'<>?#\\]{1,1024}+"), _KEEP1),
    (re.compile(r"(?i)(events\.pagerduty\.com/integration/)[^\s\"'<>?#/\\]{1,512}+"), _KEEP1),
    (re.compile(r"(?i)(api\.telegram\.org/(?:file/)?bot)[^\s\"'<>?#/\\]{1,512}+"), _KEEP1),
    (re.compile(r"(?i)(?P<pre>/(?:hooks?|webhooks?)/)(?P<path>[\w./-]{16,1024}+)"), _hook_path),
    # query parameters that carry a credential without a key word in their name (?key=, &sig=, X-Amz-Signature=)
    (re.compile(r"(?i)([?&](?:key|sig|signature|sign|hmac|code|x-amz-(?:signature|credential|security-token)"
                r"|x-goog-(?:signature|credential))=)[^&\s#\"'<>\\]{1,4096}+"), _KEEP1),
    # scheme://user:password@host (the password may hold '@': the authority's last '@' ends it)
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]{0,20}+://)(?P<info>[^\s/?#\"'<>\\]{1,512})@"), _userinfo),
    # token shapes that need no key: AWS access keys, GitHub/GitLab/Slack/Stripe/Google/npm/Docker Hub tokens
    (re.compile(rf"(?<![\w-])(?:{TOKEN_SHAPE.pattern})(?![\w-])"), lambda m: _prefix(m[0]) + MARK),
    # JWTs
    (re.compile(r"(?<![\w-])eyJ[\w-]{5,4096}+\.eyJ[\w-]{5,4096}+\.[\w-]{0,4096}+"), MARK),
    (_KV_MARKER, ""),  # the key=value rule (_kv_sub) runs here, in this order
    # docker login … -p X, and -u user -p X (mysql, registry clients), curl -u user:password
    (re.compile(r"(\blogin(?:[ \t]++(?!-p\b)[^\s]{1,256}+){0,8}?[ \t]++-p(?:[ \t]++|=)?)(?!-)[^\s\"']{1,4096}+"),
     _KEEP1),
    (re.compile(r"((?<!\S)-u[ \t]++[^\s]{1,256}+[ \t]++-p(?:[ \t]++|=)?)(?!-)[^\s\"']{1,4096}+"), _KEEP1),
    (re.compile(r"((?<!\S)(?:-u|--user)(?:[ \t]++|=)[^\s:\"']{1,256}+:)[^\s\"']{1,4096}+"), _KEEP1),
    # user:password@host without a scheme (an image's tag@sha256:digest is not one)
    (re.compile(r"(?<![/\w.-])([\w.-]{1,64}+:)[^\s/:<>\"']{1,256}@(?!sha\d{3}:)(?=[\w-])"),
     _KEEP1_AT),
)

# key sep value in every dress: KEY=v, key: v, "key": "v", \"key\":\"v\" (JSON inside a logrus msg),
# key='v w', key="v w", --key v, --key=v, Authorization: Bearer v, and `password v` / `token v`.
# Scanned on a lower-cased copy (case-sensitive: sre skips every position whose first letter cannot start a key).
_KV = re.compile(rf"(?P<kw>{WORDS})(?P<rest>[\w.-]{{0,40}}+)(?P<kq>\\{{0,3}}\")?"
                rf"(?:[ \t]*+[=:][ \t]*+\[?|(?P<sp>[ \t]++)(?=[\"']|[^\s\"',;&\\]{{4}}))"
                rf"(?:(?P<vq>\\{{1,3}}\")(?P<eval>(?:[^\"\\\n]|\\(?!\")){{1,4096}}+)"
                rf"|\"(?P<dval>(?:[^\"\\\n]|\\.){{1,4096}}+)|'(?P<sval>[^'\n]{{1,4096}}+)"
                rf"|(?:(?:{_SCHEME_WORDS})[ \t]++)?(?P<bval>{_VAL}))")
_KV_ANYCASE = re.compile(_KV.pattern, re.I)
_KV_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "session", "cookie")
# a rule runs on a chunk only when its trigger is in the chunk's lower-cased text
TRIGGERS: tuple[Callable[[str], bool], ...] = (
    lambda low: "cookie" in low,
    lambda low: "hooks.slack.com" in low, lambda low: "discord" in low, lambda low: ".office.com/webhook" in low,
    lambda low: "pagerduty.com/integration" in low, lambda low: "api.telegram.org" in low,
    lambda low: "/hook" in low or "/webhook" in low,
    lambda low: "=" in low and any(k in low for k in ("key=", "sig=", "signature=", "sign=", "hmac=", "code=", "x-amz-",
                                                    "x-goog-")),
    lambda low: "://" in low and "@" in low,
    lambda low: any(k in low for k in ("akia", "asia", "abia", "acca", "ghp_", "gho_", "ghs_", "ghu_", "ghr_",
                                       "github_pat_", "gl", "xox", "xapp-", "_live_", "aiza", "npm_", "dckr_pat_",
                                       "pypi-age")),
    lambda low: "eyj" in low,
    lambda low: any(w in low for w in _KV_WORDS),  # the key=value rule
    lambda low: "login" in low and "-p" in low,
    lambda low: "-u" in low and "-p" in low,
    lambda low: "-u" in low or "--user" in low,
    lambda low: "@" in low and ":" in low,
)
CHUNK = 1024  # lines are redacted in groups of about this many characters, each rule only where its trigger is


def _chunk(text: str) -> str:
    low = text.lower()
    for (pattern, repl), wanted in zip(RULES, TRIGGERS, strict=True):
        if not wanted(low):
            continue
        if pattern is _KV_MARKER:
            new = _kv_sub(text, low)
        else:
            new, n = pattern.subn(repl, text)
            if not n:
                continue
        if new is not text:
            text, low = new, new.lower()
    return text


def redact_text(text: str) -> str:
    """`text` with every credential replaced by MARK. Linear-ish: lines are grouped into chunks of ~CHUNK
    characters (a line is never cut: a secret never straddles two chunks), each rule runs only on the chunks
    its trigger appears in; PEM blocks, which span lines, are taken out of the whole text first."""
    if "-----BEGIN" in text:
        text = PEM.sub(lambda m: m[1] + MARK + (m[2] or ""), text)
    if len(text) <= CHUNK:
        return _chunk(text)
    out: list[str] = []
    pos = 0
    while pos < len(text):
        cut = text.find("\n", pos + CHUNK)
        end = len(text) if cut < 0 else cut + 1
        out.append(_chunk(text[pos:end]))
        pos = end
    return "".join(out)


def redact_argv(argv: list[str] | tuple[str, ...]) -> str:
    """An argv as one line for a person or the journal, its credentials gone (`-p X` after login needs the context)."""
    return redact_text(" ".join(argv))


def is_secret_key(key: str) -> bool:
    """A mapping key naming a credential (`password`, `DB_PASS`, `api-key`), not a harmless relative (`token_count`)."""
    if len(key) > 128 or not _KEY_IN.search(key) or HARMLESS_SUFFIX.search(key) or key in ("PWD", "OLDPWD"):
        return False
    return bool(re.fullmatch(r"[\w.-]+", key))


def redact_obj(obj: Any, depth: int = 0) -> Any:
    """Every string inside (dict keys and values, lists) redacted; a secret key's string value is MARK; the
    structure kept."""
    if depth > 32:
        return obj
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {(redact_text(k) if isinstance(k, str) else k):
                (MARK if isinstance(k, str) and isinstance(v, str) and v and is_secret_key(k) else redact_obj(v, depth + 1))
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v, depth + 1) for v in obj]
    return obj
