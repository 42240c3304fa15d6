"""`framework.return_types`: PyTorch's named result tuples (`torch.return_types.sort(values=..., indices=...)`).

Each is a namedtuple class named as PyTorch names it, living in this module, that prints as PyTorch prints it:

    framework.return_types.sort(
    values=tensor([1., 2.]),
    indices=tensor([1, 0]))
"""
import collections


def _named_result(name, fields=("values", "indices")):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = __name__
    cls.__qualname__ = name

    def __repr__(self):
        items = ",\n".join(f"{field}={value!r}" for field, value in zip(fields, self))
        return f"framework.return_types.{name}(\n{items})"

    cls.__repr__ = __repr__
    return cls


max = _named_result("max")  # noqa: A001
min = _named_result("min")  # noqa: A001
sort = _named_result("sort")
topk = _named_result("topk")
kthvalue = _named_result("kthvalue")
median = _named_result("median")
nanmedian = _named_result("nanmedian")
mode = _named_result("mode")
cummax = _named_result("cummax")
cummin = _named_result("cummin")
