"""The JSON API under `/api`: one router per resource (`routes.api_router` gathers them), every route
behind a bearer token (`plue.server.auth`); `state` is what the routes reach; `models` what they answer."""
