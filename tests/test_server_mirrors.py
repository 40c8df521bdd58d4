"""Mirrors: a bare clone of each repository, fetched when a commit is missing, and trees of commits."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from ingest_support import Upstream
from workflow_repos import git, git_init

from plue.server.config import RepositoryConfig
from plue.server.mirrors import Mirror, MirrorError, Mirrors


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "remote")


def mirror_of(upstream: Upstream, root: Path) -> Mirror:
    return Mirror(RepositoryConfig(upstream.name, upstream.url), root)


def test_checkout_gives_the_files_of_the_commit_and_reuses_the_tree(upstream: Upstream, tmp_path: Path) -> None:
    first = upstream.push({"a.txt": "one\n"})
    second = upstream.push({"a.txt": "two\n", "b.txt": "new\n"})
    mirror = mirror_of(upstream, tmp_path / "mirrors" / "app")

    tree = mirror.checkout(first)
    assert tree == tmp_path / "mirrors" / "app" / "trees" / first
    assert (tree / "a.txt").read_text() == "one\n"
    assert not (tree / "b.txt").exists()
    assert (mirror.checkout(second) / "a.txt").read_text() == "two\n"

    marker = tree / "marker"
    marker.write_text("same directory")
    assert mirror.checkout(first) == tree
    assert marker.exists()  # reused, not rebuilt
    assert not [p for p in (tmp_path / "mirrors" / "app" / "trees").iterdir() if p.name.startswith(".")]


def test_a_commit_pushed_after_the_clone_is_fetched(upstream: Upstream, tmp_path: Path) -> None:
    mirror = mirror_of(upstream, tmp_path / "m")
    old = upstream.push({"a.txt": "one\n"})
    assert mirror.resolve("main") == old
    new = upstream.push({"a.txt": "two\n"})
    assert not mirror.has_commit(new)
    assert (mirror.checkout(new) / "a.txt").read_text() == "two\n"
    assert mirror.has_commit(new)
    assert mirror.resolve("refs/heads/main", fetch=False) == new


def test_resolve_follows_branches_and_refuses_unknown_refs(upstream: Upstream, tmp_path: Path) -> None:
    main = upstream.push({"a.txt": "main\n"})
    feature = upstream.push({"a.txt": "feature\n"}, branch="feature")
    mirror = mirror_of(upstream, tmp_path / "m")
    assert mirror.resolve("main") == main
    assert mirror.resolve("feature") == feature
    assert mirror.resolve(main) == main
    with pytest.raises(MirrorError, match=r"^octo/app has no branch, tag or commit 'nope'$"):
        mirror.resolve("nope")
    with pytest.raises(MirrorError, match="is not a ref"):
        mirror.resolve("--upload-pack=touch /tmp/x")


def test_a_missing_commit_is_one_clear_error(upstream: Upstream, tmp_path: Path) -> None:
    upstream.push({"a.txt": "one\n"})
    mirror = mirror_of(upstream, tmp_path / "m")
    missing = "1" * 40
    with pytest.raises(MirrorError) as caught:
        mirror.checkout(missing)
    assert str(caught.value) == f"commit {missing} is not in octo/app from {upstream.url}; was it pushed?"
    with pytest.raises(MirrorError, match="is not a commit sha"):
        mirror.checkout("../../etc")


def test_an_unreachable_remote_is_one_clear_error(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.git").as_uri()
    mirror = Mirror(RepositoryConfig("octo/gone", url), tmp_path / "m")
    with pytest.raises(MirrorError) as caught:
        mirror.resolve("main")
    message = str(caught.value)
    assert message.startswith(f"cannot clone octo/gone from {url}: ")
    assert "\n" not in message
    assert not (tmp_path / "m" / "mirror.git").exists()  # no half-made mirror left behind


def test_workspace_is_a_writable_copy_of_the_commit(upstream: Upstream, tmp_path: Path) -> None:
    sha = upstream.push({"a.txt": "one\n"})
    mirror = mirror_of(upstream, tmp_path / "m")
    workspace = mirror.workspace(sha, tmp_path / "work" / "1")
    (workspace / "a.txt").write_text("changed\n")
    assert git(workspace, "rev-parse", "HEAD").strip() == sha
    assert (mirror.checkout(sha) / "a.txt").read_text() == "one\n"  # the shared tree is untouched


def test_concurrent_checkouts_of_a_new_commit_all_get_the_same_complete_tree(
    upstream: Upstream, tmp_path: Path
) -> None:
    mirror = mirror_of(upstream, tmp_path / "m")
    mirror.resolve(upstream.push({"a.txt": "one\n"}))
    sha = upstream.push({f"f{i}.txt": str(i) for i in range(50)})
    start = threading.Barrier(6)
    results: list[Path | BaseException] = []

    def checkout() -> None:
        start.wait()
        try:
            results.append(mirror.checkout(sha))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=checkout) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [tmp_path / "m" / "trees" / sha] * 6
    assert len(list((tmp_path / "m" / "trees" / sha).glob("f*.txt"))) == 50


def test_git_lists_the_commit_files_even_inside_another_work_tree(upstream: Upstream, tmp_path: Path) -> None:
    # A data directory inside a git checkout that ignores it must not hide the tree's files from git.
    outer = git_init(tmp_path / "outer")
    (outer / ".gitignore").write_text("state/\n")
    sha = upstream.push({"ci.plue.py": "x = 1\n"})
    mirror = mirror_of(upstream, outer / "state" / "mirrors" / "app")
    tree = mirror.checkout(sha)
    listed = subprocess.run(["git", "ls-files"], cwd=tree, capture_output=True, text=True, check=True).stdout
    assert listed.split() == ["ci.plue.py"]


def test_mirrors_gives_each_repository_its_own_directory(tmp_path: Path) -> None:
    repositories = {
        "octo/app": RepositoryConfig("octo/app", "file:///a"),
        "octo/web": RepositoryConfig("octo/web", "file:///b"),
    }
    mirrors = Mirrors(repositories, tmp_path)
    assert mirrors["octo/app"].root == tmp_path / "octo+app"
    assert mirrors.get("octo/web") is mirrors["octo/web"]
    assert mirrors.get("octo/other") is None
    assert "octo/app" in mirrors
    assert sorted(m.name for m in mirrors) == ["octo/app", "octo/web"]
