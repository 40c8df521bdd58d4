# technique: doubling a string in a loop
# expect: memory|timeout
def workflow():
    text = "x"
    while True:
        text = text + text
