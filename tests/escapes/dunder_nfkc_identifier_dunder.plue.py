# technique: an NFKC identifier `__𝒸lass__` (normalises to `__class__`)
# expect: forbidden
def workflow():
    return ().__𝒸lass__  # <-
