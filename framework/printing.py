"""`repr(tensor)` exactly as PyTorch prints it, and `set_printoptions`.

The algorithm follows torch/_tensor_str.py: one formatter is fitted to every
value that will be shown (the edges only, when summarized), so all columns
share one width, one notation and one precision.
"""
import math

import numpy as np

from . import dtypes

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}
_options = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None):
    """PyTorch's semantics: a profile sets its four values first, explicit
    arguments override it, and sci_mode is always overwritten (None means auto)."""
    if profile is not None:
        _options.update(_PROFILES[profile])
    given = dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth)
    _options.update({name: value for name, value in given.items() if value is not None})
    _options["sci_mode"] = sci_mode


def get_printoptions():
    """The current options, as keyword arguments `set_printoptions` accepts."""
    return dict(_options)


class _Formatter:
    """Chooses width and notation from the values that will be printed."""

    def __init__(self, values, is_float):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        precision = _options["precision"]
        if not is_float:
            self.max_width = max([1] + [len(str(v)) for v in values.ravel().tolist()])
            return
        flat = values.ravel()
        shown = flat[np.isfinite(flat) & (flat != 0)]  # zeros, nan and inf do not decide the layout
        if shown.size == 0:
            return
        smallest, largest = np.abs(shown).min(), np.abs(shown).max()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if _options["sci_mode"] is None:
            self.sci_mode = bool(largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4)
        else:
            self.sci_mode = _options["sci_mode"]
        if self.sci_mode:
            widths = (len(f"{v:.{precision}e}") for v in shown.tolist())
        elif self.int_mode:
            widths = (len(f"{v:.0f}") + 1 for v in shown.tolist())  # +1 for the trailing '.'
        else:
            widths = (len(f"{v:.{precision}f}") for v in shown.tolist())
        self.max_width = max(widths)

    def format(self, value):
        precision = _options["precision"]
        if not self.is_float:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."  # marks an integer-valued float as floating
        else:
            text = f"{value:.{precision}f}"
        return text.rjust(self.max_width)


def _edge_indices(n, edgeitems):
    return np.concatenate([np.arange(edgeitems), np.arange(n - edgeitems, n)]).astype(np.intp)


def _summarized(values):
    """Only the values a summarized print shows: edgeitems from each end of every long dim."""
    edgeitems = _options["edgeitems"]
    for axis, n in enumerate(values.shape):
        if n > 2 * edgeitems:
            values = np.take(values, _edge_indices(n, edgeitems), axis=axis)
    return values


def _format_vector(values, indent, summarize, formatter):
    edgeitems = _options["edgeitems"]
    per_line = max(1, math.floor((_options["linewidth"] - indent) / (formatter.max_width + 2)))
    if summarize and not edgeitems:
        items = ["..."]
    elif summarize and len(values) > 2 * edgeitems:
        items = ([formatter.format(v) for v in values[:edgeitems].tolist()] + [" ..."]
                 + [formatter.format(v) for v in values[-edgeitems:].tolist()])
    else:
        items = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _format_nested(values, indent, summarize, formatter):
    if values.ndim == 0:
        return formatter.format(values.item())
    if values.ndim == 1:
        return _format_vector(values, indent, summarize, formatter)
    n, edgeitems = len(values), _options["edgeitems"]
    if summarize and n > 2 * edgeitems:
        rows = list(range(edgeitems)) + ["..."] + list(range(n - edgeitems, n))
    else:
        rows = range(n)
    blocks = ["..." if i == "..." else _format_nested(values[i], indent + 1, summarize, formatter)
              for i in rows]
    # One blank line fewer than the block's rank separates blocks: none for rows of a matrix.
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(blocks) + "]"


def _format_values(values, is_float, indent):
    summarize = values.size > _options["threshold"]
    formatter = _Formatter(_summarized(values) if summarize else values, is_float)
    return _format_nested(values, indent, summarize, formatter)


def _join_suffixes(text, suffixes, indent):
    """Appends `, suffix` items, moving one to a new line when it would pass linewidth."""
    # PyTorch's count: one more than the last line's length plus its newline.
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _options["linewidth"]:
            text += ",\n" + " " * indent + suffix
            last_line_len = indent + len(suffix)
        else:
            text += ", " + suffix
            last_line_len += len(suffix) + 2
    return text + ")"


def tensor_repr(t):
    """What PyTorch's `repr(tensor)` prints, with `framework.` for `torch.`."""
    # Plain tensors (and Parameters, which prepend their own header) print as
    # `tensor(`; other subclasses print their class name, as in PyTorch.
    name = type(t).__name__
    prefix = "tensor(" if name in ("Tensor", "Parameter") else f"{name}("
    indent = len(prefix)
    dtype, device = t._dtype, t._device
    default_float = dtypes.get_default_dtype()
    suffixes = []
    if device.type != "cpu":
        suffixes.append(f"device='{device.type}:{device.index or 0}'")
    host = np.asarray(t._host())
    if host.size == 0:
        body = "[]"
        if host.ndim != 1:
            suffixes.append(f"size={tuple(host.shape)}")
        if dtype is not default_float:  # nothing to infer the dtype from, so even int64 shows it
            suffixes.append(f"dtype=torch.{dtype.name}")
    else:
        if not _options["edgeitems"]:
            suffixes.append(f"size={tuple(host.shape)}")
        if dtype not in (default_float, dtypes.int64, dtypes.bool):
            suffixes.append(f"dtype=torch.{dtype.name}")
        # Floats are laid out from their exact float64 values, as PyTorch's item() gives them.
        values = host.astype(np.float64) if dtype.is_floating_point else host
        body = _format_values(values, dtype.is_floating_point, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    # Suffixes are measured for line wrapping as PyTorch spells them, so the
    # layout matches its output exactly; only then is `torch.` renamed.
    return _join_suffixes(prefix + body, suffixes, indent).replace("torch.", "framework.")
