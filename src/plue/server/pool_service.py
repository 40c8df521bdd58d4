"""The warm pool in the server: the backend `[pool]` names, and the controller (`plue.runners.pool`) running it.

    start_pool(state)   builds the backend and starts the controller when `[[pool.pools]]` are configured;
                        `state.extras["pool"]` is then the controller (`GET /api/pool` shows its `status()`)
    stop_pool(state)    stops the controller, then closes the backend: local runners are stopped (they are
                        this process's children), Kubernetes pods stay and are adopted at the next start

The runners dial `[pool] server_url`, else this server's own `http://{host}:{port}` (a wildcard
host becomes the loopback address, right for local runners only: set server_url for pods).
Local runners get this process's environment without `PLUE_*` and without any variable whose
value is a webhook or run secret: they execute untrusted steps and get run secrets only with a claim.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Final

from plue.runners.backends import LocalBackend, RunnerBackend, runner_environment
from plue.runners.pool import PoolController
from plue.server.api.state import ServerState
from plue.server.config import ServerConfig
from plue.store import Leadership

EXTRAS_KEY: Final = "pool"
LEADERSHIP_KEY: Final = "pool-leadership"
WILDCARD_HOSTS: Final = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}

log = logging.getLogger(__name__)


class PoolUnusable(Exception):
    """The pool cannot start as configured; one sentence."""


def runner_server_url(config: ServerConfig) -> str:
    """The URL pool runners dial: `[pool] server_url`, else this server's address."""
    if config.pool.server_url:
        return config.pool.server_url
    if config.port == 0:
        raise PoolUnusable("the server listens on a port chosen at start (port 0): set [pool] server_url")
    host = WILDCARD_HOSTS.get(config.host, config.host)
    return f"http://[{host}]:{config.port}" if ":" in host else f"http://{host}:{config.port}"


def build_backend(config: ServerConfig) -> RunnerBackend:
    """The backend `[pool] backend` names; the Kubernetes client is imported only when it is the one."""
    settings = config.pool
    if settings.backend == "local":
        hidden = [*config.secrets.values(), *(secret.decode(errors="replace") for secret in config.webhook_secrets)]
        return LocalBackend(
            config.data_dir / "runners",
            settings.runner_command,
            environ=runner_environment(os.environ, hidden),
        )
    if settings.backend == "kubernetes":
        from plue.runners.kubernetes import KubernetesBackend, api_client_for

        kube = settings.kubernetes
        client = api_client_for(api_url=kube.api_url, kubeconfig=kube.kubeconfig, in_cluster=kube.in_cluster)
        return KubernetesBackend(kube.namespace, kube.pod_template, client, runtime_class=kube.runtime_class)
    raise PoolUnusable(f"unknown pool backend {settings.backend!r}: use local or kubernetes")


def start_pool(state: ServerState, *, server_url: str | None = None) -> PoolController | None:
    """Start the pool controller if pools are configured; None (and nothing started) if not.

    `server_url` overrides the configured one (tests, which learn the port only once serving).
    """
    config = state.config
    if not config.pool.pools:
        return None
    settings = replace(config.pool, server_url=server_url or runner_server_url(config))
    backend = build_backend(config)
    # Servers sharing a database would each grow the pool: one runs it, the others stand by to take over.
    leadership = state.store.leadership("pool")
    controller = PoolController(state.store, settings, backend, leader=leadership.hold)
    state.extras[LEADERSHIP_KEY] = leadership
    controller.start()
    state.extras[EXTRAS_KEY] = controller
    log.info(
        "pool controller started: %s backend, pools %s, runners dial %s",
        backend.name,
        ", ".join(spec.name for spec in settings.pools),
        settings.server_url,
    )
    return controller


def stop_pool(state: ServerState) -> None:
    """Stop what `start_pool` started (nothing if it started nothing)."""
    controller = state.extras.pop(EXTRAS_KEY, None)
    if not isinstance(controller, PoolController):
        return
    controller.stop()
    close = getattr(controller.backend, "close", None)
    if callable(close):
        close()
    leadership = state.extras.pop(LEADERSHIP_KEY, None)
    if isinstance(leadership, Leadership):
        leadership.release()  # a standby server takes the pool over at its next look
    log.info("pool controller stopped")
