"""`/api/repos`: the configured repositories, their workflows, manual dispatches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from plue.server.api import models
from plue.server.api.dispatch import DispatchRefused, manual_run, registry_for
from plue.server.api.state import ServerState, StateDep, not_found, wake_workers
from plue.server.auth import require

router = APIRouter(prefix="/repos", tags=["repositories"])


@router.get("", response_model=list[models.Repository], dependencies=[Depends(require("read"))])
def list_repos(state: StateDep) -> list[models.Repository]:
    """The repositories this server takes webhooks for."""
    return [
        models.Repository(name=repo.name, url=repo.url, default_branch=repo.default_branch)
        for repo in sorted(state.config.repositories.values(), key=lambda repo: repo.name)
    ]


def _mirror(state: ServerState, repository: str) -> tuple[Any, Any]:
    config = state.config.repositories.get(repository)
    if config is None:
        raise not_found(f"repository {repository} is not configured on this server")
    mirror = state.mirrors.get(repository) if state.mirrors is not None else None
    if mirror is None:
        raise HTTPException(503, f"the mirror of {repository} is not available on this server")
    return config, mirror


def _checkout(mirror: Any, ref: str) -> tuple[str, Any]:
    from plue.server.mirrors import MirrorError

    try:
        sha = mirror.resolve(ref)
        return sha, mirror.checkout(sha)
    except MirrorError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get(
    "/{owner}/{name}/workflows",
    response_model=models.RepositoryWorkflows,
    dependencies=[Depends(require("read"))],
)
def list_workflows(owner: str, name: str, state: StateDep) -> models.RepositoryWorkflows:
    """The workflows of the default branch's head, with what keeps each from running (if anything)."""
    config, mirror = _mirror(state, f"{owner}/{name}")
    sha, tree = _checkout(mirror, config.default_branch)
    with registry_for(tree, state.config.data_dir) as registry:
        entries = registry.scan()
    return models.RepositoryWorkflows(
        repository=config.name,
        ref=config.default_branch,
        sha=sha,
        workflows=[
            models.WorkflowInfo(path=entry.path, name=entry.name, triggers=entry.triggers, problems=entry.problems)
            for entry in entries
        ],
    )


@router.post(
    "/{owner}/{name}/workflows/{workflow:path}/dispatches",
    response_model=models.QueuedRun,
    status_code=201,
    dependencies=[Depends(require("write"))],
)
def dispatch(
    owner: str, name: str, workflow: str, request: models.DispatchRequest, state: StateDep
) -> models.QueuedRun:
    """Queue a manual run of `workflow` (its path, file name or name) at `ref`, with `inputs`."""
    config, mirror = _mirror(state, f"{owner}/{name}")
    ref = request.ref or config.default_branch
    sha, tree = _checkout(mirror, ref)
    with registry_for(tree, state.config.data_dir) as registry:
        try:
            run = manual_run(
                registry,
                workflow,
                repository=config.name,
                default_branch=config.default_branch,
                ref=ref,
                sha=sha,
                given=request.inputs,
            )
        except DispatchRefused as exc:
            raise HTTPException(exc.status, exc.reason) from None
    run_id = state.store.enqueue(run)
    wake_workers(state)
    return models.QueuedRun(id=run_id, status="queued")
