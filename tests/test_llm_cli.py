"""An llm step through `plue workflow run`: live output, stored usage, and record then replay with no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from anthropic_server import API_KEY, FakeAnthropic, Reply, Text, ToolUse
from workflow_repos import EXAMPLES, git_init, write

WORKFLOW = """\
from plue import Plan, Step


def workflow():
    return Plan(
        name="Review",
        steps=[
            Step.llm(
                "review",
                prompt_file="prompts/review.md",
                inputs={"files": [{"path": "README.md"}]},
                tools=["read_file"],
                output_schema={
                    "type": "object",
                    "required": ["verdict"],
                    "properties": {"verdict": {"enum": ["approve", "reject"]}},
                },
            ),
            Step.bash("after", "echo verdict={{ steps.review.outputs.verdict }}", depends_on=["review"]),
        ],
    )
"""

PROMPT = """\
---
name: review
schema:
  type: object
  required: [files]
---
Review these files:
{{#each files}}
- {{this.path}}
{{/each}}
"""


def script() -> list[Reply]:
    reading = [Text("Reading it.\n"), ToolUse("read_file", {"path": "README.md"})]
    return [
        Reply(reading, stop_reason="tool_use", input_tokens=120, output_tokens=30, cache_write_tokens=100),
        Reply([Text('Looks fine.\n{"verdict": "approve"}')], input_tokens=200, output_tokens=12, cache_read_tokens=100),
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = git_init(tmp_path / "repo")
    write(root, {"review.plue.py": WORKFLOW, "prompts/review.md": PROMPT, "README.md": "# Hello\nA tiny project.\n"})
    return root


def plue(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PLUE_DATABASE"))}
    return subprocess.run(
        [sys.executable, "-m", "plue", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment | {"CI": "1"} | env,
        timeout=120,
    )


def step_lines(stdout: str) -> list[str]:
    """The output lines of the steps, without the run's header, transitions and timings."""
    return [line for line in stdout.splitlines() if line.startswith("[")]


def test_record_then_replay_without_network(repo: Path, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    with FakeAnthropic(script()) as server:
        live = plue(
            ["workflow", "run", "review.plue.py", "--secret", "ANTHROPIC_API_KEY", "--llm-record", recordings],
            repo,
            ANTHROPIC_API_KEY=API_KEY,
            ANTHROPIC_BASE_URL=server.url,
        )
        assert live.returncode == 0, live.stdout + live.stderr
        prompt_sent = server.requests[0].body["messages"][0]["content"]
        assert len(server.requests) == 2
    text = prompt_sent if isinstance(prompt_sent, str) else "".join(block.get("text", "") for block in prompt_sent)
    assert "Review these files:\n- README.md\n" in text
    lines = step_lines(live.stdout)
    assert "[review] Reading it." in lines
    assert any(line.startswith('[review:tool] read_file {"path":"README.md"}') for line in lines), lines
    assert any(line.startswith("[review:result]") and "# Hello" in line for line in lines), lines
    assert "[after] verdict=approve" in lines
    assert API_KEY not in live.stdout and API_KEY not in "".join(p.read_text() for p in recordings.rglob("*.json"))

    view = plue(["run", "view", "1"], repo)
    assert view.returncode == 0, view.stderr
    assert "llm: claude-sonnet-4-6 · 2 calls · 320 in / 42 out tokens (cache 100 read, 100 written)" in view.stdout
    usage = json.loads(plue(["run", "view", "1", "--json"], repo).stdout)["llm_usage"]
    assert [(call["step_id"], call["turn"], call["stop_reason"]) for call in usage] == [
        ("review", 1, "tool_use"),
        ("review", 2, "end_turn"),
    ]
    assert all(call["cost_usd"] > 0 and call["latency_ms"] > 0 for call in usage)

    # The server is gone and there is no key: the replay answers from the recordings alone.
    replay = plue(["workflow", "run", "review.plue.py", "--llm-replay", recordings], repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert [line for line in step_lines(replay.stdout) if not line.startswith("[review:system]")] == [
        line for line in lines if not line.startswith("[review:system]")
    ]


def test_a_missing_key_fails_the_step_clearly(repo: Path) -> None:
    result = plue(["workflow", "run", "review.plue.py"], repo)
    assert result.returncode == 1
    assert "ANTHROPIC_API_KEY is not set" in result.stdout
    assert "[after]" not in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_replay_without_a_recording_says_how_to_make_one(repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = plue(["workflow", "run", "review.plue.py", "--llm-replay", empty], repo)
    assert result.returncode == 1
    assert "no recorded LLM exchange for step review" in result.stdout and "--llm-record" in result.stdout


def test_record_and_replay_exclude_each_other(repo: Path, tmp_path: Path) -> None:
    result = plue(["workflow", "run", "review.plue.py", "--llm-record", tmp_path, "--llm-replay", tmp_path], repo)
    assert result.returncode == 2 and "exclude each other" in result.stderr


def test_the_bundled_example_replays_offline(tmp_path: Path) -> None:
    # examples/summary.plue.py with its committed recording: what the README promises, without network or key.
    root = git_init(tmp_path / "repo")
    shutil.copytree(EXAMPLES, root / "examples")
    result = plue(["workflow", "run", "examples/summary.plue.py", "--llm-replay", "examples/llm-recordings"], root)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = step_lines(result.stdout)
    assert '[summarize:tool] read_file {"path":"examples/hello/src/hello/__init__.py"}' in lines
    assert any(line.startswith("[report] summary: hello is a tiny standard-library package") for line in lines)
    assert '[report] modules: ["hello", "hello.__main__"]' in lines
    assert "differs" not in result.stdout  # the recorded requests still match what the workflow sends
