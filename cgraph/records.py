"""`Record` and `Frozen`: the base of cgraph's small data classes.

A dataclass costs about 0.3 ms to define (it compiles its generated methods
with exec), and `cgraph grad "(a+b)*(b-c)"` is judged on its cold start:
with 29 AST node classes alone, dataclasses were the largest part of
importing cgraph. A subclass here lists its fields in `__slots__`, its
defaults in `_defaults` (values) and `_factories` (callables making a fresh
default, like `dict`); construction, equality, repr and `replace` are shared.
`Frozen` records are also immutable and hashable.

A record with no defaults, factories or `__post_init__` (spans and AST nodes:
a long source makes a million) gets a constructor of its own that sets its
fields straight through their slots when it is given all of them by position
(~0.4 µs, against ~1 µs for the shared one, which serves every other call).
"""
from __future__ import annotations


def _fast_init(cls):
    """A constructor for `cls` taking every field by position, else the shared one."""
    names, slow = cls.__slots__, Record.__init__
    n = len(names)
    if not n or n > 6 or cls._defaults or cls._factories or hasattr(cls, "__post_init__"):
        return slow
    put = [getattr(cls, name).__set__ for name in names] + [None] * (6 - n)
    p0, p1, p2, p3, p4, p5 = put
    if n == 1:
        def init(self, *args, **kw):
            if kw or len(args) != 1:
                return slow(self, *args, **kw)
            p0(self, args[0])
    elif n == 2:
        def init(self, *args, **kw):
            if kw or len(args) != 2:
                return slow(self, *args, **kw)
            a, b = args
            p0(self, a)
            p1(self, b)
    elif n == 3:
        def init(self, *args, **kw):
            if kw or len(args) != 3:
                return slow(self, *args, **kw)
            a, b, c = args
            p0(self, a)
            p1(self, b)
            p2(self, c)
    elif n == 4:
        def init(self, *args, **kw):
            if kw or len(args) != 4:
                return slow(self, *args, **kw)
            a, b, c, d = args
            p0(self, a)
            p1(self, b)
            p2(self, c)
            p3(self, d)
    elif n == 5:
        def init(self, *args, **kw):
            if kw or len(args) != 5:
                return slow(self, *args, **kw)
            a, b, c, d, e = args
            p0(self, a)
            p1(self, b)
            p2(self, c)
            p3(self, d)
            p4(self, e)
    else:
        def init(self, *args, **kw):
            if kw or len(args) != 6:
                return slow(self, *args, **kw)
            a, b, c, d, e, f = args
            p0(self, a)
            p1(self, b)
            p2(self, c)
            p3(self, d)
            p4(self, e)
            p5(self, f)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class Record:
    __slots__ = ()
    _defaults: dict = {}
    _factories: dict = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _fast_init(cls)

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} fields, got {len(args)}")
        put = object.__setattr__
        for name, value in zip(names, args):
            put(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                put(self, name, kwargs.pop(name))
            elif name in self._defaults:
                put(self, name, self._defaults[name])
            elif name in self._factories:
                put(self, name, self._factories[name]())
            else:
                raise TypeError(f"{type(self).__name__}() is missing {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() has no field {next(iter(kwargs))!r}")
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def fields(self) -> tuple:
        """(name, value) for every field, in order."""
        return tuple((n, getattr(self, n)) for n in self.__slots__)

    def replace(self, **changes):
        """A copy with some fields changed."""
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # mutable: not hashable

    def __reduce__(self):  # for the worker processes of `cgraph batch --jobs`
        return type(self), tuple(getattr(self, n) for n in self.__slots__)

    def __repr__(self):
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"


class Frozen(Record):
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    __delattr__ = __setattr__

    def __hash__(self):
        return hash((type(self).__name__,) + tuple(getattr(self, n) for n in self.__slots__))
