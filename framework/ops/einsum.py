"""einsum: every form PyTorch accepts (implicit or explicit output, ellipsis, repeated labels, sublists),
computed the way PyTorch computes it, so its numbers, errors and node names come out:

1. every operand becomes a view over one common label order (output labels first, then the contracted ones):
   a label repeated within an operand takes the diagonal, a label it lacks is an unsqueezed size-1 dim;
2. operands contract left to right, two at a time: dims no later operand needs are summed first where only one
   side has them, the rest go through one batched matmul (permute and reshape to (batch, m, k) @ (batch, k, n)),
   never through an elementwise product of everything;
3. the contracted dims (size 1 by then) are viewed away, or summed when there was one operand.
"""
from ..tensor import Tensor
from . import elementwise, linalg, matrix, reduction, shape

_LETTERS = 26
_ELLIPSIS = 2 * _LETTERS  # a label code past the 52 letters


def _code(letter):
    """A-Z as 0-25, a-z as 26-51: the order of labels in an implicit output."""
    return ord(letter) - ord("A") if letter.isupper() else ord(letter) - ord("a") + _LETTERS


def _letter(code):
    return chr(ord("A") + code) if code < _LETTERS else chr(ord("a") + code - _LETTERS)


def _sublist_equation(args):
    """einsum(op0, [labels], op1, [labels], ..., [output labels]) as an equation and operands."""
    def subscripts(sublist):
        out = []
        for label in sublist:
            if label is Ellipsis:
                out.append("...")
            elif isinstance(label, int) and 0 <= label < 2 * _LETTERS:
                out.append(_letter(label))
            else:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
        return "".join(out)
    operands = list(args[0::2][:len(args) // 2])
    terms = [subscripts(s) for s in args[1::2]]
    equation = ",".join(terms)
    if len(args) % 2:
        equation += "->" + subscripts(args[-1])
    return equation, operands


def _parse_terms(lhs, num_ops):
    """The label codes of each operand (_ELLIPSIS for '...'), with PyTorch's checks and messages."""
    labels = [[]]
    seen_ellipsis = False
    i = 0
    while i < len(lhs):
        char = lhs[i]
        if char == " ":
            pass
        elif char == ".":
            if seen_ellipsis:
                raise RuntimeError(f"einsum(): found '.' for operand {len(labels) - 1} for which an ellipsis was "
                                   "already found")
            if not (i + 2 < len(lhs) and lhs[i + 1] == "." and lhs[i + 2] == "."):
                raise RuntimeError(f"einsum(): found '.' for operand {len(labels) - 1} that is not part of any "
                                   "ellipsis")
            i += 2
            labels[-1].append(_ELLIPSIS)
            seen_ellipsis = True
        elif char == ",":
            labels.append([])
            if len(labels) > num_ops:
                raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
            seen_ellipsis = False
        elif char.isascii() and char.isalpha():
            labels[-1].append(_code(char))
        else:
            raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation string, subscripts "
                               "must be in [a-zA-Z]")
        i += 1
    if len(labels) != num_ops:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    return labels


def _output_positions(equation, arrow, label_count, ell_num_dim):
    """(position of each label in the common order, first ellipsis position, number of output dims,
    total dims): output labels and ellipsis first, then the contracted ones."""
    position = {}
    if arrow < 0:  # implicit: the ellipsis, then the labels seen once, alphabetically (A-Z before a-z)
        ell_index, next_index = 0, ell_num_dim
        for code in sorted(label_count):
            if label_count[code] == 1:
                position[code] = next_index
                next_index += 1
        ell_in_output = True
    else:
        rhs = equation[arrow + 2:]
        ell_index, next_index, ell_in_output = 0, 0, False
        i = 0
        while i < len(rhs):
            char = rhs[i]
            if char == " ":
                pass
            elif char == ".":
                if ell_in_output:
                    raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was already found")
                if not (i + 2 < len(rhs) and rhs[i + 1] == "." and rhs[i + 2] == "."):
                    raise RuntimeError("einsum(): found '.' for output that is not part of any ellipsis (...)")
                i += 2
                ell_index, next_index, ell_in_output = next_index, next_index + ell_num_dim, True
            elif char.isascii() and char.isalpha():
                code = _code(char)
                if code in position:
                    raise RuntimeError(f"einsum(): output subscript {char} appears more than once in the output")
                if code not in label_count:
                    raise RuntimeError(f"einsum(): output subscript {char} does not appear in the equation for any "
                                       "input operand")
                position[code] = next_index
                next_index += 1
            else:
                raise RuntimeError(f"einsum(): invalid subscript given at index {arrow + 2 + i} in the equation "
                                   "string, subscripts must be in [a-zA-Z]")
            i += 1
    out_num_dim = next_index
    if not ell_in_output:
        ell_index, next_index = next_index, next_index + ell_num_dim
    for code in sorted(label_count):
        if code not in position:
            position[code] = next_index
            next_index += 1
    return position, ell_index, out_num_dim, next_index


def _aligned(op, i, labels, position, ell_index, ell_num_dim, total, label_size, ell_sizes, dim_counts):
    """Operand `op` as a view over the common order: diagonals for repeated labels, size-1 dims for missing ones."""
    permutation = [-1] * total
    dim = 0
    for code in labels:
        if code == _ELLIPSIS:
            covered = op.ndim - (len(labels) - 1)
            for j in range(ell_num_dim - covered, ell_num_dim):
                size = op._data.shape[dim]
                if size != 1:
                    if ell_sizes[j] not in (1, size):
                        raise RuntimeError(f"einsum(): dimension {dim} covered by ellipsis in operand {i}has size "
                                           f"{size} which does not broadcast with previously seen ellipsis with size "
                                           f"{ell_sizes[j]} for the respective dimension")
                    ell_sizes[j] = size
                    dim_counts[ell_index + j] += 1
                permutation[ell_index + j] = dim
                dim += 1
        elif permutation[position[code]] == -1:
            size = op._data.shape[dim]
            if size != 1:
                if label_size.get(code, 1) not in (1, size):
                    raise RuntimeError(f"einsum(): subscript {_letter(code)} has size {size} for operand {i} which "
                                       f"does not broadcast with previously seen size {label_size[code]}")
                label_size[code] = size
                dim_counts[position[code]] += 1
            permutation[position[code]] = dim
            dim += 1
        else:  # a repeated label: its diagonal, in the place of the first occurrence
            previous = permutation[position[code]]
            size, previous_size = op._data.shape[dim], op._data.shape[previous]
            if size != previous_size:
                raise RuntimeError(f"einsum(): subscript {_letter(code)} is repeated for operand {i} but the sizes "
                                   f"don't match, {size} != {previous_size}")
            op = shape.movedim(matrix.diagonal(op, 0, previous, dim), -1, previous)
    for k, value in enumerate(permutation):
        if value == -1:
            op = shape.unsqueeze(op, dim)
            permutation[k] = dim
            dim += 1
    return shape.permute(op, permutation)


def _sum_keepdim(x, dims):
    return reduction.sum(x, dims, keepdim=True) if dims else x


def _sumproduct_pair(left, right, sum_dims):
    """sum(left * right) over `sum_dims` (kept as size 1), through one bmm; both have the common order of dims."""
    if not sum_dims:
        return elementwise.mul(left, right)
    lro, lo, ro = [], [], []
    lro_size = lo_size = ro_size = sum_size = 1
    for d in range(left.ndim):
        size_l, size_r = left._data.shape[d], right._data.shape[d]
        in_left, in_right = size_l != 1, size_r != 1
        if d in sum_dims:
            if in_left and in_right:
                if size_l != size_r:
                    raise RuntimeError("non-broadcast dimensions must match")
                sum_size *= size_l
            elif in_left:
                left = _sum_keepdim(left, [d])
            elif in_right:
                right = _sum_keepdim(right, [d])
        elif in_left and in_right:
            if size_l != size_r:
                raise RuntimeError("non-broadcast dimensions must match")
            lro.append(d)
            lro_size *= size_l
        elif in_left:
            lo.append(d)
            lo_size *= size_l
        else:
            ro.append(d)
            ro_size *= size_r
    out_size = [left._data.shape[d] for d in lro] + [left._data.shape[d] for d in lo] + [1] * len(sum_dims) + \
        [right._data.shape[d] for d in ro]
    order = lro + lo + list(sum_dims) + ro
    a = shape.reshape(shape.permute(left, order), lro_size, lo_size, sum_size)
    b = shape.reshape(shape.permute(right, lro + list(sum_dims) + ro + lo), lro_size, sum_size, ro_size)
    inverse = [0] * len(order)
    for k, d in enumerate(order):
        inverse[d] = k
    return shape.permute(shape.view(linalg.bmm(a, b), out_size), inverse)


def einsum(*args):
    """Sum of products of the operands' elements over the labels the output leaves out, by the equation's rules
    (`einsum('ij,jk->ik', a, b)`), or in sublist form (`einsum(a, [0, 1], b, [1, 2], [0, 2])`)."""
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, or at least one "
                         "operand and its subscripts list")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for k, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): expected Tensor as element {k} in argument 1, but got {type(op).__name__}")
    arrow = equation.find("->")
    labels = _parse_terms(equation if arrow < 0 else equation[:arrow], len(operands))
    label_count, ell_num_dim = {}, 0
    for i, (op, op_labels) in enumerate(zip(operands, labels)):
        n_labels = sum(1 for code in op_labels if code != _ELLIPSIS)
        has_ellipsis = _ELLIPSIS in op_labels
        for code in op_labels:
            if code != _ELLIPSIS:
                label_count[code] = label_count.get(code, 0) + 1
        if has_ellipsis:
            ell_num_dim = max(ell_num_dim, op.ndim - n_labels)
        if (n_labels > op.ndim) if has_ellipsis else (n_labels != op.ndim):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_labels}) "
                               + ("is more than" if has_ellipsis else "does not match") +
                               f" the number of dimensions ({op.ndim}) for operand {i}"
                               + ("" if has_ellipsis else " and no ellipsis was given"))
    position, ell_index, out_num_dim, total = _output_positions(equation, arrow, label_count, ell_num_dim)
    dtype = operands[0]._dtype
    for op in operands[1:]:
        if op._dtype is not dtype:
            raise RuntimeError(f"expected scalar type {dtype.scalar_name} but found {op._dtype.scalar_name}")
    label_size, ell_sizes, dim_counts = {}, [1] * ell_num_dim, [0] * total
    ops = [_aligned(op, i, op_labels, position, ell_index, ell_num_dim, total, label_size, ell_sizes, dim_counts)
           for i, (op, op_labels) in enumerate(zip(operands, labels))]
    while len(ops) > 1:
        a, b = ops.pop(0), ops.pop(0)
        sum_dims, a_only, b_only = [], [], []
        for d in range(out_num_dim, total):
            size_a, size_b = a._data.shape[d], b._data.shape[d]
            if size_a != 1 and size_b != 1:
                dim_counts[d] -= 1
                if dim_counts[d] == 1:
                    sum_dims.append(d)
                    dim_counts[d] = 0
            elif dim_counts[d] == 1:
                if size_a != 1:
                    a_only.append(d)
                    dim_counts[d] = 0
                elif size_b != 1:
                    b_only.append(d)
                    dim_counts[d] = 0
        ops.insert(0, _sumproduct_pair(_sum_keepdim(a, a_only), _sum_keepdim(b, b_only), sum_dims))
    result = ops[0]
    if total > out_num_dim:
        if len(operands) > 1:  # the contracted dims are all size 1 now
            return shape.view(result, result._data.shape[:out_num_dim])
        return reduction.sum(result, list(range(out_num_dim, total)))
    return result


__all__ = ["einsum"]
