# technique: reach codecs.open via an encoding lookup
# expect: runtime
def workflow():
    return Plan("x".encode("rot13"))  # <-
