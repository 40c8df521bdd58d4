# technique: plain `import os`
# expect: forbidden
import os  # <-


def workflow():
    return os.system("id")
