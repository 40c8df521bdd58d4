"""LLM agents: the anthropic client, the agent loop, workspace-confined tools, usage (floor 3: imports `prompts`)."""
