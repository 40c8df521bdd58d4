# technique: a Plan subclass returned as the plan
# expect: forbidden
class MyPlan(Plan):  # <-
    pass


def workflow():
    return MyPlan("x")
