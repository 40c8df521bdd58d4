# ctx: manual
from plue import Plan, PlanError, Step


def parse_count(text, default):
    try:
        return int(text)
    except ValueError:
        return default
    finally:
        pass


def workflow(ctx):
    count = parse_count(ctx.inputs.get("count", "x"), 2)
    bad = parse_count("not a number", -1)
    try:
        Step.bash("Bad Id!", "echo")
        problem = "none"
    except PlanError as error:
        problem = "caught: " + error.args[0][:20]
    try:
        {}["missing"]
    except KeyError as error:
        missing = str(error)
    else:
        missing = "no"
    steps = [Step.bash(f"part-{i}", "true") for i in range(count)]
    return Plan("errors", steps=steps, env={"BAD": bad, "PROBLEM": problem, "MISSING": missing})
