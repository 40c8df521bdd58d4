# technique: 100k env entries
# expect: limit
def workflow():
    return Plan("x", env={f"A{i}": "x" * 100 for i in range(100000)})
