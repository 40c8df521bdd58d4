# technique: `except*` (exception groups)
# expect: forbidden
def workflow():
    try:  # <-
        pass
    except* ValueError as group:
        return group.exceptions
