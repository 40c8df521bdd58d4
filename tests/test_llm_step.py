"""The llm step executor with the real SDK, the fake Anthropic server and the real toolbox, and in the engine.

Executors are called directly with a hand-made `StepContext` (`llm_support.run_step`);
the last test runs a whole plan through `plue.engine.Engine`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from anthropic_server import API_KEY, FakeAnthropic, Reply, Text, ToolUse
from llm_support import MODEL, run_step
from process_support import in_background, process_gone, wait_until

from plue import Plan, Step
from plue.engine import Engine, EngineEvent, LogLine, RunStatus, StepFinished, StepLogs, StepStatus, Stream
from plue.steps import LlmOptions, default_executors
from plue.steps.llm import DEFAULT_MODEL, MISSING_KEY, SYSTEM_PROMPT

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"enum": ["approve", "reject"]}, "reasons": {"type": "array"}},
    "required": ["verdict"],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    (path / "a.txt").write_text("alpha\n")
    return path


def system_lines(run: Any) -> list[str]:
    """System lines with the usage lines' latency taken out (it differs from run to run)."""
    return [re.sub(r", [\d.]+ s, stop:", ", _ s, stop:", line) for line in run.texts(Stream.SYSTEM)]


# --- a step, line by line -------------------------------------------------------------------


def test_a_step_logs_turns_text_tool_calls_results_and_usage(workspace: Path) -> None:
    script = [
        Reply([Text("Let me look.\n"), ToolUse("read_file", {"path": "a.txt"}), ToolUse("read_file", {"path": "nope"})],
              stop_reason="tool_use", input_tokens=1234, output_tokens=56, cache_write_tokens=100),
        Reply([Text("All good:\nalpha is there.")], input_tokens=1300, output_tokens=9, cache_read_tokens=100),
    ]  # fmt: skip
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "Check a.txt", "model": MODEL}, server=server)
    assert run.result.status is StepStatus.SUCCESS and run.result.error is None
    assert run.texts(Stream.LLM_TOKEN) == ["Let me look.", "All good:", "alpha is there."]
    assert run.texts(Stream.LLM_TOOL_CALL) == ['read_file {"path":"a.txt"}', 'read_file {"path":"nope"}']
    results = run.texts(Stream.LLM_TOOL_RESULT)
    assert results[0] == "alpha"
    assert results[1].startswith("error: ") and "nope" in results[1]
    cost = run.result.extra["llm"]["usage"]["cost_usd"]
    assert system_lines(run) == [
        f"turn 1 ({MODEL})",
        "turn 1: 1,234 input + 56 output tokens (cache 0 read, 100 written), _ s, stop: tool_use",
        f"turn 2 ({MODEL})",
        "turn 2: 1,300 input + 9 output tokens (cache 100 read, 0 written), _ s, stop: end_turn",
        f"total: 2,534 input + 65 output tokens (cache 100 read, 100 written), estimated ${cost:.4f}",
    ]
    first = server.requests[0].body
    assert first["messages"] == [{"role": "user", "content": "Check a.txt"}]
    assert first["system"] == SYSTEM_PROMPT and first["model"] == MODEL

    extra = run.result.extra
    assert extra["text"] == "All good:\nalpha is there." and extra["output"] is None
    llm = extra["llm"]
    assert (llm["model"], llm["turns"], llm["stop_reason"]) == (MODEL, 2, "end_turn")
    assert llm["usage"]["input_tokens"] == 2534 and llm["usage"]["output_tokens"] == 65
    assert llm["usage"]["cache_read_tokens"] == 100 and llm["usage"]["cache_write_tokens"] == 100
    assert llm["usage"]["cost_usd"] > 0
    assert [call["turn"] for call in llm["calls"]] == [1, 2]
    assert llm["calls"][0]["request_id"] == "req_fake_1" and llm["calls"][0]["input_tokens"] == 1234
    assert set(llm["calls"][0]) == {
        "turn", "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "latency_ms", "stop_reason", "request_id", "at", "cost_usd",
    }  # fmt: skip
    assert json.dumps(extra)  # plain data: the engine stores it


def test_tool_calls_and_results_are_bounded_in_the_log(workspace: Path) -> None:
    (workspace / "long.txt").write_text("".join(f"line {number}\n" for number in range(1, 101)))
    script = [
        Reply([ToolUse("read_file", {"path": "long.txt"}), ToolUse("grep", {"pattern": "x" * 3000})],
              stop_reason="tool_use"),
        Reply([Text("done")]),
    ]  # fmt: skip
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "Read", "model": MODEL}, server=server)
    assert run.result.status is StepStatus.SUCCESS
    results = run.texts(Stream.LLM_TOOL_RESULT)
    assert results[:40] == [f"line {number}" for number in range(1, 41)]
    assert results[40] == "… (60 more lines)"
    calls = run.texts(Stream.LLM_TOOL_CALL)
    assert len(calls[1]) == 2000 and calls[1].startswith('grep {"pattern":"xxx') and calls[1].endswith("…")
    sent = [block["content"] for block in server.requests[1].body["messages"][-1]["content"]]
    assert sent[0].count("\n") == 100  # the model gets the whole output; only the log is bounded


def test_a_structured_output_object_becomes_the_step_s_outputs(workspace: Path) -> None:
    reply = 'Reviewed.\n{"verdict": "approve", "reasons": ["tests pass"]}'
    with FakeAnthropic([Reply([Text(reply)])]) as server:
        run = run_step(workspace, {"prompt": "Review", "model": MODEL, "output_schema": VERDICT_SCHEMA}, server=server)
    assert run.result.status is StepStatus.SUCCESS
    assert run.result.extra["output"] == {"verdict": "approve", "reasons": ["tests pass"]}
    written = json.loads((workspace.parent / "review.out").read_text())
    assert written == {"verdict": "approve", "reasons": ["tests pass"]}


def test_a_failed_run_keeps_its_usage_and_says_why(workspace: Path) -> None:
    script = [Reply([ToolUse("read_file", {"path": "a.txt"})], stop_reason="tool_use") for _ in range(2)]
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "Loop", "model": MODEL, "max_turns": 2}, server=server)
    assert run.result.status is StepStatus.FAILED
    assert (
        run.result.error == "the agent did not finish within max_turns=2 turns; raise max_turns or simplify the prompt"
    )
    assert run.result.extra["llm"]["turns"] == 2 and len(run.result.extra["llm"]["calls"]) == 2
    assert not (workspace.parent / "review.out").exists()


# --- prompts ----------------------------------------------------------------------------------


def test_a_prompt_file_gives_defaults_that_the_step_overrides(workspace: Path) -> None:
    (workspace / "prompts").mkdir()
    (workspace / "prompts" / "review.md").write_text(
        "---\n"
        "name: review\n"
        "model: claude-haiku-4-5\n"
        "max_turns: 1\n"
        "tools: [list_files]\n"
        "output:\n"
        "  type: object\n"
        "  properties: {verdict: {enum: [approve, reject]}}\n"
        "  required: [verdict]\n"
        "---\n"
        "Review the change.\n"
    )
    with FakeAnthropic([Reply([Text('{"verdict": "reject"}')])]) as server:
        run = run_step(workspace, {"prompt_file": "prompts/review.md"}, server=server)
    assert run.result.status is StepStatus.SUCCESS and run.result.extra["output"] == {"verdict": "reject"}
    body = server.requests[0].body
    assert body["model"] == "claude-haiku-4-5"
    assert body["messages"] == [{"role": "user", "content": "Review the change.\n"}]
    assert [tool["name"] for tool in body["tools"]] == ["list_files"]
    assert '"verdict"' in body["system"]

    (workspace.parent / "review.out").unlink()
    step = {"prompt_file": "prompts/review.md", "model": MODEL, "tools": ["read_file", "grep"], "max_turns": 3,
            "output_schema": {"type": "string"}}  # fmt: skip
    with FakeAnthropic([Reply([Text('"fine"')])]) as server:
        run = run_step(workspace, step, server=server)
    assert run.result.status is StepStatus.SUCCESS and run.result.extra["output"] == "fine"
    body = server.requests[0].body
    assert body["model"] == MODEL and [tool["name"] for tool in body["tools"]] == ["read_file", "grep"]
    assert not (workspace.parent / "review.out").exists()  # a structured value that is not an object: no outputs


def test_inputs_are_rendered_into_the_prompt(workspace: Path) -> None:
    (workspace / "prompts").mkdir()
    (workspace / "prompts" / "greet.md").write_text("---\nname: greet\n---\nHello {{ who }}!")
    with FakeAnthropic([Reply([Text("hi")]), Reply([Text("hi")])]) as server:
        inline = run_step(workspace, {"prompt": "Check {{ file }}", "inputs": {"file": "a.txt"}, "model": MODEL},
                          server=server)  # fmt: skip
        from_file = run_step(workspace, {"prompt_file": "prompts/greet.md", "inputs": {"who": "you"}, "model": MODEL},
                             server=server)  # fmt: skip
    assert inline.result.status is StepStatus.SUCCESS and from_file.result.status is StepStatus.SUCCESS
    assert server.requests[0].body["messages"][0]["content"] == "Check a.txt"
    assert server.requests[1].body["messages"][0]["content"] == "Hello you!"


OUTSIDE = "is outside the repository; give a path inside it, relative to its root"


@pytest.mark.parametrize(
    ("prompt_file", "error"),
    [
        ("prompts/missing.md", "prompts/missing.md: no such prompt file; check the path (relative to the repository)"),
        ("../outside.md", f"prompt_file '../outside.md' {OUTSIDE}"),
        ("/etc/passwd", f"prompt_file '/etc/passwd' {OUTSIDE}"),
        ("escape.md", f"prompt_file 'escape.md' {OUTSIDE}"),
        ("prompts/bad.md", "prompts/bad.md:2: unknown frontmatter field 'modle'; did you mean 'model'?"),
    ],
)
def test_unusable_prompt_files_fail_the_step_before_any_call(
    workspace: Path, tmp_path: Path, prompt_file: str, error: str
) -> None:
    (tmp_path / "outside.md").write_text("secret prompt")
    (workspace / "escape.md").symlink_to(tmp_path / "outside.md")
    (workspace / "prompts").mkdir()
    (workspace / "prompts" / "bad.md").write_text("---\nmodle: x\n---\nbody\n")
    with FakeAnthropic([]) as server:
        run = run_step(workspace, {"prompt_file": prompt_file}, server=server)
    assert run.result.status is StepStatus.FAILED and run.result.error == error
    assert server.requests == [] and run.lines == []


def test_a_missing_api_key_fails_before_any_call_even_with_one_in_plue_s_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)  # the host's key is not the step's
    with FakeAnthropic([Reply([Text("never")])]) as server:
        run = run_step(workspace, {"prompt": "hi"}, env={"PATH": "/usr/bin:/bin", "ANTHROPIC_BASE_URL": server.url})
    assert run.result == run.result.__class__(StepStatus.FAILED, error=MISSING_KEY)
    assert MISSING_KEY.startswith("ANTHROPIC_API_KEY is not set; add it as a secret")
    assert server.requests == []


def test_an_unknown_tool_fails_the_step_with_the_tools_message(workspace: Path) -> None:
    with FakeAnthropic([]) as server:
        run = run_step(workspace, {"prompt": "hi", "tools": ["read_file", "teleport"]}, server=server)
    assert run.result.status is StepStatus.FAILED
    assert run.result.error is not None and run.result.error.startswith("unknown tool 'teleport'")
    assert server.requests == []


# --- client settings ----------------------------------------------------------------------------


def test_the_step_s_base_url_wins_and_host_client_settings_are_ignored(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "x-leaked-header: from the host")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "host-token")
    with FakeAnthropic([Reply([Text("ok")])]) as server:
        run = run_step(workspace, {"prompt": "hi", "model": MODEL}, server=server)
    assert run.result.status is StepStatus.SUCCESS
    (request,) = server.requests
    assert "x-leaked-header" not in request.headers
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_without_a_step_base_url_plue_s_environment_gives_it(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAnthropic([Reply([Text("ok")])]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        run = run_step(workspace, {"prompt": "hi", "model": MODEL}, env={"ANTHROPIC_API_KEY": API_KEY})
    assert run.result.status is StepStatus.SUCCESS and len(server.requests) == 1


def test_the_default_model_is_the_options_and_a_retiring_model_is_flagged(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("ok")])]) as server:
        run = run_step(workspace, {"prompt": "hi"}, server=server,
                       options=LlmOptions(default_model="claude-haiku-4-5", max_retries=0))  # fmt: skip
    assert run.result.status is StepStatus.SUCCESS and server.requests[0].body["model"] == "claude-haiku-4-5"
    assert LlmOptions().default_model == DEFAULT_MODEL == "claude-sonnet-4-6"
    with FakeAnthropic([Reply([Text("ok")])]) as server:
        run = run_step(workspace, {"prompt": "hi"}, server=server)
    assert server.requests[0].body["model"] == "claude-sonnet-4-6"
    assert not any("deprecated" in line for line in system_lines(run))
    with FakeAnthropic([Reply([Text("ok")])]) as server, pytest.warns(DeprecationWarning):
        run = run_step(workspace, {"prompt": "hi", "model": "claude-sonnet-4-5"}, server=server)
    assert server.requests[0].body["model"] == "claude-sonnet-4-5"
    assert any(line.startswith("warning: the model claude-sonnet-4-5 is deprecated") for line in system_lines(run))


def test_the_agent_s_tools_do_not_get_the_api_key(workspace: Path) -> None:
    script = [
        Reply([ToolUse("bash", {"command": "echo key=${ANTHROPIC_API_KEY:-none} path=${PATH:+set}"})],
              stop_reason="tool_use"),
        Reply([Text("ok")]),
    ]  # fmt: skip
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "hi", "model": MODEL, "tools": ["bash"]}, server=server)
    assert run.result.status is StepStatus.SUCCESS
    (result,) = [block for block in server.requests[1].body["messages"][-1]["content"]]
    assert "key=none path=set" in result["content"]


def test_options_refuse_recording_and_replaying_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        LlmOptions(record_dir=tmp_path, replay_dir=tmp_path)


# --- stopping -----------------------------------------------------------------------------------


def test_cancelling_mid_stream_stops_the_step_and_closes_the_stream(workspace: Path) -> None:
    cancelled = threading.Event()
    lines: list[Any] = []

    def cancel_once_the_first_line_is_in() -> None:
        wait_until(lambda: (Stream.LLM_TOKEN, "first line") in lines, "the first line to be logged")
        cancelled.set()

    script = [Reply([Text("first line\nsecond line\nnever")], hook_after=(6, cancel_once_the_first_line_is_in))]
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "hi", "model": MODEL}, server=server, cancelled=cancelled,
                       log_into=lines)  # fmt: skip
        assert server.closed_by_client.wait(10)
    assert run.result.status is StepStatus.CANCELLED and run.result.error == "cancelled"
    assert run.texts(Stream.LLM_TOKEN) == ["first line"]
    assert run.result.extra["llm"]["calls"] == []


def test_a_deadline_mid_stream_times_the_step_out(workspace: Path) -> None:
    script = [Reply([Text("thinking...\n")], hook_after=(4, lambda: None))]  # then holds the reply open
    with FakeAnthropic(script) as server:
        run = run_step(workspace, {"prompt": "hi", "model": MODEL, "timeout": 1}, server=server,
                       deadline=time.monotonic() + 1)  # fmt: skip
        assert server.closed_by_client.wait(10)
    assert run.result.status is StepStatus.TIMED_OUT and run.result.error == "timed out after 1s"


# --- end to end in the engine ---------------------------------------------------------------------


class CollectingSink:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def lines(self, step_id: str) -> list[LogLine]:
        with self._lock:
            batches = [event for event in self.events if isinstance(event, StepLogs)]
        return [line for batch in batches for line in batch.lines if line.step_id == step_id]

    def finished(self, step_id: str) -> StepFinished:
        with self._lock:
            (event,) = [event for event in self.events if isinstance(event, StepFinished) and event.step_id == step_id]
        return event


def test_a_workflow_passes_an_llm_verdict_to_a_later_step(workspace: Path) -> None:
    script = [
        Reply([ToolUse("read_file", {"path": "a.txt"})], stop_reason="tool_use"),
        Reply([Text(f"The key {API_KEY} must not show.\n" + '{"verdict": "approve", "reasons": ["small"]}')]),
    ]
    with FakeAnthropic(script) as server:
        plan = Plan(
            "review",
            steps=[
                Step.llm("review", prompt="Review a.txt", model=MODEL, output_schema=VERDICT_SCHEMA,
                         env={"ANTHROPIC_BASE_URL": server.url}),
                Step.bash("gate", "echo verdict={{ steps.review.outputs.verdict }}; echo '{{ steps.review.output }}'",
                          depends_on=["review"]),
            ],
        ).to_data()  # fmt: skip
        sink = CollectingSink()
        executors = default_executors(kill_grace=1.0, llm=LlmOptions(max_retries=0, stream_retry_delay=0.0))
        engine = Engine(plan, executors, sink, run_id="run-1", workspace=workspace,
                        secrets={"ANTHROPIC_API_KEY": API_KEY})  # fmt: skip
        status = engine.run()
    assert status is RunStatus.SUCCESS
    review = sink.finished("review")
    assert review.status is StepStatus.SUCCESS
    assert review.outputs == {"verdict": "approve", "reasons": '["small"]'}
    assert review.extra["output"] == {"verdict": "approve", "reasons": ["small"]}
    assert review.extra["llm"]["turns"] == 2
    tokens = [line.text for line in sink.lines("review") if line.stream == Stream.LLM_TOKEN]
    assert tokens[0] == "The key *** must not show."
    assert all(API_KEY not in line.text for line in sink.lines("review"))
    assert [line.text for line in sink.lines("review") if line.stream == Stream.LLM_TOOL_CALL] == [
        'read_file {"path":"a.txt"}'
    ]
    gate = [line.text for line in sink.lines("gate") if line.stream == Stream.STDOUT]
    assert gate == ["verdict=approve", '{"verdict": "approve", "reasons": ["small"]}']


def test_cancelling_while_a_tool_runs_stops_the_tool_s_processes(workspace: Path) -> None:
    cancelled = threading.Event()
    command = "sleep 300 & echo $! > sleep.pid; wait"
    script = [Reply([ToolUse("bash", {"command": command})], stop_reason="tool_use"), Reply([Text("never")])]
    pid_file = workspace / "sleep.pid"

    def cancel_once_the_tool_runs() -> None:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "the tool to start")
        cancelled.set()

    with FakeAnthropic(script) as server, in_background(cancel_once_the_tool_runs, cancelled.set):
        run = run_step(workspace, {"prompt": "hi", "model": MODEL, "tools": ["bash"]}, server=server,
                       cancelled=cancelled)  # fmt: skip
    assert run.result.status is StepStatus.CANCELLED
    pid = int(pid_file.read_text())
    wait_until(lambda: process_gone(pid), f"the tool's process {pid} to be gone")
    assert len(server.requests) == 1
