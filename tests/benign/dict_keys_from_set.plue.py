# ctx: none
from plue import Plan, Step

# Dict keys built from a set: insertion order follows the set's iteration order.
LANGUAGES = {"python", "rust", "go", "typescript", "java", "ruby", "elixir"}


def workflow():
    owners = {lang: f"team-{lang[:3]}" for lang in LANGUAGES}
    index = dict.fromkeys(LANGUAGES, 0)
    for i, lang in enumerate(owners):
        index[lang] = i
    return Plan(
        "dict-from-set",
        steps=[Step.bash(f"lint-{lang}", f"lint {lang}", env={"OWNER": owners[lang]}) for lang in owners],
        env={"INDEX": ",".join(f"{k}:{v}" for k, v in index.items())},
    )
