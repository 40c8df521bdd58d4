"""Release: a pushed tag v* builds the package and checks the version matches the tag."""

from plue import Plan, Step, Trigger

CHECK = """
import os, sys, tomllib
tag = os.environ["TAG"]
version = tomllib.load(open("pyproject.toml", "rb"))["project"]["version"]
if tag != "v" + version:
    sys.exit(f"tag {tag} does not match version {version}")
print("releasing", version)
"""


def workflow(ctx):
    tag = ctx.event.tag if ctx.event is not None and ctx.event.tag else "v0.0.0-preview"
    check = Step.python("check-version", CHECK, env={"TAG": tag})
    build = Step.bash("build", "uv build", depends_on=check)
    publish = Step.bash(
        "publish",
        "ls dist/ && echo 'uv publish would upload these'",
        depends_on=build,
        retries=2,
        backoff="30s",
    )
    return Plan("Release", steps=[check, build, publish], triggers=[Trigger.on_push(tags="v*")])
