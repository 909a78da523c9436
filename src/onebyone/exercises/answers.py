"""Answers as data: what a student's notebook defined, carried by value from one process to another.

Why: the grader runs a notebook in one process and checks its answers in another that has never
run the notebook's code (:mod:`onebyone.exercises.checker`), so nothing the notebook patched can
reach the checks. Between the two only plain JSON travels:

- numbers, strings, tuples and lists by value, each of *exactly* its built-in type: an ``int``
  subclass whose ``__eq__`` always says yes, or a tensor subclass, arrives as ``unsupported``;
- tensors by dtype, shape and values (no pickle, so reading them back runs no code);
- a leaf module of ``torch.nn`` (an ``nn.Conv2d``) by its constructor's arguments and weights;
- functions and classes as ``{"type": "source"}``: the checker re-creates them from the cells
  of the submitted notebook (:func:`recreate`), with only the definitions they need, after
  screening that code (:func:`screen`), never from the running notebook.

:func:`describe` runs on the notebook's side (which a notebook can fake: a faked description of
a value *is* an answer, checked like any other); :func:`rebuild` and :func:`recreate` run on the
checker's side and validate everything they read.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import types

MAX_ITEMS = 1_000_000
"""The most numbers one answer may carry (a tensor's elements, a list's items), against a
notebook that answers with a gigabyte."""
MAX_DEPTH = 8

TENSOR_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "bool")


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def describe(value: object, depth: int = 0) -> dict:
    """A JSON-ready description of ``value`` (see the module's docstring for what survives)."""
    kind = type(value)
    if value is None:
        return {"type": "none"}
    if kind is bool:
        return {"type": "bool", "value": value}
    if kind is int:
        return {"type": "int", "value": str(value)}
    if kind is float:
        return {"type": "float", "value": value if math.isfinite(value) else repr(value)}
    if kind is str and len(value) <= MAX_ITEMS:
        return {"type": "str", "value": value}
    if kind in (tuple, list) and depth < MAX_DEPTH and len(value) <= MAX_ITEMS:
        return {"type": kind.__name__, "items": [describe(item, depth + 1) for item in value]}
    if isinstance(value, types.FunctionType | type):
        return {"type": "source"}
    if value is Ellipsis:
        return {"type": "unsupported", "class": "..."}
    torch = _torch()
    if torch is not None:
        if kind in (torch.Tensor, torch.nn.Parameter):
            return _describe_tensor(value)
        if isinstance(value, torch.nn.Module) and _is_torch_leaf(value):
            return _describe_module(value)
    return {"type": "unsupported", "class": _qualified(kind)}


def _torch():
    import sys

    return sys.modules.get("torch")


def _is_torch_leaf(module) -> bool:
    import torch

    name = type(module).__name__
    return (type(module).__module__.startswith("torch.nn.modules.")
            and getattr(torch.nn, name, None) is type(module)
            and not list(module.children()))


def _describe_tensor(tensor) -> dict:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in TENSOR_DTYPES or tensor.numel() > MAX_ITEMS or tensor.is_meta:
        return {"type": "unsupported", "class": f"torch.Tensor ({dtype}, {tensor.numel()} "
                                               f"elements, device {tensor.device.type})"}
    flat = tensor.detach().to("cpu").reshape(-1)
    values = flat.tolist()
    if tensor.is_floating_point():
        values = [item if math.isfinite(item) else repr(item) for item in values]
    return {"type": "tensor", "dtype": dtype, "shape": list(tensor.shape), "values": values,
            "requires_grad": bool(tensor.requires_grad)}


def _describe_module(module) -> dict:
    arguments = {}
    for name in list(inspect.signature(type(module).__init__).parameters)[1:]:
        if name in ("device", "dtype", "args", "kwargs"):
            continue
        if name == "bias":
            arguments[name] = getattr(module, "bias", None) is not None
        elif hasattr(module, name):
            arguments[name] = describe(getattr(module, name))
    state = {key: _describe_tensor(tensor) for key, tensor in module.state_dict().items()}
    return {"type": "module", "class": type(module).__name__, "arguments": arguments,
            "state": state, "training": bool(module.training)}


# --- Reading a description back (the checker's side) ------------------------------------------


class Unreadable(ValueError):
    """A description the checker refuses; the message says why, for the student's feedback."""


_INTEGER = re.compile(r"-?[0-9]{1,4000}")


def rebuild(description: object, depth: int = 0) -> object:
    """The value that :func:`describe` described, checked field by field.

    Raises:
        Unreadable: the description is malformed or of a kind that is not re-created by value
            (``source``: see :func:`recreate`; ``unsupported``: the message names the class).
    """
    if not isinstance(description, dict) or not isinstance(description.get("type"), str):
        raise Unreadable(f"not an answer description: {str(description)[:80]}")
    kind = description["type"]
    if kind == "none":
        return None
    if kind in ("bool", "str"):
        value = description.get("value")
        if type(value) is not {"bool": bool, "str": str}[kind]:
            raise Unreadable(f"a {kind} holding {value!r}")
        return value
    if kind == "int":
        value = description.get("value")
        if not (isinstance(value, str) and _INTEGER.fullmatch(value)):
            raise Unreadable(f"an int written as {str(value)[:40]!r}")
        return int(value)
    if kind == "float":
        return _float(description.get("value"))
    if kind in ("tuple", "list"):
        items = description.get("items")
        if not isinstance(items, list) or depth >= MAX_DEPTH or len(items) > MAX_ITEMS:
            raise Unreadable(f"a {kind} with items {str(items)[:40]}")
        built = [rebuild(item, depth + 1) for item in items]
        return tuple(built) if kind == "tuple" else built
    if kind == "tensor":
        return _rebuild_tensor(description)
    if kind == "module":
        return _rebuild_module(description)
    if kind == "unsupported" and description.get("class") == "...":
        raise Unreadable("still ... (the stub): replace ... with your answer")
    if kind == "unsupported":
        raise Unreadable(f"a {str(description.get('class'))[:120]}, which the grader does not "
                         "read back: store a plain int, float, tuple, list, tensor, function or "
                         "torch.nn layer")
    raise Unreadable(f"an answer of unknown type {kind[:40]!r}")


def _float(value: object) -> float:
    if type(value) in (int, float):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    raise Unreadable(f"a float written as {str(value)[:40]!r}")


def _rebuild_tensor(description: dict):
    import torch

    dtype, shape, values = (description.get(key) for key in ("dtype", "shape", "values"))
    if dtype not in TENSOR_DTYPES:
        raise Unreadable(f"a tensor of dtype {str(dtype)[:40]!r}")
    if not (isinstance(shape, list) and len(shape) <= 8
            and all(type(size) is int and 0 <= size <= MAX_ITEMS for size in shape)):
        raise Unreadable(f"a tensor of shape {str(shape)[:60]}")
    count = math.prod(shape)
    if not isinstance(values, list) or len(values) != count:
        raise Unreadable(f"a tensor of shape {tuple(shape)} with the wrong number of values")
    torch_dtype = getattr(torch, dtype)
    if torch_dtype.is_floating_point:
        values = [_float(value) for value in values]
    elif not all(type(value) in (int, bool) for value in values):
        raise Unreadable(f"a {dtype} tensor with values that are not integers")
    tensor = torch.tensor(values, dtype=torch_dtype).reshape(shape)
    if description.get("requires_grad") is True and torch_dtype.is_floating_point:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_module(description: dict):
    import torch

    name, arguments, state = (description.get(key) for key in ("class", "arguments", "state"))
    kind = getattr(torch.nn, name, None) if isinstance(name, str) else None
    if not (isinstance(kind, type) and issubclass(kind, torch.nn.Module)
            and kind.__module__.startswith("torch.nn.modules.")):
        raise Unreadable(f"a module of class {str(name)[:40]!r}")
    if not (isinstance(arguments, dict) and isinstance(state, dict)):
        raise Unreadable(f"a {name} without its arguments or weights")
    parameters = inspect.signature(kind.__init__).parameters
    keywords = {}
    for key, value in arguments.items():
        if key not in parameters or key in ("self", "device", "dtype"):
            raise Unreadable(f"a {name} with the argument {str(key)[:40]!r}")
        keywords[key] = value if key == "bias" and type(value) is bool else rebuild(value)
    tensors = {key: _rebuild_tensor(value) for key, value in state.items()}
    floating = [tensor.dtype for tensor in tensors.values() if tensor.is_floating_point()]
    if "dtype" in parameters and floating:
        keywords["dtype"] = floating[0]
    try:
        module = kind(**keywords)
        module.load_state_dict(tensors, strict=True)
    except Exception as error:
        raise Unreadable(f"a {name} that cannot be rebuilt ({type(error).__name__}: "
                         f"{str(error)[:200]})") from None
    return module.train(description.get("training") is True)


# --- Functions and classes: re-created from the notebook's cells -----------------------------


ALLOWED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg",
                   "torch.fft", "torch.special", "math", "numpy", "functools", "itertools",
                   "collections", "collections.abc", "typing", "dataclasses", "__future__",
                   "operator", "copy", "fractions", "numbers", "statistics", "onebyone")
"""What re-created code may import: the maths a solution needs. ``onebyone`` and its public
submodules are allowed (an exercise's check decides which of them an answer may use)."""

FORBIDDEN_NAMES = frozenset({
    "setattr", "delattr", "getattr", "globals", "locals", "vars", "eval", "exec", "compile",
    "open", "__import__", "__builtins__", "breakpoint", "input", "memoryview", "help",
    "exit", "quit", "get_ipython",
})
FORBIDDEN_ATTRIBUTES = frozenset({
    "utils", "ops", "library", "hub", "load", "jit", "compile", "compiler", "package",
    "overrides", "multiprocessing", "distributed", "backends", "atomic",
    "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "tb_frame", "tb_next",
    "gi_frame", "gi_code", "cr_frame", "ag_frame", "set_default_dtype", "set_default_device",
    "set_default_tensor_type", "set_grad_enabled",
    "use_deterministic_algorithms",
    "register_forward_hook", "register_forward_pre_hook", "register_module_forward_hook",
})
"""Names no re-created definition may touch: ways to reach a module's namespace, a frame, the
file system or PyTorch's global state. A deny-list raises the bar, it is not a proof: the
guarantee is that each exercise is checked in its own process (see the checker)."""


class Refused(ValueError):
    """Code that re-creating an answer would have to run, and that the grader will not run."""


def _module_allowed(name: str) -> bool:
    if any(part.startswith("_") for part in name.split(".") if part != "__future__"):
        return False
    return any(name == allowed or (allowed == "onebyone" and name.startswith("onebyone."))
               for allowed in ALLOWED_MODULES)


def screen(tree: ast.AST, where: str) -> None:
    """Refuse code that imports outside :data:`ALLOWED_MODULES`, touches private or dunder
    attributes or any of :data:`FORBIDDEN_NAMES` / :data:`FORBIDDEN_ATTRIBUTES`, or assigns to an
    attribute of anything but a name its own function made (``self.x = ...``, ``layer.weight =
    ...``): never ``F.conv2d = ...`` or ``torch.allclose = ...``.

    Raises:
        Refused: naming ``where`` and the line.
    """
    for scope in [tree, *(node for node in ast.walk(tree)
                          if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                        | ast.Lambda))]:
        made_here = _made_in(scope) if not isinstance(scope, ast.Module) else set()
        for node in _own_nodes(scope):
            problem = _problem(node, made_here)
            if problem:
                line = getattr(node, "lineno", "?")
                raise Refused(f"{where}, line {line}: {problem}")


def _own_nodes(scope: ast.AST):
    """The nodes of ``scope`` outside nested functions (each function is screened on its own)."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _made_in(function: ast.AST) -> set[str]:
    """Names of ``function`` bound to a value it made: its parameters and names assigned from a
    call (``linear = nn.Linear(...)``). A name assigned a module or attribute (``t = torch``) or
    bound by an import is not among them."""
    made = set()
    arguments = function.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                     arguments.vararg, arguments.kwarg]:
        if argument is not None:
            made.add(argument.arg)
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call | ast.BinOp
                                                               | ast.List | ast.Dict):
            for target in node.targets:
                made |= {name.id for name in ast.walk(target) if isinstance(name, ast.Name)}
    for node in _own_nodes(function):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            made -= {alias.asname or alias.name.split(".")[0] for alias in node.names} \
                if isinstance(node, ast.Import | ast.ImportFrom) else set(node.names)
    return made


def _problem(node: ast.AST, made_here: set[str]) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                   else [node.module or ""])
        if isinstance(node, ast.ImportFrom) and node.level:
            return "a relative import"
        for module in modules:
            if not _module_allowed(module):
                return f"imports {module}, which an answer may not use"
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRIBUTES | {"*"}:
                    return f"imports {alias.name} from {node.module}"
        return None
    if isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or node.id.startswith("__")):
        return f"uses {node.id}"
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_") and node.attr != "__init__":
            return f"uses the private attribute .{node.attr}"
        if node.attr in FORBIDDEN_ATTRIBUTES:
            return f"uses .{node.attr}"
        if isinstance(node.ctx, ast.Store | ast.Del):
            root = node.value
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in made_here):
                return "assigns to an attribute of something it did not make (a module?)"
    if isinstance(node, ast.Global | ast.Nonlocal):
        return f"declares {' '.join(node.names)} {type(node).__name__.lower()}"
    return None


_BINDING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
            ast.Assign, ast.AnnAssign)


def _bound_names(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return {alias.asname or alias.name.split(".")[0] for alias in statement.names}
    targets = (statement.targets if isinstance(statement, ast.Assign)
               else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
    names = set()
    for target in targets:
        if isinstance(target, ast.Tuple | ast.List):
            names |= {element.id for element in target.elts if isinstance(element, ast.Name)}
        elif isinstance(target, ast.Name):
            names.add(target.id)
    return names


def definitions(cells: list[str]) -> tuple[list[ast.stmt], dict[str, int], set[str]]:
    """The top-level statements of ``cells`` (Python sources; a cell that does not parse is
    skipped, as it defined nothing in the notebook), the index of each name's last binding
    among them, and the names bound only inside compound statements (``if``, ``with``)."""
    statements, last, nested = [], {}, set()
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for statement in tree.body:
            if isinstance(statement, _BINDING):
                statements.append(statement)
                for name in _bound_names(statement):
                    last[name] = len(statements) - 1
            else:
                for node in ast.walk(statement):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        nested.add(node.id)
                    elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                        nested.add(node.name)
    return statements, last, nested - set(last)


def recreate(cells: list[str], name: str, run_code=None) -> object:
    """The function or class ``name`` as the notebook's ``cells`` last define it, re-created
    in a fresh namespace with only the statements it needs (its definition, the imports,
    functions, classes and plain assignments of the names it uses, transitively), each screened
    by :func:`screen` first.

    Args:
        run_code: called as ``run_code(code, namespace)`` to run the statements (the checker
            passes one that runs under its audit hook); ``exec`` by default.

    Raises:
        Refused: the definition is missing, not at a cell's top level, or fails the screen.
    """
    statements, last, nested = definitions(cells)
    if name not in last:
        where = "inside an if, for, with or try block" if name in nested else "in any cell"
        raise Refused(f"{name} is not defined at the top level of a cell ({where}): define it "
                      "with def or class, at the top level")
    needed, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in last or last[current] in needed:
            continue
        index = last[current]
        needed.add(index)
        statement = statements[index]
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id in last:
                todo.append(node.id)
    module = ast.Module(body=[statements[index] for index in sorted(needed)], type_ignores=[])
    screen(module, f"the code that defines {name}")
    namespace = {"__name__": "__answer__"}
    code = compile(module, f"<the notebook's definition of {name}>", "exec")
    (run_code or exec)(code, namespace)
    return namespace[name]
