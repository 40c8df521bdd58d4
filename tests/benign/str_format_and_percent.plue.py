# ctx: none
# ruff: noqa: UP031 (%-formatting is what this file tests)
from plue import Plan, Step


def workflow():
    cmds = [
        "deploy {} to {}".format("api", "prod"),
        "{0}-{1}-{0}".format("a", "b"),
        "{name}@{version}".format(name="lib", version="1.2"),
        "{:.2f}% of {:>6}".format(99.5, "tests"),
        "{region}/{zone}".format_map({"region": "eu", "zone": "b"}),
        str.format("{} items", 3),
        "%s-%03d" % ("build", 7),
        "%(app)s:%(tag)s" % {"app": "web", "tag": "latest"},
        "%.1f%%" % 12.345,
        "%-5s|%5d" % ("ab", 42),
    ]
    return Plan("formatting", steps=[Step.bash(f"fmt-{i}", cmd) for i, cmd in enumerate(cmds)])
