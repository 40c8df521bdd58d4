# technique: an `async def` coroutine's `cr_frame`
# expect: forbidden
async def helper():  # <-
    return 1


def workflow():
    return helper().cr_frame
