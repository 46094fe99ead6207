"""Pure reconciliation logic: what an object looks like now in, what to do about it out.

Handlers observe (the object, kopf's indexes of Jobs and pods), call these functions, and carry
out the result: a status patch, Events, and a few child writes.
"""
