# technique: frame walk with computed names (`tb_frame`, `f_back`, `f_globals`)
# expect: forbidden
def workflow():
    try:
        1 / 0
    except ZeroDivisionError as e:
        tb = getattr(e, "with_traceback")  # <-
        return tb
