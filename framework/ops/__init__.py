"""Every op as a function; `bind_tensor_methods` makes them Tensor methods and operators.

Each module owns one family and lists the names that are also Tensor methods
in `TENSOR_METHODS`, so `x.exp()` and `framework.exp(x)` are one function.
"""
from ..tensor import Tensor
from . import (combine, elementwise, factories, index_ops, indexing, inplace, linalg, matrix, products, rearrange,
               reduction, shape)
from . import quantile, sampling, scan, search, sorting, unique

_FAMILIES = (elementwise, shape, linalg, reduction, indexing, index_ops, rearrange, matrix, combine, products, factories,
             sorting, unique, scan, search, quantile, sampling)


def bind_tensor_methods():
    for module in _FAMILIES:
        for name in module.TENSOR_METHODS:
            setattr(Tensor, name, getattr(module, name))
    for name, fn in {**elementwise.OPERATORS, **linalg.OPERATORS, **indexing.OPERATORS}.items():
        setattr(Tensor, name, fn)
    for name, fn in inplace.INPLACE_METHODS.items():
        setattr(Tensor, name, fn)
    for dunder, name in inplace.AUGMENTED.items():
        setattr(Tensor, dunder, inplace.INPLACE_METHODS[name])


bind_tensor_methods()
