"""LLM agents: the anthropic client, the agent loop, workspace-confined tools, usage (floor 3: imports `prompts`).

Modules: ``client`` (an `AsyncAnthropic` with explicit settings and capped
retry waits), ``agent`` (the loop: `run_agent`), ``listener`` (what the loop
reports), ``lines`` (streamed text to lines), ``structured`` (JSON output
checked against a schema), ``usage`` and ``pricing`` (tokens and estimated
cost), ``recording`` (record/replay of API exchanges), ``tools`` (the tools an
agent may use on the workspace).

This package imports nothing by itself: the anthropic SDK takes about two
seconds to import, so only the modules that talk to the API import it, and
only when an llm step runs (`plue.llm.tools`, e.g. for linting, stays cheap).
"""
