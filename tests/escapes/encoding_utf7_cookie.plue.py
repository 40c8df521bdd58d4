# technique: a utf-7 coding cookie turning a comment into code (`+AAo-` is a newline)
# -*- coding: utf-7 -*-  # <-
# expect: input
# +AAo-import os+AAo-os.system('id')
def workflow():
    return Plan('x')
