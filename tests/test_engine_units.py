"""The engine's pure pieces: templating, outputs, masking, backoff, the `when` gate, the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plue import Plan, Step
from plue.engine.dag import build_nodes, skip_reason
from plue.engine.environment import INHERITED_NAMES, inherited_env, plue_variables, step_env
from plue.engine.events import StepStatus
from plue.engine.masking import MASK, Masker
from plue.engine.outputs import MAX_OUTPUT_FILE_BYTES, parse_outputs, read_outputs
from plue.engine.retry import MAX_BACKOFF_SECONDS, backoff_delay
from plue.engine.templating import Renderer, StepValues, parse_reference
from plue.validation import validate_plan

# --- templating ------------------------------------------------------------------------

VALUES = {
    "a": StepValues({"version": "1.2", "multi-word_x": "mw"}, 0),
    "llm": StepValues({}, None, {"text": "final answer", "output": {"risk": "low", "n": 2}}),
}


def render(text: str) -> tuple[str, list[str]]:
    renderer = Renderer(VALUES)
    return renderer.render(text), renderer.warnings


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("v{{ steps.a.outputs.version }}", "v1.2"),
        ("{{steps.a.outputs.version}}", "1.2"),
        ("{{ \tsteps.a.outputs.version\t }}", "1.2"),
        ("{{ steps.a.outputs.multi-word_x }}", "mw"),
        ("code {{ steps.a.exit_code }}", "code 0"),
        ("{{ steps.llm.text }}", "final answer"),
        ("{{ steps.llm.output }}", '{"risk": "low", "n": 2}'),
        ("{{ steps.a.outputs.version }}/{{ steps.a.outputs.version }}", "1.2/1.2"),
        # Not references: left alone.
        ("{{ inputs.x }}", "{{ inputs.x }}"),
        ("{{ steps }}", "{{ steps }}"),
        ("{{ stepsx.a.exit_code }}", "{{ stepsx.a.exit_code }}"),
        ("d = {{'a': 1}}", "d = {{'a': 1}}"),
        ("{{{ steps.a.exit_code }}}", "{0}"),
        ("no template", "no template"),
    ],
)
def test_render(template: str, rendered: str) -> None:
    assert render(template) == (rendered, [])


def test_missing_values_render_empty_with_one_warning_each() -> None:
    text, warnings = render(
        "[{{ steps.a.outputs.nope }}][{{ steps.a.outputs.nope }}][{{ steps.gone.exit_code }}]"
        "[{{ steps.llm.exit_code }}][{{ steps.a.text }}]"
    )
    assert text == "[][][][][]"
    assert warnings == [
        "{{ steps.a.outputs.nope }} rendered as an empty string: step 'a' has no output 'nope'",
        "{{ steps.gone.exit_code }} rendered as an empty string: step 'gone' did not run",
        "{{ steps.llm.exit_code }} rendered as an empty string: step 'llm' has no exit code",
        "{{ steps.a.text }} rendered as an empty string: step 'a' has no text",
    ]


@pytest.mark.parametrize(
    "template",
    [
        "{{ steps.up.outputs.x }}",
        "{{steps.up.exit_code}}",
        "{{ steps.up.outputs.A_b-1 }}",
        "{{\tsteps.up.outputs.x }}",
        "{{ steps.up.outputs }}",
        "{{ steps.up.foo }}",
        "{{ steps.up.outputs.1x }}",
        "{{ steps.up.outputs.x.y }}",
        "{{ steps..exit_code }}",
        "{{ steps }}",
        "{{ steps.up }}",
        "{{ inputs.x }}",
        "{{ steps.up.exit_code }} and {{ steps.up.outputs.bad name }}",
    ],
)
def test_the_renderer_reads_exactly_the_grammar_validation_accepts(template: str) -> None:
    """Validation accepts a plan iff every ``steps.`` template in it renders (the grammars agree)."""
    plan = Plan("p", steps=[Step.bash("up", "true"), Step.bash("use", f"echo {template}", depends_on=["up"])])
    accepted = validate_plan(plan.to_data()) == []
    renderer = Renderer({"up": StepValues({"x": "X", "A_b-1": "Y"}, 0)})
    rendered = renderer.render(template)
    references_left = [part for part in rendered.split("{{")[1:] if part.strip().startswith("steps.")]
    assert accepted == (not references_left), (template, accepted, rendered)


def test_parse_reference() -> None:
    assert parse_reference("steps.a.outputs.x") == ("a", "outputs", "x")
    assert parse_reference("steps.a.exit_code") == ("a", "exit_code", None)
    assert parse_reference("steps.a.outputs") is None
    assert parse_reference("inputs.a") is None


def test_render_step_renders_the_templated_fields_only() -> None:
    step = {
        "id": "s",
        "type": "llm",
        "name": "{{ steps.a.outputs.version }}",
        "prompt": "p {{ steps.a.outputs.version }}",
        "prompt_file": None,
        "inputs": {"k {{ steps.a.exit_code }}": ["{{ steps.a.exit_code }}", 1, None, {"x": "{{ steps.llm.text }}"}]},
        "env": {"V": "{{ steps.a.outputs.version }}"},
    }
    rendered, env = Renderer(VALUES).render_step(step, {"PLAN": "p", "V": "plan"})
    assert rendered["name"] == "{{ steps.a.outputs.version }}"
    assert rendered["prompt"] == "p 1.2"
    assert rendered["inputs"] == {"k {{ steps.a.exit_code }}": ["0", 1, None, {"x": "final answer"}]}
    assert rendered["env"] == {"V": "1.2"}
    assert env == {"PLAN": "p", "V": "1.2"}
    assert step["prompt"] == "p {{ steps.a.outputs.version }}"  # the plan's data is not changed


# --- outputs ---------------------------------------------------------------------------


def test_key_value_lines() -> None:
    parsed = parse_outputs("a=1\nb=x=y\nempty=\n\n  \nc= spaced \r\na=2\n")
    assert parsed.outputs == {"a": "2", "b": "x=y", "empty": "", "c": " spaced "}
    assert parsed.warnings == []


def test_heredoc_values() -> None:
    text = "notes<<EOF\nfirst\n\nthird=3\nEOF\nafter=1\nweird<<=D=\nv\n=D=\nsingle<<X\nX\n"
    parsed = parse_outputs(text)
    assert parsed.outputs == {"notes": "first\n\nthird=3", "after": "1", "weird": "v", "single": ""}
    assert parsed.warnings == []


def test_an_unclosed_heredoc_is_a_warning() -> None:
    parsed = parse_outputs("a=1\nnotes<<EOF\nnever closed\n")
    assert parsed.outputs == {"a": "1"}
    assert parsed.warnings == ["$PLUE_OUTPUT line 2: the delimiter of 'notes' is never closed; the output is ignored"]


def test_json_object() -> None:
    value = {"s": "text", "n": 1, "f": 1.5, "b": False, "none": None, "list": [1, "é"], "obj": {"k": "v"}}
    parsed = parse_outputs(json.dumps(value))
    assert parsed.outputs == {
        "s": "text",
        "n": "1",
        "f": "1.5",
        "b": "false",
        "none": "null",
        "list": '[1, "é"]',
        "obj": '{"k": "v"}',
    }
    bad_key = parse_outputs('{"bad key": 1, "ok": 2}')
    assert bad_key.outputs == {"ok": "2"}
    assert bad_key.warnings[0].startswith("$PLUE_OUTPUT: output name 'bad key' is not valid")


def test_bad_lines_are_warnings_naming_the_line_only() -> None:
    parsed = parse_outputs('ok=1\nsecret-looking garbage\n=novalue\n{"not": json\n1bad=2\n<<EOF\n')
    assert parsed.outputs == {"ok": "1"}
    assert [warning.split(" is ")[0].split(":")[0] for warning in parsed.warnings] == [
        "$PLUE_OUTPUT line 2",
        "$PLUE_OUTPUT line 3",
        "$PLUE_OUTPUT line 4",
        "$PLUE_OUTPUT line 5",
        "$PLUE_OUTPUT line 6",
    ]
    assert all("garbage" not in warning for warning in parsed.warnings)


def test_read_outputs_handles_missing_huge_and_binary_files(tmp_path: Path) -> None:
    assert read_outputs(tmp_path / "missing").outputs == {}
    huge = tmp_path / "huge"
    huge.write_bytes(b"a=1\n" + b"b=" + b"x" * MAX_OUTPUT_FILE_BYTES + b"\nc=3\n")
    parsed = read_outputs(huge)
    assert parsed.outputs["a"] == "1" and "c" not in parsed.outputs
    assert parsed.warnings[0].startswith("$PLUE_OUTPUT is larger than")
    binary = tmp_path / "binary"
    binary.write_bytes(b"k=\xff\xfe\n")
    assert read_outputs(binary).outputs == {"k": "\ufffd\ufffd"}


# --- masking -------------------------------------------------------------------------------


def test_masking() -> None:
    multi_line = "line-one\nline-two\r\n  indented  \n"
    masker = Masker(["hunter22", "hunter2", "ab", "", "  x  ", multi_line])
    assert masker("pw hunter22 and hunter2, ab") == f"pw {MASK} and {MASK}, ab"
    assert masker("line-one") == MASK and masker("  indented  ") == f"{MASK}"
    assert masker("xx indented yy") == f"xx {MASK} yy"
    assert masker("line-one\nline-two") == f"{MASK}\n{MASK}"  # line by line
    assert masker(f"[{multi_line}]") == f"[{MASK}]"  # the whole value (an error or output holding it)
    assert masker.mask_data({"k hunter2": ["hunter2", 1, None, {"n": "line-two"}]}) == {
        f"k {MASK}": [MASK, 1, None, {"n": MASK}]
    }


def test_no_secrets_no_work() -> None:
    masker = Masker([])
    assert not masker
    data: dict[str, Any] = {"a": ["b"]}
    assert masker("text") == "text" and masker.mask_data(data) is data


def test_regex_characters_in_secrets_are_literal() -> None:
    assert Masker(["a.b*c(d"])("xa.b*c(dx aXbbc(d") == f"x{MASK}x aXbbc(d"


# --- retry backoff --------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_is_reproducible() -> None:
    for retry in range(1, 8):
        delay = backoff_delay("run", "step", retry, 2)
        nominal = 2 * 2 ** (retry - 1)
        assert 0.5 * nominal <= delay < 1.5 * nominal
        assert delay == backoff_delay("run", "step", retry, 2)
    assert backoff_delay("run", "step", 1, 10) != backoff_delay("other-run", "step", 1, 10)
    assert backoff_delay("run", "step", 100, 10) < 1.5 * MAX_BACKOFF_SECONDS
    assert 0.5 * 7200 <= backoff_delay("run", "step", 5, 7200) < 1.5 * 7200  # a backoff above the cap is kept


# --- the when gate ----------------------------------------------------------------------------


def gate(when: str, *statuses: StepStatus) -> str | None:
    deps = [Step.bash(f"d{i}", "true") for i in range(len(statuses))]
    step = Step.bash("s", "true", depends_on=[d.id for d in deps], when=when)
    nodes = build_nodes(Plan("p", steps=[*deps, step]).to_data()["steps"])
    for node, status in zip(nodes, statuses, strict=False):
        node.status = status
    return skip_reason(nodes[-1], nodes)


def test_the_when_gate() -> None:
    ok, failed, skipped = StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.SKIPPED
    assert gate("on_success", ok, ok) is None
    assert gate("on_success", ok, failed) == "dependency 'd1' failed"
    assert gate("on_success", skipped, failed) == "dependency 'd0' was skipped"
    assert gate("on_success", StepStatus.TIMED_OUT) == "dependency 'd0' timed out"
    assert gate("on_success", StepStatus.CANCELLED) == "dependency 'd0' was cancelled"
    assert gate("always", failed, skipped) is None
    assert gate("on_failure", ok, ok) == "no dependency failed"
    assert gate("on_failure", ok, skipped) is None
    assert gate("on_failure") == "no dependency failed"
    assert gate("always") is None and gate("on_success") is None


# --- environment -------------------------------------------------------------------------------


def test_the_inherited_environment_is_a_small_set() -> None:
    host = {name: f"v-{name}" for name in INHERITED_NAMES} | {"AWS_SECRET_ACCESS_KEY": "x", "PYTHONPATH": "y"}
    assert inherited_env(host) == {name: f"v-{name}" for name in INHERITED_NAMES}
    assert inherited_env({})["PATH"]  # always a PATH


def test_environment_layers() -> None:
    variables = plue_variables("r", "s", 2, Path("/ws"), Path("/out/s.2.out"))
    env = step_env({"PATH": "/bin", "A": "base", "CI": "no"}, {"A": "step", "B": "b"}, {"B": "secret"}, variables)
    assert env == {
        "PATH": "/bin",
        "A": "step",
        "B": "secret",
        "CI": "true",
        "PLUE_RUN_ID": "r",
        "PLUE_STEP_ID": "s",
        "PLUE_ATTEMPT": "2",
        "PLUE_WORKSPACE": "/ws",
        "PLUE_OUTPUT": "/out/s.2.out",
    }
