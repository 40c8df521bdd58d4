# technique: `match` class pattern `case object(__class__=c)` (reads attributes natively)
# expect: forbidden
def workflow():
    match ():  # <-
        case object(__class__=c):
            return c
