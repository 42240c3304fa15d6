"""The replay plan: a capture's entries, less the copies a replay can skip, and the loop that runs them.

A replay copies each call's new output into the array the call returned at capture (its static buffer),
because tensors and later entries refer to that array. Where nothing but later entries refers to it -- no
tensor, no view, no saved context; CPython's reference count says so once the capture has ended -- the copy
is skipped: the new array itself is handed to the entries that read it, as an eager step hands it on. Only
numpy arrays are handed on: a cuda array's views share its storage without referring to the array, so the
count would not see them.
"""
import sys

import numpy as np

from .recording import copy_into


def make_plan(entries):
    """Steps `[fn, args, outputs, forwards]` from the recorder's entries (which are emptied: the count of
    references below must see the steps' own only). `args` is a list, so that forwarding can write into it;
    `outputs` lists (output index or None for a single output, static buffer); `forwards` lists (output index
    or None, ((args of a later step, position), ...))."""
    steps = []
    for fn, args, static, statics in entries:
        outputs = ((None, static),) if static is not None else statics
        steps.append([fn, list(args), outputs, None])
    entries.clear()
    held, nested, readers = _references(steps)
    for k, step in enumerate(steps):
        kept, forwards = [], []
        for i, buffer in step[2] or ():
            targets = readers.get(id(buffer), ())
            # held[...] + 2: the getrefcount argument and the loop's own name `buffer`
            private = (type(buffer) is np.ndarray and id(buffer) not in nested
                       and sys.getrefcount(buffer) == held[id(buffer)] + 2
                       and all(j > k for j, _ in targets)
                       and sum(b is buffer for _, b in step[2]) == 1)
            if private:
                if targets:
                    forwards.append((i, tuple((steps[j][1], position) for j, position in targets)))
            else:
                kept.append((i, buffer))
        buffer = None  # the count of the next step's outputs must not see this one
        step[2] = tuple(kept) or None
        step[3] = tuple(forwards) or None
    return steps


def _references(steps):
    """(references to each object held by the steps, by id; ids of objects found inside an argument that is a
    list or tuple; id -> [(step, position)] of the steps that take the object as an argument)."""
    held, nested, readers, containers = {}, set(), {}, set()
    for j, (_, args, outputs, _) in enumerate(steps):
        for position, a in enumerate(args):
            held[id(a)] = held.get(id(a), 0) + 1
            readers.setdefault(id(a), []).append((j, position))
            if type(a) in (tuple, list) and id(a) not in containers:
                containers.add(id(a))
                for x in a:
                    held[id(x)] = held.get(id(x), 0) + 1
                    nested.add(id(x))
        for _, b in outputs or ():
            held[id(b)] = held.get(id(b), 0) + 1
    return held, nested, readers


def replay(steps):
    """Run the steps in order: call, copy into the static buffers, hand the private outputs on."""
    copyto = np.copyto
    ndarray = np.ndarray
    for fn, args, outputs, forwards in steps:
        out = fn(*args)
        if outputs is not None:
            for i, buffer in outputs:
                value = out if i is None else out[i]
                if type(buffer) is ndarray:
                    copyto(buffer, value)
                else:
                    copy_into(buffer, value)
        if forwards is not None:
            for i, targets in forwards:
                value = out if i is None else out[i]
                if type(value) is not ndarray:
                    value = np.asarray(value)  # a numpy scalar (a 0-d reduction), as the capture made it
                for target, position in targets:
                    target[position] = value
