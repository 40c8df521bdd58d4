# technique: endless `print` of megabyte strings
# expect: timeout|cpu|memory
def workflow():
    while True:
        print("x" * 10**6)
