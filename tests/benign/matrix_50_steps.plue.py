# ctx: none
from plue import Plan, Step

OSES = ["linux", "macos", "windows", "freebsd", "solaris"]
PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12"]
ARCHES = ["x64", "arm64"]


def workflow():
    steps = [Step.bash("setup", "make setup")]
    for os_name in OSES:
        for python in PYTHONS:
            for arch in ARCHES:
                slug = f"{os_name}-py{python.replace('.', '')}-{arch}"
                steps.append(
                    Step.bash(
                        f"test-{slug}",
                        f"tox -e py{python.replace('.', '')}",
                        depends_on=["setup"],
                        env={"OS": os_name, "ARCH": arch},
                    )
                )
    steps = steps[:51]
    return Plan("matrix", steps=steps)
