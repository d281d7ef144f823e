"""The documentation's offline commands, run against a release local-api (`make test-docs`).

Docs that nobody runs drift: a renamed field, a new required header, a status that changed, and
the README's tour quietly stops working for the next newcomer. So every fenced block whose info
string is `sh offline`, in README.md and docs/*.md, is run here, page by page, against a fresh
local-api on a free loopback port (started as tests/support/local_api.py starts it for the other
outside suites, plus the first admin and the mail outbox docs/api.md starts `make run` with).

A page's offline blocks run in order in one bash (`set -euo pipefail`), so a block may use what an
earlier one set (`$TOKEN`). `http://127.0.0.1:3000` and `localhost:3000` are pointed at the test's
server. Every command that calls curl must be followed by a comment line saying what it answers:

    curl -s http://127.0.0.1:3000/messages/2c26…
    # 200 {"message":"foo"}

The status is checked; when the rest is JSON it must match the body, `…` standing for anything.
The README must keep its tour (register, login, /users/me, messages, a task and its result).

Usage: python3 tests/docs/run_commands.py [--list] [--binary PATH] [PAGE ...]
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
import local_api  # noqa: E402

ROOT = local_api.ROOT
DOCS_URL = "http://127.0.0.1:3000"
OFFLINE = ["sh", "offline"]
CLAIM = re.compile(r"^#\s*(\d{3})(?:\s+(.*))?$")
# What the README's tour must show, as (method, path prefix).
TOUR = [
    ("POST", "/register"),
    ("POST", "/login"),
    ("GET", "/users/me"),
    ("POST", "/messages"),
    ("GET", "/messages/"),
    ("POST", "/add"),
    ("GET", "/result/"),
]
# The server the docs assume: docs/api.md, "Trying the examples".
ENVIRONMENT = {
    "STRATUS_ADMIN_USERNAME": "root",
    "STRATUS_ADMIN_EMAIL": "root@example.com",
    "STRATUS_ADMIN_PASSWORD": "a long passphrase of yours",
}
# Wraps curl so that each call leaves its response headers and body where the check can read them,
# without touching what the command itself prints or pipes on.
PRELUDE = r"""set -euo pipefail
curl() { command curl --show-error --max-time 30 -D "$DOCS_RUN_DIR/headers" "$@" | tee "$DOCS_RUN_DIR/body"; }
__step() { rm -f "$DOCS_RUN_DIR/headers" "$DOCS_RUN_DIR/body"; }
__done() {
    local status
    status=$(awk '/^HTTP\//{s=$2} END{print s}' "$DOCS_RUN_DIR/headers" 2>/dev/null || true)
    cp "$DOCS_RUN_DIR/headers" "$DOCS_RUN_DIR/$1.headers" 2>/dev/null || true
    cp "$DOCS_RUN_DIR/body" "$DOCS_RUN_DIR/$1.body" 2>/dev/null || true
    if [[ "$status" != "$2" ]]; then
        echo "docs: step $1 answered ${status:-nothing}, the page says $2" >&2
        exit 97
    fi
}
"""


class Failed(Exception):
    pass


@dataclass
class Step:
    line: int  # where the command starts in the page, 1-based
    command: str
    status: str | None = None
    body: str | None = None


def offline_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The offline blocks of a page: (line of the first command, its lines)."""
    blocks, current, fence = [], None, None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if fence is None:
            match = re.match(r"^(`{3,}|~{3,})\s*(.*)$", stripped)
            if match:
                fence = match.group(1)
                current = (number + 1, []) if match.group(2).split() == OFFLINE else None
        elif stripped.startswith(fence) and stripped.strip(fence[0]) == "":
            if current is not None:
                blocks.append(current)
            fence, current = None, None
        elif current is not None:
            current[1].append(line)
    if fence is not None:
        raise Failed(f"a code block opened with {fence} is never closed")
    return blocks


def steps_of(first_line: int, lines: list[str]) -> list[Step]:
    """A block's commands (backslash continuations joined), each with the claim under it."""
    steps: list[Step] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            index += 1
            continue
        if stripped.startswith("#"):
            claim = CLAIM.match(stripped)
            if claim and steps and steps[-1].status is None and lines[index - 1].strip():
                steps[-1].status, rest = claim.group(1), (claim.group(2) or "").strip()
                steps[-1].body = rest if rest[:1] in ("{", "[") else None
            index += 1
            continue
        start = index
        command = [line]
        while command[-1].rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            command.append(lines[index])
        steps.append(Step(first_line + start, "\n".join(command)))
        index += 1
    return steps


def calls_curl(command: str) -> bool:
    return re.search(r"(^|[\s$(|;&])curl\s", command) is not None


def route(command: str) -> tuple[str, str] | None:
    """(method, path) of the curl in `command`, if it calls the docs' server."""
    try:
        words = shlex.split(command.replace("\\\n", " "), comments=True)
    except ValueError:
        return None
    url = next((w for w in words if w.startswith(DOCS_URL)), None)
    if url is None:
        return None
    method = "GET"
    for i, word in enumerate(words):
        if word in ("-X", "--request") and i + 1 < len(words):
            method = words[i + 1]
            break
        if word in ("-d", "--data", "--data-raw") and method == "GET":
            method = "POST"
    return method, url[len(DOCS_URL) :]


def page_steps(page: Path) -> list[Step]:
    steps = []
    for first_line, lines in offline_blocks(page.read_text(encoding="utf-8")):
        steps.extend(steps_of(first_line, lines))
    for step in steps:
        if calls_curl(step.command) and step.status is None:
            raise Failed(f"{page.name}:{step.line}: a curl with no `# <status>` line under it:\n{step.command}")
        if calls_curl(step.command) and route(step.command) is None and DOCS_URL not in step.command:
            raise Failed(f"{page.name}:{step.line}: a curl that does not call {DOCS_URL}:\n{step.command}")
    return steps


def check_tour(steps: list[Step]) -> None:
    routes = [r for r in (route(s.command) for s in steps if s.status) if r]
    for method, prefix in TOUR:
        if not any(m == method and p.startswith(prefix) for m, p in routes):
            raise Failed(f"README.md's tour has lost `{method} {prefix}`")


def body_matches(claimed: str, body: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in claimed.split("…"))
    return re.fullmatch(pattern, body.strip(), re.DOTALL) is not None


def script(steps: list[Step], base: str) -> str:
    out = [PRELUDE]
    for number, step in enumerate(steps):
        command = step.command.replace(DOCS_URL, base).replace("localhost:3000", base.removeprefix("http://"))
        if step.status:
            out.append("__step")
        out.append(f"# {number}: line {step.line}")
        out.append(command)
        if step.status:
            out.append(f"__done {number} {step.status}")
    return "\n".join(out) + "\n"


def run_page(page: Path, steps: list[Step], binary: Path) -> None:
    name = page.relative_to(ROOT).as_posix().replace("/", "-")
    with tempfile.TemporaryDirectory(prefix="stratus-docs-") as scratch:
        outbox = Path(scratch) / "mail.jsonl"
        outbox.touch()
        environment = {**ENVIRONMENT, "STRATUS_MAIL_OUTBOX": str(outbox)}
        log = ROOT / "target" / "docs" / f"{name}.log"
        with local_api.running(log, binary, environment) as base:
            text = script(steps, base)
            (ROOT / "target" / "docs" / f"{name}.sh").write_text(text, encoding="utf-8")
            env = {**os.environ, **environment, "DOCS_RUN_DIR": scratch}
            result = subprocess.run(["bash", "-c", text], env=env, cwd=scratch, capture_output=True, text=True)
        for number, step in enumerate(steps):
            if not step.status:
                continue
            headers, body = Path(scratch) / f"{number}.headers", Path(scratch) / f"{number}.body"
            if not headers.exists():
                raise Failed(
                    f"{page.name}:{step.line}: stopped before this answered (exit {result.returncode}):\n"
                    f"{step.command}\n{result.stderr[-2000:]}"
                )
            dumped = headers.read_text(encoding="utf-8", errors="replace")
            statuses = re.findall(r"^HTTP/\S+ (\d{3})", dumped, re.MULTILINE)
            status = statuses[-1] if statuses else "nothing"
            answer = body.read_text(encoding="utf-8", errors="replace") if body.exists() else ""
            if status != step.status:
                raise Failed(f"{page.name}:{step.line}: answered {status}, the page says {step.status}:\n"
                             f"{step.command}\n{answer[:500]}")
            if step.body is not None:
                claimed = step.body.replace(DOCS_URL, base)
                if not body_matches(claimed, answer):
                    raise Failed(f"{page.name}:{step.line}: answered\n  {answer.strip()[:500]}\n"
                                 f"the page says\n  {step.body}")
        if result.returncode != 0:
            raise Failed(f"{page.name}: the commands failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
        checked = sum(1 for s in steps if s.status)
        print(f"docs: {page.relative_to(ROOT)}: {len(steps)} commands, {checked} answers as written")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the commands and claims; run nothing")
    parser.add_argument("--binary", type=Path, default=local_api.BINARY, help="the local-api to run")
    parser.add_argument("pages", nargs="*", type=Path, help="default: README.md and docs/*.md")
    args = parser.parse_args()
    pages = [p.resolve() for p in args.pages] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    try:
        plan = [(page, page_steps(page)) for page in pages]
        readme = dict(plan).get(ROOT / "README.md")
        if readme is not None:
            check_tour(readme)
        if args.list:
            for page, steps in plan:
                for step in steps:
                    claim = f"  -> {step.status} {step.body or ''}" if step.status else ""
                    print(f"{page.relative_to(ROOT)}:{step.line}: {step.command}{claim}")
            return 0
        (ROOT / "target" / "docs").mkdir(parents=True, exist_ok=True)
        for page, steps in plan:
            if steps:
                run_page(page, steps, args.binary)
    except Failed as failure:
        print(f"docs: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
