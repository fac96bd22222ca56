"""The redactor against a table of the forms credentials take in logs, argv, env and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediator.journal import Journal
from remediator.redact import redact_obj, redact_text

SECRET = "Sup3rS3cret"
FORMS = [
    f"DB_PASSWORD={SECRET}", f"DB_PASS={SECRET}", f"MYSQL_PWD={SECRET}", f"API_TOKEN={SECRET}", f"aws_secret_access_key={SECRET}",
    f"password: {SECRET}", f"password = '{SECRET} and more'", f'time="x" level=info msg="login" password="{SECRET} x"',
    f'{{"password": "{SECRET}"}}', f'{{"Token":"{SECRET}"}}', f"--password {SECRET}", f"--token={SECRET}",
    f"Authorization: Bearer {SECRET}", f"authorization: Basic {SECRET}", f"https://admin:{SECRET}@registry.example",
    f"X-Registry-Auth: {SECRET}", f"client_secret={SECRET}&grant_type=x",
]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_loses_its_value_and_keeps_its_name(form: str) -> None:
    out = redact_text(form)
    assert SECRET not in out and "<redacted>" in out, out


def test_harmless_text_is_left_alone() -> None:
    for text in ("level=info msg=\"Starting up\"", "dockerd --data-root /var/lib/docker", "pid=42 restarts=3"):
        assert redact_text(text) == text


def test_the_journal_never_stores_a_hook_secret(tmp_path: Path) -> None:
    j = Journal(tmp_path / "state")
    row = j.open_incident(host="h", runbook="r", sha256="0", dry_run=False)
    j.event(row.id, "intent", "hook", params={"argv": ["/bin/deploy", f"--token={SECRET}"], "env": {"DB_PASS": SECRET}},
            output=f"connected as admin:{SECRET}@db ok; password={SECRET}")
    raw = j.db.execute("SELECT detail FROM events").fetchall()
    assert SECRET not in json.dumps(raw)
    detail = j.events(row.id)[0][3]
    assert detail["params"]["argv"][0] == "/bin/deploy", "the structure and the harmless values stay"


def test_structure_is_kept() -> None:
    assert redact_obj({"a": [1, "x", {"password": SECRET}], "n": 3}) == {"a": [1, "x", {"password": "<redacted>"}], "n": 3}
