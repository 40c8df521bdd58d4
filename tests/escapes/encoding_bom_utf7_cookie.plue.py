# technique: a UTF-8 BOM followed by a utf-7 coding cookie
# coding: utf-7  # <-
# expect: input
# +AAo-import os
def workflow():
    return Plan('x')
