"""`mockserver validate` warns on values that look like secrets, with file:line:col; --strict refuses."""

from __future__ import annotations

import io
from pathlib import Path

from mockserver.cli import main

LEAKY = """\
name: leaky
rules:
  - match: {path: /a, headers: {Authorization: Basic dXNlcjpwYXNz}}
    respond: {body: ok}
  - match: {path: /b}
    respond:
      headers: {X-Note: "Bearer abcDEF123456ghi"}
      json: {ak: HPUAXQ1Z2Y3W4V5U6T7S, sk: "Qw3rTy8uIoP1aSdF5gHjK2lZxC9vBnM4qWeRtY7u"}
  - match: {path: /c}
    respond: {body: "key=Zk8pQ2mX7vR4tL9wN3bY6cJ1hG5dF0sA"}
  - match: {path: /d}
    respond: {json: {id: 5c1d4e7a-9b2f-4c3e-8a1d-2f6b7c8d9e0f, token: "<redacted:token:1>",
                     project: 0123456789abcdef0123456789abcdef, trace: "{{ request.id }}"}}
"""


def validate(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["validate", *argv], stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def test_values_that_look_like_secrets_are_warned_where_they_are(tmp_path: Path) -> None:
    path = tmp_path / "leaky.yaml"
    path.write_text(LEAKY)
    code, out = validate(str(path))
    assert code == 0
    assert out.splitlines() == [
        f"{path}:3:48: warning: rules[0].match.headers.Authorization: looks like a secret: a literal "
        "Authorization header value; expected a <redacted:...> placeholder, a template or a match that "
        "does not name the credential",
        f"{path}:7:25: warning: rules[1].respond.headers.X-Note: looks like a secret: a Bearer credential "
        "(Bearer abcD...); expected a <redacted:...> placeholder",
        f"{path}:8:18: warning: rules[1].respond.json.ak: looks like a secret: an AK/SK pair (ak and sk); "
        "expected <redacted:...> placeholders or ${ENV} references",
        f"{path}:10:21: warning: rules[2].respond.body: looks like a secret: a high-entropy token "
        "(Zk8p..., 32 characters); expected a <redacted:...> placeholder, or quiet: [secrets] if it is "
        "not a secret",
        "ok: 1 scenario(s), 4 rule(s)",
    ]
    code, out = validate("--strict", str(path))
    assert code == 1 and out.splitlines()[-1] == "refused: 4 warning(s) and --strict"


def test_quiet_secrets_silences_them_and_ids_placeholders_and_templates_pass(tmp_path: Path) -> None:
    path = tmp_path / "leaky.yaml"
    path.write_text(LEAKY.replace("rules:", "quiet: [secrets]\nrules:", 1))
    assert validate("--strict", str(path)) == (0, "ok: 1 scenario(s), 4 rule(s)\n")
    clean = tmp_path / "clean.yaml"
    clean.write_text("name: clean\nrules:\n" + LEAKY.split("  - match: {path: /d}\n")[1].join(
        ["  - match: {path: /d}\n", ""]))
    assert validate("--strict", str(clean)) == (0, "ok: 1 scenario(s), 1 rule(s)\n")
