# technique: fullwidth `＿＿class＿＿` attribute name (NFKC would make it `__class__`)
# expect: syntax|forbidden
def workflow():
    return ().＿＿class＿＿  # <-
