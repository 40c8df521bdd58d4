# technique: `import subprocess` to run a process
# expect: forbidden
import subprocess  # <-


def workflow():
    subprocess.run(["id"])
    return Plan("x")
