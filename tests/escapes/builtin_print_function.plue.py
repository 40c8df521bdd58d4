# technique: `print(function)`: printing writes str() of the value
# expect: forbidden
def workflow():
    print(workflow)  # <-
    return Plan("x")
