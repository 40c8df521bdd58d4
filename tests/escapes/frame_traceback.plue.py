# technique: an exception's `__traceback__.tb_frame.f_back.f_globals`
# expect: forbidden
def workflow():
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__traceback__.tb_frame  # <-
