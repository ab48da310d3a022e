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

_SKIP = ("__dict__", "__weakref__", "__annotations__")


def record(cls: type) -> type:
    """A namedtuple class with ``cls``'s annotated fields (in order), their
    defaults, and everything else ``cls`` defines."""
    fields = list(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[name] for name in fields if name in cls.__dict__]
    base = collections.namedtuple(cls.__name__, fields, defaults=defaults,
                                  module=cls.__module__)
    body = {key: value for key, value in cls.__dict__.items()
            if key not in fields and key not in _SKIP}
    body["__slots__"] = ()
    body["__annotations__"] = cls.__dict__.get("__annotations__", {})
    return type(cls.__name__, (base,), body)
