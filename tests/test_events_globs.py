"""GitHub filter patterns: the documented cheat sheet, evaluation order, and mistakes."""

from __future__ import annotations

import pytest

from plue.events import EventError, compile_filter, compile_pattern


def passes(patterns: list[str], name: str) -> bool:
    return compile_filter(patterns, "test").decide(name).included


# "Patterns to match branches and tags" — every example match from GitHub's cheat sheet.
BRANCH_AND_TAG_CHEAT_SHEET = [
    ("feature/*", "feature/my-branch"),
    ("feature/*", "feature/your-branch"),
    ("feature/**", "feature/beta-a/my-branch"),
    ("feature/**", "feature/your-branch"),
    ("feature/**", "feature/mona/the/octocat"),
    ("main", "main"),
    ("releases/mona-the-octocat", "releases/mona-the-octocat"),
    ("*", "main"),
    ("*", "releases"),
    ("**", "all/the/branches"),
    ("**", "every/tag"),
    ("*feature", "mona-feature"),
    ("*feature", "feature"),
    ("*feature", "ver-10-feature"),
    ("v2*", "v2"),
    ("v2*", "v2.0"),
    ("v2*", "v2.9"),
    ("v[12].[0-9]+.[0-9]+", "v1.10.1"),
    ("v[12].[0-9]+.[0-9]+", "v2.0.0"),
]

# "Patterns to match file paths" — every example match from GitHub's cheat sheet.
PATH_CHEAT_SHEET = [
    ("*", "README.md"),
    ("*", "server.rb"),
    ("*.jsx?", "page.js"),
    ("*.jsx?", "page.jsx"),
    ("**", "all/the/files.md"),
    ("*.js", "app.js"),
    ("*.js", "index.js"),
    ("**.js", "index.js"),
    ("**.js", "js/index.js"),
    ("**.js", "src/js/app.js"),
    ("docs/*", "docs/README.md"),
    ("docs/*", "docs/file.txt"),
    ("docs/**", "docs/README.md"),
    ("docs/**", "docs/mona/octocat.txt"),
    ("docs/**/*.md", "docs/README.md"),
    ("docs/**/*.md", "docs/mona/hello-world.md"),
    ("docs/**/*.md", "docs/a/markdown/file.md"),
    ("**/docs/**", "docs/hello.md"),
    ("**/docs/**", "dir/docs/my-file.txt"),
    ("**/docs/**", "space/docs/plan/space.doc"),
    ("**/README.md", "README.md"),
    ("**/README.md", "js/README.md"),
    ("**/*src/**", "a/src/app.js"),
    ("**/*src/**", "my-src/code/js/app.js"),
    ("**/*-post.md", "my-post.md"),
    ("**/*-post.md", "path/their-post.md"),
    ("**/migrate-*.sql", "migrate-10909.sql"),
    ("**/migrate-*.sql", "db/migrate-v1.0.sql"),
    ("**/migrate-*.sql", "db/sept/migrate-v1.sql"),
]


@pytest.mark.parametrize(("pattern", "name"), BRANCH_AND_TAG_CHEAT_SHEET + PATH_CHEAT_SHEET)
def test_cheat_sheet_examples_match(pattern: str, name: str) -> None:
    assert compile_pattern(pattern).matches(name)


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("feature/*", "feature/beta-a/my-branch"),  # '*' stops at '/'
        ("*", "releases/v1"),
        ("*.js", "js/index.js"),  # root only
        ("docs/*", "docs/mona/octocat.txt"),
        ("*.jsx?", "page.jsxx"),  # '?' is zero or one
        ("*.jsx?", "page.j"),
        ("v[12].[0-9]+.[0-9]+", "v3.0.0"),
        ("v[12].[0-9]+.[0-9]+", "v1..1"),  # '+' is one or more
        ("v2*", "av2"),  # patterns match the whole name
        ("main", "main2"),
        ("main", "Main"),  # case-sensitive
        ("**/README.md", "README.mdx"),
        ("**/migrate-*.sql", "db/migrate-1.sql.bak"),
        ("docs/**", "docs"),  # '**' after '/' needs the '/' itself
        ("[CB]at", "Hat"),
        ("[1-2]00", "300"),
        (".yml", "fyml"),  # '.' is literal
    ],
)
def test_patterns_that_must_not_match(pattern: str, name: str) -> None:
    assert not compile_pattern(pattern).matches(name)


@pytest.mark.parametrize(("name", "expected"), [("Cat", True), ("Bat", True), ("cat", False)])
def test_character_class_from_the_docs(name: str, expected: bool) -> None:
    assert compile_pattern("[CB]at").matches(name) is expected


@pytest.mark.parametrize(("name", "expected"), [("100", True), ("200", True), ("000", False)])
def test_character_range_from_the_docs(name: str, expected: bool) -> None:
    assert compile_pattern("[1-2]00").matches(name) is expected


def test_quantifiers_apply_to_a_character_class() -> None:
    pattern = compile_pattern("v[0-9]+")
    assert pattern.matches("v2024")
    assert not pattern.matches("v")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("hello.md", True), ("README.md", False), ("docs/hello.md", False)],
)
def test_negation_excludes_later(name: str, expected: bool) -> None:
    # Cheat sheet: '*.md', '!README.md' matches hello.md, not README.md or docs/hello.md.
    assert passes(["*.md", "!README.md"], name) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("hello.md", True), ("README.md", True), ("README.doc", True), ("docs/x.md", False)],
)
def test_a_later_positive_pattern_re_includes(name: str, expected: bool) -> None:
    # Cheat sheet: '*.md', '!README.md', 'README*' re-includes README.md and README.doc.
    assert passes(["*.md", "!README.md", "README*"], name) is expected


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("releases/10", True),
        ("releases/beta/mona", True),
        ("releases/10-alpha", False),
        ("releases/beta/3-alpha", False),
        ("main", False),
    ],
)
def test_branches_include_and_exclude_example(branch: str, expected: bool) -> None:
    # The "Including and excluding branches" example of the workflow syntax docs.
    assert passes(["releases/**", "!releases/**-alpha"], branch) is expected


def test_decision_names_the_last_matching_pattern() -> None:
    patterns = compile_filter(["*.md", "!README.md", "README*"], "paths")
    assert patterns.decide("README.md").pattern == "README*"
    assert patterns.decide("hello.md").pattern == "*.md"
    excluded = compile_filter(["*.md", "!README.md"], "paths").decide("README.md")
    assert (excluded.included, excluded.pattern) == (False, "!README.md")
    assert patterns.decide("src/a.py").pattern is None


def test_order_matters_a_negation_first_is_overridden() -> None:
    assert passes(["!main", "**"], "main")
    assert not passes(["**", "!main"], "main")


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("\\!file", "!file"),
        ("a\\*b", "a*b"),
        ("v1\\+", "v1+"),
        ("what\\?", "what?"),
        ("\\[x]", "[x]"),
        ("back\\\\slash", "back\\slash"),
    ],
)
def test_backslash_escapes_special_characters(pattern: str, name: str) -> None:
    assert compile_pattern(pattern).matches(name)


def test_escaped_star_is_literal() -> None:
    assert not compile_pattern("a\\*b").matches("axxb")


def test_exclamation_mark_is_literal_after_the_start() -> None:
    pattern = compile_pattern("wow!")
    assert not pattern.negative
    assert pattern.matches("wow!")


def test_negative_pattern_is_marked_and_matches_its_body() -> None:
    pattern = compile_pattern("!docs/**")
    assert pattern.negative
    assert pattern.text == "!docs/**"
    assert pattern.matches("docs/a.md")


def test_regex_metacharacters_are_literal() -> None:
    pattern = compile_pattern("a.(b)|c^$")
    assert pattern.matches("a.(b)|c^$")
    assert not pattern.matches("aX(b)|c^$")


def test_star_matches_newline_free_names_but_not_slash() -> None:
    assert compile_pattern("a*z").matches("a z")
    assert not compile_pattern("a*z").matches("a/z")


def test_only_negative_patterns_are_refused_with_a_hint() -> None:
    with pytest.raises(EventError) as caught:
        compile_filter(["!main", "!dev"], "push trigger: branches")
    message = str(caught.value)
    assert "only '!' patterns" in message
    assert "'**'" in message
    assert message.startswith("push trigger: branches")


def test_empty_filter_is_refused() -> None:
    with pytest.raises(EventError, match="non-empty list"):
        compile_filter([], "paths")


def test_a_bare_string_is_not_a_filter_list() -> None:
    with pytest.raises(EventError, match="non-empty list"):
        compile_filter("main", "branches")


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "is empty"),
        ("!", "is empty"),
        ("+abc", "none to repeat"),
        ("?x", "none to repeat"),
        ("a*+", "none to repeat"),
        ("a**?", "none to repeat"),
        ("ab+?", "none to repeat"),
        ("v[12", "no closing ']'"),
        ("v[]", "is empty"),
        ("v[a-]", "only list letters, digits"),
        ("v[9-0]", "range '9-0'"),
        ("v[a-Z]", "range 'a-Z'"),
        ("v[0-z]", "range '0-z'"),
        ("v[.]", "not '.'"),
        ("trailing\\", "escapes nothing"),
    ],
)
def test_pattern_mistakes_are_clear_errors(pattern: str, fragment: str) -> None:
    with pytest.raises(EventError) as caught:
        compile_pattern(pattern, "branches")
    message = str(caught.value)
    assert fragment in message
    assert message.startswith("branches: pattern")
    assert len(message) < 300


def test_error_gives_the_character_position() -> None:
    with pytest.raises(EventError, match="at character 3"):
        compile_pattern("ab[", "paths")
    with pytest.raises(EventError, match="at character 4"):
        compile_pattern("!ab[", "paths")  # counted in the pattern as written


def test_very_long_pattern_is_refused() -> None:
    with pytest.raises(EventError, match="longer than"):
        compile_pattern("a" * 2000)


def test_non_string_pattern_is_refused() -> None:
    with pytest.raises(EventError, match="must be a string"):
        compile_pattern(42)  # type: ignore[arg-type]


def test_long_pattern_is_cut_in_the_message() -> None:
    with pytest.raises(EventError) as caught:
        compile_pattern("x" * 900 + "[")
    assert len(str(caught.value)) < 300
