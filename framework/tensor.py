"""The Tensor: a backend array (numpy on the CPU) plus dtype, device and autograd state.

Every computation goes through `framework.ops`, whose ops run registered
kernel pairs; this class only holds state and spells PyTorch's method names.
"""
import builtins
import weakref

import numpy as np

from . import dtypes
from .autograd import function as _function
from .autograd.graph import AccumulateGrad
from .autograd.grad_mode import is_grad_enabled
from .backends.device_backend import backend_for
from .device import CPU, device as _device_cls
from .graphs import recording as _recording

_BY_NUMPY = dtypes._BY_NUMPY
# backend array type -> the device its arrays live on (a backend adds its type when it loads)
RAW_DEVICES = {}


class Size(tuple):
    """`framework.Size`: a tuple of ints that prints as `framework.Size([2, 3])`."""

    __slots__ = ()

    def __repr__(self):
        return f"framework.Size([{', '.join(str(s) for s in self)}])"

    __str__ = __repr__

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __reduce__(self):
        return (Size, (tuple(self),))


class Tensor:
    __slots__ = ("_data", "_dtype", "_device", "_requires_grad", "grad", "grad_fn", "_output_nr",
                 "_version_counter", "_base", "_base_grad_fn", "_accumulator", "_retains_grad", "__weakref__")

    # numpy defers binary operators to the operand with the higher priority: `np.float64(2) * t` is a Tensor
    __array_priority__ = 1000

    def __init__(self, *args, **kwargs):
        # Legacy constructor: framework.Tensor([1, 2]) is a float tensor; Tensor(2, 3) is uninitialised.
        from .creation import empty, tensor
        if len(args) == 1 and not isinstance(args[0], int):
            made = tensor(args[0], dtype=dtypes.get_default_dtype(), **kwargs)
        else:
            made = empty(*args, **kwargs)
        self._init_from(made._data, made._device)

    def _init_from(self, data, device):
        self._data = data
        self._dtype = _BY_NUMPY[data.dtype]
        self._device = device
        self._requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._version_counter = [0]
        self._base = None
        self._base_grad_fn = None  # for a view: its base's grad_fn when this view's history was made
        self._accumulator = None
        self._retains_grad = False

    @staticmethod
    def _from_raw(data, device=CPU):
        """Wrap a backend array (not copied) in a new Tensor."""
        t = object.__new__(Tensor)
        if device is CPU and type(data) is not np.ndarray:
            found = RAW_DEVICES.get(type(data))
            if found is not None:
                device = found
            else:
                data = np.asarray(data)  # numpy ufuncs turn 0-d arrays into scalars
        t._init_from(data, device)
        return t

    def _wrap_like(self, data):
        return Tensor._from_raw(data, self._device)

    @staticmethod
    def _zeros(shape, dtype, device):
        from .creation import zeros
        return zeros(shape, dtype=dtype, device=device)

    # ---- metadata -----------------------------------------------------------

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._dtype.itemsize

    @property
    def itemsize(self):
        return self._dtype.itemsize

    @property
    def nbytes(self):
        return self._data.size * self._dtype.itemsize

    def stride(self, dim=None):
        item = self._dtype.itemsize
        strides = tuple(s // item for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim)]

    def storage_offset(self):
        from .ops.shape import storage_offset
        return storage_offset(self)

    def data_ptr(self):
        """The address of the first element (on the host for cpu, on the device for cuda); 0 with no elements."""
        if self._data.size == 0:
            return 0
        return self._data.ctypes.data if isinstance(self._data, np.ndarray) else self._data.data_ptr()

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    def is_floating_point(self):
        return self._dtype.is_floating_point

    def is_complex(self):
        return False

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
            return self
        if requires_grad and not (self._dtype.is_floating_point):
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self):
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None and not self._retains_grad:
            self.grad_fn.retain(self._output_nr, self)
            self._retains_grad = True

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_hook(self._output_nr, hook)
        node = self._grad_accumulator()
        # The graph holds a leaf's accumulator only while it is being built; a hook must outlive that.
        self._accumulator = lambda: node
        return node.register_hook(0, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """`hook(tensor)` runs after a backward pass accumulates into this leaf's .grad; it returns None."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        from .autograd.graph import _HookHandle
        node = self._grad_accumulator()
        self._accumulator = lambda: node  # as register_hook: the hook outlives the graph that holds the node
        if node.post_hooks is None:
            node.post_hooks = []
        node.post_hooks.append(hook)
        return _HookHandle(node.post_hooks, hook)

    def _refresh_view_history(self):
        from .ops.shape import refresh_view_history
        refresh_view_history(self)

    def _grad_accumulator(self):
        node = self._accumulator() if self._accumulator is not None else None
        if node is None:
            node = AccumulateGrad(self)
            self._accumulator = weakref.ref(node)
        return node

    @property
    def _version(self):
        return self._version_counter[0]

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if _recording.LIVE:
            _recording.released(self._data, value._data.shape)  # a captured graph holding the old buffer refuses
        self._data = value._data
        self._dtype = value._dtype
        self._device = value._device

    @property
    def T(self):
        if self._data.ndim not in (0, 2):
            import warnings
            warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                          "deprecated and it will throw an error in a future release.", UserWarning, stacklevel=2)
        return self.permute(*range(self._data.ndim - 1, -1, -1))

    @property
    def mT(self):
        if self._data.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self._data.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def H(self):
        return self.T

    # ---- conversion ---------------------------------------------------------

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._host().reshape(()).item() if self._dtype is not dtypes.bfloat16 else builtins.float(self._host().reshape(()))

    def tolist(self):
        host = self._host()
        if self._dtype is dtypes.bfloat16:
            host = host.astype(np.float32)
        return host.tolist()

    def numpy(self, *, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if _recording.ACTIVE is not None:
            _recording.refuse_host_read()  # a value read during a graph capture would be stale at replay
        if self._device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self._device.type}:{self._device.index or 0} device type tensor to "
                                "numpy. Use Tensor.cpu() to copy the tensor to host memory first.")
            return self._host()
        return self._data

    def __array__(self, dtype=None, copy=None):
        # PyTorch's: numpy() (a view on the CPU; its errors for tensors that require grad or live on a GPU)
        array = self.numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(f"Unable to avoid copy while creating an array as requested: converting "
                                 f"{self._dtype} to numpy.{np.dtype(dtype).name}")
            return array.astype(dtype)
        return array.copy() if copy else array

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule sharing this tensor's memory (framework/utils/dlpack.py)."""
        from .utils.dlpack import export
        return export(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self):
        from .utils.dlpack import dlpack_device
        return dlpack_device(self)

    def _host(self):
        """The data as a numpy array on the host (a view on the CPU, a copy from a GPU)."""
        if _recording.ACTIVE is not None:
            _recording.refuse_host_read()
        return backend_for(self._device).to_host(self._data)

    def to(self, *args, **kwargs):
        from .ops.shape import to
        return to(self, *args, **kwargs)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to(_device_cls("cuda" if device is None else device))

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def short(self):
        return self.to(dtypes.int16)

    def char(self):
        return self.to(dtypes.int8)

    def byte(self):
        return self.to(dtypes.uint8)

    def bool(self):
        return self.to(dtypes.bool)

    def type_as(self, other):
        return self.to(other._dtype)

    def type(self, dtype=None):
        if dtype is None:
            cuda = "cuda." if self._device.type == "cuda" else ""
            return f"framework.{cuda}{self._dtype.scalar_name}Tensor"
        return self.to(dtype)

    def detach(self):
        from .ops.shape import detach
        return detach(self)

    def detach_(self):
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ---- printing -----------------------------------------------------------

    def __repr__(self):
        from .printing import tensor_repr
        return tensor_repr(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else repr(self)

    # ---- Python protocol ----------------------------------------------------

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self._scalar())

    def __int__(self):
        return builtins.int(self._scalar())

    def __index__(self):
        if self._dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def _scalar(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.item()

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self._host().copy(), str(self._device), self._requires_grad))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                               "because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        new = type(self).__new__(type(self))
        Tensor._init_from(new, self.clone()._data, self._device)
        new._requires_grad = self._requires_grad
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new

    # ---- autograd -----------------------------------------------------------

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def typename(obj):
    """PyTorch's `torch.typename`: `framework.FloatTensor`, `int`, `collections.OrderedDict`."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def _rebuild(host, device, requires_grad):
    from .creation import tensor
    return tensor(host, device=device, requires_grad=requires_grad)


def _wrap_dim(dim, ndim):
    """PyTorch's dimension wrapping: -1 is the last dim; out of range is an IndexError."""
    rank = ndim if ndim > 0 else 1
    if not -rank <= dim < rank:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})")
    return dim + rank if dim < 0 else dim


_function.Tensor = Tensor
