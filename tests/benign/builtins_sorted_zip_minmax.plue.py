# ctx: none
from plue import Plan, Step

JOBS = [
    {"name": "lint", "minutes": 2, "needs": []},
    {"name": "test", "minutes": 9, "needs": ["lint"]},
    {"name": "build", "minutes": 5, "needs": ["lint"]},
    {"name": "deploy", "minutes": 1, "needs": ["test", "build"]},
]


def workflow():
    by_time = sorted(JOBS, key=lambda job: (-job["minutes"], job["name"]))
    slowest = max(JOBS, key=lambda job: job["minutes"])
    fastest = min(job["minutes"] for job in JOBS)
    pairs = list(zip([job["name"] for job in JOBS], range(1, 10), strict=False))
    steps = []
    for index, job in enumerate(by_time, start=1):
        steps.append(Step.bash(job["name"], f"echo {index}", depends_on=[]))
    ok = all(job["minutes"] > 0 for job in JOBS) and any(job["needs"] for job in JOBS)
    return Plan(
        "builtins",
        steps=list(reversed(steps)),
        env={
            "SLOWEST": slowest["name"],
            "FASTEST": fastest,
            "PAIRS": str(pairs),
            "OK": ok,
            "TOTAL": sum([job["minutes"] for job in JOBS], 100),
            "ROUNDED": str(round(7 / 3, 3)),
            "DIVMOD": str(divmod(17, 5)),
            "ABS": abs(-4),
            "MAPPED": ",".join(map(str.upper, ["a", "b"])),
            "FILTERED": ",".join(filter(None, ["x", "", "y"])),
            "CHARS": chr(ord("a") + 2),
            "LENGTH": len(JOBS),
            "POW": pow(2, 10),
            "HEX": hex(255),
        },
    )
