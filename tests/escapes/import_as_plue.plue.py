# technique: `import os as plue` hiding a forbidden module under the allowed name
# expect: forbidden
import os as plue  # <-


def workflow():
    return plue.Plan("x")
