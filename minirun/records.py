"""Immutable records written as annotated classes, without ``typing``.

The runtime's parsed ``config.json`` and the kernel seam's small values are
records: immutable, built with keywords, compared by value, with
``_replace`` for a changed copy.  ``typing.NamedTuple`` makes exactly these,
but importing ``typing`` and building classes through it costs about 3 ms
on every container start, where runc's whole start is about 25 ms.  This
decorator builds the same ``collections.namedtuple`` from the class's own
annotations and defaults, keeping its methods and docstring::

    @record
    class Mount:
        destination: str
        options: tuple[str, ...] = ()

See: collections.namedtuple in the Python library reference.
"""
import collections

_SKIP = ("__dict__", "__weakref__", "__annotations__", "__module__", "__qualname__",
         "__slots__")


def record(cls: type) -> type:
    """A namedtuple class with ``cls``'s annotated fields (in order), their
    defaults, and everything else ``cls`` defines, set on the namedtuple
    itself (a subclass would cost another class per record, and a start
    parses some thirty of them).  ``_keywords_only = True`` in ``cls``: the
    record is built by keyword only."""
    annotations = cls.__dict__.get("__annotations__", {})
    fields = list(annotations)
    defaults = [cls.__dict__[name] for name in fields if name in cls.__dict__]
    made = collections.namedtuple(cls.__name__, fields, defaults=defaults,
                                  module=cls.__module__)
    for key, value in cls.__dict__.items():
        if key not in fields and key not in _SKIP and key != "_keywords_only":
            setattr(made, key, value)
    made.__annotations__ = annotations
    made.__qualname__ = cls.__qualname__
    if cls.__dict__.get("_keywords_only"):
        positional = made.__new__

        def __new__(cls, **fields):
            return positional(cls, **fields)
        made.__new__ = staticmethod(__new__)
    return made
