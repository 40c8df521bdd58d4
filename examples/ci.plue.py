"""Continuous integration of the bundled `hello` package (examples/hello): lint and
test in parallel, build a zipapp, smoke-test it, report. Every push to main and every
pull request. Runs offline with the standard library only:

    plue workflow run examples/ci.plue.py
"""

from plue import Plan, Step, Trigger

PACKAGE = "examples/hello"
ARTIFACT = PACKAGE + "/dist/hello.pyz"

BUILD = f"""\
mkdir -p {PACKAGE}/dist
python3 -m zipapp {PACKAGE}/src --main 'hello.__main__:main' --output {ARTIFACT}
digest=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' {ARTIFACT})
echo "built {ARTIFACT} (sha256 $digest)"
echo "artifact={ARTIFACT}" >> "$PLUE_OUTPUT"
echo "sha256=$digest" >> "$PLUE_OUTPUT"
"""

SMOKE = """\
greeting=$(python3 '{{ steps.build.outputs.artifact }}' Plue)
echo "$greeting"
test "$greeting" = 'Hello, Plue!'
"""

REPORT = """\
echo 'lint:  {{ steps.lint.outputs.files }} files clean'
echo 'tests: {{ steps.test.outputs.tests }} passed'
echo 'build: {{ steps.build.outputs.artifact }}'
echo '       sha256 {{ steps.build.outputs.sha256 }}'
"""


def workflow(ctx):
    lint = Step.bash("lint", f"python3 -m compileall -q {PACKAGE}/src\npython3 {PACKAGE}/tools/lint.py {PACKAGE}")
    test = Step.python("test", file=PACKAGE + "/tools/run_tests.py", timeout="5m", retries=1, backoff="1s")
    build = Step.bash("build", BUILD, depends_on=[lint, test], timeout="5m")
    smoke = Step.bash("smoke", SMOKE, depends_on=[build])
    report = Step.bash("report", REPORT, depends_on=[lint, test, build, smoke])
    return Plan(
        "CI",
        steps=[lint, test, build, smoke, report],
        triggers=[Trigger.on_push("main"), Trigger.on_pull_request()],
        description="Lint, test, build and smoke-test the bundled hello package.",
    )
