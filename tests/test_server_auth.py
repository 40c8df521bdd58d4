"""Bearer tokens on /api: 401 without a valid token, 403 below the route's scope, through a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import RunningServer, bearer, make_config, serve

from plue.server.app import create_app
from plue.store import Store


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RunningServer, Store]]:
    app = create_app(make_config(tmp_path / "data"), start_background=False)
    with serve(app) as running:
        yield running, app.state.plue.store


def test_every_api_route_refuses_a_request_without_a_token(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path / "data"), start_background=False)
    # Every route the schema documents (FastAPI documents each one it serves).
    routes = {path: methods for path, methods in app.openapi()["paths"].items() if path.startswith("/api")}
    assert len(routes) >= 10
    with serve(app) as running, httpx.Client(base_url=running.url) as client:
        for template, methods in routes.items():
            path = template.replace("{run_id}", "1").replace("{owner}", "o").replace("{name}", "n")
            path = path.replace("{workflow}", "ci")
            for method in methods:
                response = client.request(method, path)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert "token" in response.json()["detail"]


def test_an_unknown_or_revoked_token_is_refused(server: tuple[RunningServer, Store]) -> None:
    running, store = server
    token = store.create_token("ci", "read")
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/api/runs", headers=bearer(token)).status_code == 200
        wrong = client.get("/api/runs", headers=bearer(token[:-1] + ("A" if token[-1] != "A" else "B")))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        basic = client.get("/api/runs", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401
        assert store.revoke_token("ci")
        revoked = client.get("/api/runs", headers=bearer(token))
        assert revoked.status_code == 401
        assert "revoked" in revoked.json()["detail"]


def test_scopes_are_levels_read_write_admin(server: tuple[RunningServer, Store]) -> None:
    running, store = server
    tokens = {scope: store.create_token(f"{scope}-token", scope) for scope in ("read", "write", "admin")}
    with httpx.Client(base_url=running.url) as client:
        # Reading: every scope.
        for token in tokens.values():
            assert client.get("/api/deliveries", headers=bearer(token)).status_code == 200
        # Writing (cancel of a run that does not exist: past auth it is a 404).
        refused = client.post("/api/runs/99/cancel", headers=bearer(tokens["read"]))
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this needs a token with write scope; token 'read-token' has read scope"
        assert client.post("/api/runs/99/cancel", headers=bearer(tokens["write"])).status_code == 404
        assert client.post("/api/runs/99/cancel", headers=bearer(tokens["admin"])).status_code == 404
        # Administration: the token list, names and scopes only.
        assert client.get("/api/tokens", headers=bearer(tokens["write"])).status_code == 403
        listed = client.get("/api/tokens", headers=bearer(tokens["admin"]))
        assert listed.status_code == 200
        assert {(item["name"], item["scope"]) for item in listed.json()} == {
            ("read-token", "read"),
            ("write-token", "write"),
            ("admin-token", "admin"),
        }
        assert all(token not in listed.text for token in tokens.values())


def test_health_and_openapi_need_no_token_and_document_the_security_scheme(
    server: tuple[RunningServer, Store],
) -> None:
    running, _ = server
    with httpx.Client(base_url=running.url) as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert "RunDetail" in schema["components"]["schemas"]
        assert schema["paths"]["/api/runs"]["get"]["security"] == [{"HTTPBearer": []}]
        assert client.get("/docs").status_code == 200
