"""Confinement: no tool reads, writes, lists or searches anything outside the workspace.

Each test builds a workspace next to an `outside` directory holding a sentinel
file, plants links out of the workspace (absolute and relative, to directories
and files, dangling), and checks that every way of naming something outside is
refused with a clear message, and that nothing outside was read (the sentinel
text never appears) or changed (the outside directory is byte for byte the
same afterwards).
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from plue.llm.tools import KNOWN_TOOLS, Toolbox, ToolOutcome, parse_tool_specs

SENTINEL = "SENTINEL-outside-the-workspace"
OUTSIDE_MESSAGE = "is outside the workspace"


class Sandbox:
    """A workspace, an outside directory with a sentinel, and a toolbox with every tool."""

    def __init__(self, tmp_path: Path) -> None:
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "secret.txt").write_text(SENTINEL + "\n")
        (self.outside / "sub").mkdir()
        (self.outside / "sub" / "deep.txt").write_text(SENTINEL + " deep\n")
        self.root = tmp_path / "ws"
        (self.root / "src").mkdir(parents=True)
        (self.root / "src" / "a.py").write_text("inside = True\n")
        links = {
            "etc_link": "/etc",
            "passwd_link": "/etc/passwd",
            "out_abs": str(self.outside),
            "out_rel": "../outside",
            "secret_abs": str(self.outside / "secret.txt"),
            "secret_rel": "../outside/secret.txt",
            "dangling_out": "../outside/created-through-a-link.txt",
            "dangling_abs": str(self.outside / "created-through-an-absolute-link.txt"),
            "src/up_out": "../../outside",
            "inside_dir": "src",
            "inside_file": "src/a.py",
            "inside_abs": str(self.root / "src" / "a.py"),
            "loop_a": "loop_b",
            "loop_b": "loop_a",
        }
        for name, target in links.items():
            os.symlink(target, self.root / name)
        self.toolbox = Toolbox(
            self.root,
            parse_tool_specs([*KNOWN_TOOLS[:-1], "git:write"]),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        )
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, bytes]:
        return {str(path): path.read_bytes() for path in sorted(self.outside.rglob("*")) if path.is_file()}

    def run(self, name: str, tool_input: Any) -> ToolOutcome:
        outcome = self.toolbox.run(name, tool_input)
        assert SENTINEL not in outcome.output
        assert "root:x:0:0" not in outcome.output  # /etc/passwd
        return outcome

    def refused(self, name: str, tool_input: Any, expected: str = OUTSIDE_MESSAGE) -> str:
        outcome = self.run(name, tool_input)
        assert outcome.is_error, outcome.output
        assert expected in outcome.output
        assert "Traceback" not in outcome.output
        return outcome.output

    def assert_outside_untouched(self) -> None:
        assert self.snapshot() == self.before
        assert sorted(p.name for p in self.outside.iterdir()) == ["secret.txt", "sub"]


@pytest.fixture
def box(tmp_path: Path) -> Any:
    sandbox = Sandbox(tmp_path)
    yield sandbox
    sandbox.assert_outside_untouched()


OUTSIDE_PATHS = [
    "../outside/secret.txt",
    "../../etc/passwd",
    "/etc/passwd",
    "a/../../x",
    "src/../../outside/secret.txt",
    "./src/./../../outside/secret.txt",
    "..",
    "../ws/../outside/secret.txt",
    "etc_link",
    "etc_link/passwd",
    "etc_link/../etc/passwd",
    "passwd_link",
    "out_abs/secret.txt",
    "out_abs/sub/deep.txt",
    "out_rel/secret.txt",
    "secret_abs",
    "secret_rel",
    "src/up_out/secret.txt",
    "inside_dir/../../outside/secret.txt",
    "inside_dir/up_out/secret.txt",
]


@pytest.mark.parametrize("path", OUTSIDE_PATHS)
def test_read_file_refuses_paths_outside(box: Sandbox, path: str) -> None:
    message = box.refused("read_file", {"path": path})
    assert message.startswith(f"path {path!r} is outside the workspace")
    assert message.endswith("; use a path relative to the workspace")


def test_the_message_names_the_link_and_says_what_to_do(box: Sandbox) -> None:
    assert box.refused("read_file", {"path": "../../etc/passwd"}) == (
        "path '../../etc/passwd' is outside the workspace; use a path relative to the workspace"
    )
    assert box.refused("read_file", {"path": "etc_link/passwd"}) == (
        "path 'etc_link/passwd' is outside the workspace (through the symbolic link 'etc_link'); "
        "use a path relative to the workspace"
    )


def test_absolute_paths_outside_under_tmp_are_refused(box: Sandbox) -> None:
    box.refused("read_file", {"path": str(box.outside / "secret.txt")})
    box.refused("write_file", {"path": str(box.outside / "secret.txt"), "content": "overwritten"})
    box.refused("write_file", {"path": str(box.outside / "new.txt"), "content": "x"})
    box.refused("list_files", {"path": str(box.outside)})
    box.refused("grep", {"pattern": "SENTINEL", "path": str(box.outside)})


@pytest.mark.parametrize("path", [*OUTSIDE_PATHS, "dangling_out", "dangling_abs", "out_rel/new.txt", "etc_link/x"])
def test_write_file_refuses_paths_outside(box: Sandbox, path: str) -> None:
    marker = f"plue-should-not-exist-{uuid.uuid4().hex}"
    target = path.replace("etc_link/x", f"etc_link/{marker}")
    box.refused("write_file", {"path": target, "content": "overwritten"})
    assert not Path("/etc", marker).exists()


@pytest.mark.parametrize("path", [*OUTSIDE_PATHS, "dangling_out"])
def test_edit_file_refuses_paths_outside(box: Sandbox, path: str) -> None:
    box.refused("edit_file", {"path": path, "old_string": "SENTINEL", "new_string": "changed"})


@pytest.mark.parametrize("path", ["..", "../outside", "/etc", "etc_link", "out_abs", "out_rel", "src/up_out", "/"])
def test_list_files_refuses_directories_outside(box: Sandbox, path: str) -> None:
    box.refused("list_files", {"path": path})


@pytest.mark.parametrize("path", ["..", "../outside", "/etc", "etc_link", "out_rel", "secret_rel", "passwd_link"])
def test_grep_refuses_paths_outside(box: Sandbox, path: str) -> None:
    box.refused("grep", {"pattern": "SENTINEL|root", "path": path})


def test_list_files_never_enters_or_reports_links_out(box: Sandbox) -> None:
    listed = box.run("list_files", {}).output.splitlines()
    assert listed == ["inside_abs", "inside_file", "src/a.py"]  # links to files inside are files inside
    assert "no files match" in box.run("list_files", {"pattern": "etc_link/**"}).output
    assert "no files match" in box.run("list_files", {"pattern": "**/passwd"}).output
    assert "must be relative" in box.refused("list_files", {"pattern": "../outside/*"}, "")


def test_grep_never_searches_through_links_out(box: Sandbox) -> None:
    output = box.run("grep", {"pattern": "SENTINEL|root:"}).output
    assert output.startswith("no matches")
    assert box.run("grep", {"pattern": "inside"}).output.splitlines() == [
        "inside_abs:1: inside = True",
        "inside_file:1: inside = True",
        "src/a.py:1: inside = True",
    ]


def test_links_inside_the_workspace_work(box: Sandbox) -> None:
    assert box.run("read_file", {"path": "inside_dir/a.py"}).output == "inside = True\n"
    assert box.run("read_file", {"path": "inside_file"}).output == "inside = True\n"
    assert box.run("read_file", {"path": "inside_abs"}).output == "inside = True\n"
    assert box.run("read_file", {"path": str(box.root / "src" / "a.py")}).output == "inside = True\n"
    assert box.run("read_file", {"path": "src/../src/./a.py"}).output == "inside = True\n"
    assert not box.run("write_file", {"path": "inside_dir/b.py", "content": "b\n"}).is_error
    assert (box.root / "src" / "b.py").read_text() == "b\n"
    assert not box.run("edit_file", {"path": "inside_file", "old_string": "True", "new_string": "1"}).is_error
    assert (box.root / "src" / "a.py").read_text() == "inside = 1\n"
    assert (box.root / "inside_file").is_symlink()  # the link was followed, not replaced
    os.symlink("src/new.py", box.root / "dangling_in")
    assert not box.run("write_file", {"path": "dangling_in", "content": "new\n"}).is_error
    assert (box.root / "src" / "new.py").read_text() == "new\n"


def test_a_link_loop_is_refused(box: Sandbox) -> None:
    box.refused("read_file", {"path": "loop_a"}, "too many symbolic links")
    box.refused("write_file", {"path": "loop_a", "content": "x"}, "too many symbolic links")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/a.py\0", "contains a NUL byte"),
        ("\0/etc/passwd", "contains a NUL byte"),
        ("x" * 300, "too long"),
        ("a/" * 2100 + "x", "too long"),
        ("\ud800", "not valid text"),
        ("", "must not be empty"),
    ],
)
def test_odd_paths_are_refused_clearly(box: Sandbox, path: str, expected: str) -> None:
    for name, extra in [("read_file", {}), ("write_file", {"content": "x"}), ("list_files", {}), ("grep", {})]:
        tool_input = {"path": path, **extra}
        if name == "grep":
            tool_input["pattern"] = "x"
        box.refused(name, tool_input, expected)
    assert sorted(p.name for p in (box.root / "src").iterdir()) == ["a.py", "up_out"]


@pytest.mark.parametrize(
    "tool_input",
    [
        {"path": 1},
        {"path": None},
        {"path": ["../outside/secret.txt"]},
        {"path": {"path": "../outside/secret.txt"}},
        {"path": b"../outside".decode()},
        {},
        {"path": "../outside/secret.txt", "follow_symlinks": True},
        "../outside/secret.txt",
        ["../outside/secret.txt"],
        None,
    ],
)
def test_inputs_of_the_wrong_shape_are_refused(box: Sandbox, tool_input: Any) -> None:
    for name in ("read_file", "write_file", "edit_file", "list_files", "grep"):
        outcome = box.run(name, tool_input)
        if name == "list_files" and tool_input == {}:
            assert not outcome.is_error  # no fields: the whole workspace
            continue
        assert outcome.is_error and outcome.output


def test_git_directory_cannot_be_written(box: Sandbox) -> None:
    (box.root / ".git").mkdir()
    (box.root / ".git" / "config").write_text("[core]\n")
    os.symlink(".git", box.root / "git_link")
    os.symlink(".", box.root / "here")
    for path in [".git/config", ".git/hooks/pre-commit", ".GIT/config", "git_link/config", "here/.git/config", ".git"]:
        box.refused("write_file", {"path": path, "content": "[core]\nfsmonitor = touch pwned\n"}, "inside .git")
    box.refused("edit_file", {"path": ".git/config", "old_string": "[core]", "new_string": "[x]"}, "inside .git")
    assert (box.root / ".git" / "config").read_text() == "[core]\n"
    assert not (box.root / ".git" / "hooks").exists()
    assert box.run("read_file", {"path": ".git/config"}).output == "[core]\n"  # reading is fine


def test_a_hard_link_to_a_file_outside_is_not_written(box: Sandbox) -> None:
    os.link(box.outside / "secret.txt", box.root / "hard.txt")
    box.refused("write_file", {"path": "hard.txt", "content": "overwritten"}, "has other hard links")
    box.refused("edit_file", {"path": "hard.txt", "old_string": "SENTINEL", "new_string": "x"}, "has other hard links")


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "/etc/passwd", "/etc/hostname"],
        ["diff", str(Path("/tmp")), "src/a.py"],
        ["diff", "../outside/secret.txt", "src/a.py"],
        ["diff", "etc_link/passwd", "src/a.py"],
        ["diff", "--", "secret_rel", "src/a.py"],
        ["diff", "out_abs/secret.txt", "src/a.py"],
        ["log", "--", "../outside"],
        ["show", "~root/.bashrc"],
    ],
)
def test_git_refuses_paths_outside(box: Sandbox, args: list[str]) -> None:
    message = box.refused("git", {"args": args}, "outside the workspace")
    assert message.startswith("git argument")


def test_a_directory_swapped_for_a_link_during_reads_never_leaks(box: Sandbox) -> None:
    """A race: `swap` flips between a real directory and a link out while files are read through it."""
    real = box.root / "swap_real"
    real.mkdir()
    (real / "secret.txt").write_text("inside copy\n")
    swap = box.root / "swap"
    link = box.root / "swap_link"
    os.symlink(box.outside, link)
    stop = threading.Event()

    def flip() -> None:
        parked_real, parked_link = real, link
        while not stop.is_set():
            os.rename(parked_real, swap)
            os.rename(swap, parked_real)
            os.rename(parked_link, swap)
            os.rename(swap, parked_link)

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    read_inside = 0
    try:
        for attempt in range(2000):
            outcome = box.run("read_file", {"path": "swap/secret.txt"})  # box.run asserts the sentinel never shows
            read_inside += outcome.output == "inside copy\n"
            if attempt % 100 == 0:
                box.run("grep", {"pattern": "SENTINEL", "path": "swap"})
                box.run("list_files", {"path": "swap"})
    finally:
        stop.set()
        flipper.join(timeout=30)
    assert not flipper.is_alive()
    assert read_inside > 0  # the race really ran against a real directory too
