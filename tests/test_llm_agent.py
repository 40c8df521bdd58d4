"""The agent loop (`plue.llm.agent`) with the real SDK against the fake Anthropic server and the real toolbox.

Each test scripts the "model" (the server's replies) and asserts what the loop
reported and what the SDK sent back: tool results, corrections, retries.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from anthropic_server import API_KEY, FakeAnthropic, HttpError, Reply, Text, ToolUse
from llm_support import MODEL, RecordingListener, agent_request, run_agent_now
from process_support import wait_until

from plue.llm.agent import run_agent
from plue.llm.lines import TextLines
from plue.llm.pricing import estimate_cost
from plue.llm.structured import check_reply, extract_json
from plue.llm.usage import UsageTotals

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"enum": ["approve", "reject"]}, "score": {"type": "integer", "minimum": 0}},
    "required": ["verdict", "score"],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    (path / "a.txt").write_text("alpha\n")
    (path / "b.txt").write_text("beta\n")
    return path


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the last user message of a request."""
    last = body["messages"][-1]
    assert last["role"] == "user"
    return [block for block in last["content"] if block["type"] == "tool_result"]


# --- plain replies ---------------------------------------------------------------------------


def test_a_plain_reply_is_reported_line_by_line_and_is_the_result(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("Hello there,\nthis line is longer than a delta\nbye")])]) as server:
        result, listener = run_agent_now(server, workspace, prompt="Say hello", system="Be brief.")
    assert result.ok and result.error is None
    assert result.text == "Hello there,\nthis line is longer than a delta\nbye"
    assert result.output is None and result.turns == 1 and result.stop_reason == "end_turn"
    assert listener.texts() == ["Hello there,", "this line is longer than a delta", "bye"]
    assert listener.events[0] == ("turn", 1, MODEL)
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["anthropic-version"]
    body = request.body
    assert body["model"] == MODEL and body["max_tokens"] == 8192 and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert body["system"] == "Be brief."
    assert body["cache_control"] == {"type": "ephemeral"}
    assert [tool["name"] for tool in body["tools"]] == ["read_file", "list_files", "grep", "git"]
    assert server.problems == []


def test_no_tools_means_no_tool_definitions_are_sent(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("ok")])]) as server:
        result, _ = run_agent_now(server, workspace, tools=[], cache=False)
    assert result.ok
    assert "tools" not in server.requests[0].body and "cache_control" not in server.requests[0].body


# --- tools --------------------------------------------------------------------------------------


def test_parallel_tool_calls_run_in_order_and_go_back_in_one_message_with_errors_marked(workspace: Path) -> None:
    script = [
        Reply(
            [
                Text("Reading both files.\n"),
                ToolUse("read_file", {"path": "a.txt"}, id="toolu_a"),
                ToolUse("read_file", {"path": "b.txt"}, id="toolu_b"),
                ToolUse("read_file", {"path": "missing.txt"}, id="toolu_missing"),
                ToolUse("no_such_tool", {"x": 1}, id="toolu_unknown"),
            ],
            stop_reason="tool_use",
        ),
        Reply([ToolUse("list_files", {"pattern": "*.txt"}, id="toolu_list")], stop_reason="tool_use"),
        Reply([Text("Both files read.")]),
    ]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace)
    assert result.ok and result.turns == 3 and result.text == "Both files read."
    assert len(server.requests) == 3

    second = server.requests[1].body
    assert [message["role"] for message in second["messages"]] == ["user", "assistant", "user"]
    assistant = second["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Reading both files.\n"}
    assert assistant[1] == {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {"path": "a.txt"}}
    results = tool_results(second)
    assert [block["tool_use_id"] for block in results] == ["toolu_a", "toolu_b", "toolu_missing", "toolu_unknown"]
    assert results[0]["content"] == "alpha\n" and "is_error" not in results[0]
    assert results[1]["content"] == "beta\n" and "is_error" not in results[1]
    assert results[2]["is_error"] is True and "missing.txt" in results[2]["content"]
    assert results[3]["is_error"] is True and "unknown tool" in results[3]["content"]

    third = server.requests[2].body
    assert len(third["messages"]) == 5  # nothing sent twice
    (listed,) = tool_results(third)
    assert listed["tool_use_id"] == "toolu_list" and listed["content"].split() == ["a.txt", "b.txt"]
    calls = [(event[1], event[3]) for event in listener.of("tool_call")]
    assert calls == [(1, "read_file"), (1, "read_file"), (1, "read_file"), (1, "no_such_tool"), (2, "list_files")]
    errors = [event[4] for event in listener.of("tool_result")]
    assert errors == [False, False, True, True, False]


def test_paths_leading_out_of_the_workspace_are_refused_and_the_run_goes_on(workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me\n")
    (workspace / "link.txt").symlink_to(secret)
    (workspace / "outside").symlink_to(tmp_path)
    attempts = ["../../etc/passwd", "/etc/passwd", "link.txt", "outside/secret.txt", "../secret.txt"]
    script = [
        Reply([ToolUse("read_file", {"path": path}) for path in attempts], stop_reason="tool_use"),
        Reply([Text("I could not read those.")]),
    ]
    with FakeAnthropic(script) as server:
        result, _ = run_agent_now(server, workspace)
    assert result.ok and result.text == "I could not read those."
    results = tool_results(server.requests[1].body)
    assert len(results) == len(attempts)
    for block in results:
        assert block["is_error"] is True
        assert "do not read me" not in block["content"] and "root:" not in block["content"]


def test_a_tool_use_at_max_turns_fails_without_running_the_tools(workspace: Path) -> None:
    script = [Reply([ToolUse("read_file", {"path": "a.txt"})], stop_reason="tool_use") for _ in range(2)]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace, max_turns=2)
    assert not result.ok and result.turns == 2
    assert result.error == "the agent did not finish within max_turns=2 turns; raise max_turns or simplify the prompt"
    assert len(server.requests) == 2
    assert len(listener.of("tool_call")) == 1  # the first turn's; the last turn's tools did not run


# --- stops ------------------------------------------------------------------------------------


def test_max_tokens_and_refusal_stop_the_run_as_failures(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("It was the best of")], stop_reason="max_tokens")]) as server:
        result, _ = run_agent_now(server, workspace, max_tokens=100)
    assert not result.ok and result.stop_reason == "max_tokens"
    assert result.error is not None and result.error.startswith("the reply was cut off at max_tokens=100")
    assert server.requests[0].body["max_tokens"] == 100

    with FakeAnthropic([Reply([Text("I can't help with that.")], stop_reason="refusal")]) as server:
        result, _ = run_agent_now(server, workspace)
    assert not result.ok and result.stop_reason == "refusal" and result.text == "I can't help with that."
    assert result.error is not None and "refused" in result.error


def test_a_paused_turn_is_sent_back_to_continue(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("Working")], stop_reason="pause_turn"), Reply([Text("Done")])]) as server:
        result, _ = run_agent_now(server, workspace)
    assert result.ok and result.text == "Done" and result.turns == 2
    assert server.requests[1].body["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "Working"}]}
    ]


# --- structured output ----------------------------------------------------------------------


def test_a_valid_structured_output_is_the_result(workspace: Path) -> None:
    reply = 'Looks good.\n```json\n{"verdict": "approve", "score": 9}\n```'
    with FakeAnthropic([Reply([Text(reply)])]) as server:
        result, _ = run_agent_now(server, workspace, output_schema=VERDICT_SCHEMA, system="Review.")
    assert result.ok and result.output == {"verdict": "approve", "score": 9} and result.text == reply
    system = server.requests[0].body["system"]
    assert system.startswith("Review.\n\n") and '"verdict"' in system and "JSON Schema" in system


def test_an_invalid_structured_output_is_corrected_with_every_violation_listed(workspace: Path) -> None:
    script = [
        Reply([Text('{"verdict": "maybe", "score": -1}')]),
        Reply([Text('Fixed: {"verdict": "reject", "score": 2}')]),
    ]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace, output_schema=VERDICT_SCHEMA)
    assert result.ok and result.output == {"verdict": "reject", "score": 2} and result.turns == 2
    messages = server.requests[1].body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": '{"verdict": "maybe", "score": -1}'}],
    }
    correction = messages[2]["content"]
    assert "$.score: -1 is less than the minimum of 0" in correction
    assert "$.verdict: 'maybe' is not one of ['approve', 'reject']" in correction
    assert any("does not match the output schema (2 problem(s))" in notice for notice in listener.notices())


def test_a_structured_output_still_invalid_after_two_corrections_fails_with_the_violations(workspace: Path) -> None:
    script = [Reply([Text("no json here")]), Reply([Text('{"verdict": "approve"}')]), Reply([Text("[1, 2]")])]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace, output_schema=VERDICT_SCHEMA)
    assert not result.ok and result.output is None and len(server.requests) == 3
    assert result.error is not None
    assert "does not match the output schema ($: [1, 2] is not of type 'object')" in result.error
    assert "after 2 correction(s)" in result.error
    assert len([notice for notice in listener.notices() if "asking for a corrected one" in notice]) == 2
    assert "no JSON value found" in server.requests[1].body["messages"][-1]["content"]


def test_an_invalid_output_schema_fails_before_any_call(workspace: Path) -> None:
    with FakeAnthropic([]) as server:
        result, _ = run_agent_now(server, workspace, output_schema={"type": "nonsense"})
    assert not result.ok and result.error is not None
    assert result.error.startswith("the output schema is not a valid JSON Schema at $.type")
    assert server.requests == []


def test_json_is_found_in_the_whole_text_a_fenced_block_or_the_last_balanced_value() -> None:
    assert extract_json(' {"a": 1} ') == {"a": 1}
    assert extract_json('Here:\n```json\n{"a": 2}\n```\nthanks') == {"a": 2}
    assert extract_json('First {"a": 3} then {"b": {"c": [4]}} done') == {"b": {"c": [4]}}
    assert extract_json("a list [1, 2] and a broken { brace") == [1, 2]
    assert check_reply("nothing", {"type": "object"}).violations[0].startswith("(reply): no JSON value found")


# --- retries ------------------------------------------------------------------------------------


def test_rate_limits_and_overloads_are_retried_by_the_sdk(workspace: Path) -> None:
    script = [
        HttpError(429, "rate_limit_error", "Number of requests has exceeded your rate limit", retry_after="0"),
        HttpError(529, "overloaded_error", "Overloaded", retry_after="0"),
        Reply([Text("finally")]),
    ]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace, max_retries=2)
    assert result.ok and result.text == "finally"
    assert [request.headers["x-stainless-retry-count"] for request in server.requests] == ["0", "1", "2"]
    assert listener.notices() == [
        "the API answered HTTP 429 (rate limited); retrying (retry 1 of 2)",
        "the API answered HTTP 529 (overloaded); retrying (retry 2 of 2)",
    ]
    assert len(result.calls) == 1 and result.calls[0].request_id == "req_fake_3"


def test_a_long_retry_after_is_capped(workspace: Path) -> None:
    script = [HttpError(529, "overloaded_error", retry_after="3600"), Reply([Text("ok")])]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace, max_retries=1, max_retry_wait=0.2)
    assert result.ok and len(server.requests) == 2
    assert listener.notices() == ["the API answered HTTP 529 (overloaded); retrying in 0.2 s (retry 1 of 1)"]


def test_retries_that_run_out_fail_clearly(workspace: Path) -> None:
    script = [HttpError(529, "overloaded_error", "Overloaded"), HttpError(529, "overloaded_error", "Overloaded")]
    with FakeAnthropic(script) as server:
        result, _ = run_agent_now(server, workspace, max_retries=1)
    assert not result.ok and len(server.requests) == 2
    assert result.error == (
        "the API kept failing (HTTP 529 overloaded_error: Overloaded) after 1 retries; try again later"
    )


def test_a_wrong_api_key_is_not_retried_and_says_what_to_check(workspace: Path) -> None:
    with FakeAnthropic([Reply([Text("never")])]) as server:
        result, _ = run_agent_now(server, workspace, api_key="sk-wrong")
    assert not result.ok and len(server.requests) == 1
    assert result.error == (
        "the API refused the API key (HTTP 401 authentication_error: invalid x-api-key);"
        " check the ANTHROPIC_API_KEY secret"
    )


def test_an_unreachable_api_fails_clearly(workspace: Path) -> None:
    with FakeAnthropic([]) as server:
        url = server.url
    with FakeAnthropic([]) as other:  # the first server is stopped: nothing listens at its address
        result, _ = run_agent_now(other, workspace, base_url=url, max_retries=0)
    assert not result.ok and result.error is not None
    assert result.error.startswith(f"could not reach the API at {url} (ConnectError")
    assert result.error.endswith("after 0 retries; check the network and ANTHROPIC_BASE_URL")
    assert other.requests == []


def test_a_stream_that_drops_mid_reply_is_retried_without_repeating_lines(workspace: Path) -> None:
    text = "line one\nline two\nline three\nline four"
    script = [Reply([Text(text)], disconnect_after=7), Reply([Text(text)])]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace)
    assert result.ok and result.text == text and len(server.requests) == 2
    assert listener.texts() == ["line one", "line two", "line three", "line four"]
    (notice,) = listener.notices()
    assert notice.startswith("the connection dropped mid-reply (RemoteProtocolError")
    assert notice.endswith("retrying the call in 0.0 s (1 of 3)")
    assert server.requests[0].body == server.requests[1].body
    assert len(result.calls) == 1  # only the complete reply is a call with usage


def test_a_retried_reply_that_diverges_says_so_and_continues_with_its_own_lines(workspace: Path) -> None:
    script = [Reply([Text("same\nfirst take\nlost")], disconnect_after=6), Reply([Text("same\nsecond take\nend")])]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace)
    assert result.ok and result.text == "same\nsecond take\nend"
    assert listener.texts() == ["same", "first take", "second take", "end"]
    assert "the retried reply differs from the interrupted one after 1 line(s)" in listener.notices()[1]


def test_an_overloaded_error_event_mid_stream_is_retried(workspace: Path) -> None:
    script = [Reply([Text("partial\nreply")], error_after=4), Reply([Text("partial\nreply")])]
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace)
    assert result.ok and listener.texts() == ["partial", "reply"]
    assert listener.notices()[0].startswith("the API sent an error mid-reply (mid-stream overloaded_error: Overloaded)")


def test_a_stream_that_keeps_dropping_fails_after_the_retries(workspace: Path) -> None:
    script = [Reply([Text("again and again")], disconnect_after=4) for _ in range(2)]
    with FakeAnthropic(script) as server:
        result, _ = run_agent_now(server, workspace, stream_retries=1)
    assert not result.ok and len(server.requests) == 2
    assert result.error is not None and result.error.startswith("the connection dropped mid-reply (")
    assert result.error.endswith("and 1 retries did not help; try again later")


# --- usage ------------------------------------------------------------------------------------


def test_usage_is_recorded_per_call_and_totalled(workspace: Path) -> None:
    script = [
        Reply([ToolUse("read_file", {"path": "a.txt"})], stop_reason="tool_use", input_tokens=1200, output_tokens=40,
              cache_write_tokens=1000),
        Reply([Text("done")], input_tokens=30, output_tokens=7, cache_read_tokens=1000),
    ]  # fmt: skip
    with FakeAnthropic(script) as server:
        result, listener = run_agent_now(server, workspace)
    assert result.ok
    first, second = result.calls
    assert (first.turn, first.model, first.input_tokens, first.output_tokens) == (1, MODEL, 1200, 40)
    assert (first.cache_read_tokens, first.cache_write_tokens, first.stop_reason) == (0, 1000, "tool_use")
    assert (second.turn, second.cache_read_tokens, second.stop_reason) == (2, 1000, "end_turn")
    assert first.request_id == "req_fake_1" and second.request_id == "req_fake_2"
    assert first.latency_ms >= 0 and first.at <= second.at
    assert first.cost_usd == pytest.approx((1200 * 3 + 1000 * 3 * 1.25 + 40 * 15) / 1_000_000)
    assert second.cost_usd == pytest.approx((30 * 3 + 1000 * 3 * 0.1 + 7 * 15) / 1_000_000)
    assert result.usage == UsageTotals(1230, 47, 1000, 1000, round(first.cost_usd + second.cost_usd, 6))
    assert [event[1] for event in listener.of("call")] == [first, second]


def test_prices_are_estimates_by_model_family_and_unknown_models_cost_nothing() -> None:
    assert estimate_cost("claude-opus-4-5-20251101", input_tokens=1_000_000, output_tokens=0) == 5.0
    assert estimate_cost("claude-haiku-4-5", input_tokens=0, output_tokens=1_000_000) == 5.0
    assert estimate_cost("claude-sonnet-4-5", input_tokens=0, output_tokens=0, cache_read_tokens=1_000_000) == 0.3
    assert estimate_cost("some-other-model", input_tokens=10**6, output_tokens=10**6) == 0.0


# --- cancellation --------------------------------------------------------------------------------


def test_cancelling_the_agent_mid_stream_closes_the_stream(workspace: Path) -> None:
    listener = RecordingListener()
    handle: dict[str, Any] = {}

    def cancel_once_the_first_line_is_in() -> None:
        wait_until(lambda: listener.texts() == ["first line"], "the first line to be reported")
        handle["loop"].call_soon_threadsafe(handle["task"].cancel)

    script = [Reply([Text("first line\nsecond line\nnever sent")], hook_after=(6, cancel_once_the_first_line_is_in))]
    with FakeAnthropic(script) as server:
        request = agent_request(server, workspace, listener)

        async def main() -> None:
            handle["loop"] = asyncio.get_running_loop()
            handle["task"] = asyncio.create_task(run_agent(request, listener))
            try:
                await handle["task"]
            finally:
                await request.client.close()

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(main())
        assert server.closed_by_client.wait(10)
    assert listener.texts() == ["first line"]
    assert listener.of("call") == []


# --- lines ----------------------------------------------------------------------------------------


def test_text_is_coalesced_into_lines_across_deltas_and_long_lines_are_cut() -> None:
    lines: list[str] = []
    splitter = TextLines(lines.append, max_line_chars=5)
    for piece in ["ab", "c\r\nde", "fghij", "kl\n", "", "tail"]:
        splitter.feed(piece)
    assert lines == ["abc", "defgh", "ijkl"]
    splitter.flush()
    splitter.flush()
    assert lines == ["abc", "defgh", "ijkl", "tail"]
