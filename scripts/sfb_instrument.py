"""Taps and switchable ReLUs for scripts/export_torchscript.py (sfbench protocol 2,
scripts/sfb_protocol.py): found in the model's forward pass with torch.fx, or, when torch.fx cannot
trace it, by replacing nn.ReLU modules and wrapping child modules."""
import sys
from typing import Dict, List, Optional, Tuple

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from sfb_protocol import SfbReLU, SfbTap, SfbTapped

PROG = "export_torchscript"
# The ReLUs of an fx graph (call_function targets, call_method names), as sfb_export names them.
RELU_FUNCTIONS = {F.relu: "F.relu", torch.relu: "torch.relu", F.relu_: "F.relu_",
                  torch.relu_: "torch.relu_"}  # F.relu_ is torch.relu_
RELU_METHODS = {"relu": "Tensor.relu", "relu_": "Tensor.relu_"}
# Global poolings: the feature map is the input of the last one on the way to the output.
POOL_MODULES = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.MaxPool2d)
POOL_FUNCTIONS = (F.avg_pool2d, F.adaptive_avg_pool2d, F.max_pool2d, F.adaptive_max_pool2d,
                  torch.mean, torch.amax)
POOL_METHODS = ("mean", "amax")


class ExportError(Exception):
    """A user-facing failure: main() prints it as one line and returns 2."""


def note(msg: str) -> None:
    sys.stdout.flush()
    print(f"{PROG}: note: {msg}", file=sys.stderr)


def get_attr_path(root: nn.Module, dotted: str, what: str) -> nn.Module:
    obj = root
    for part in dotted.split("."):
        if not isinstance(obj, nn.Module) or part not in obj._modules:
            raise ExportError(f"{what} '{dotted}': the model has no submodule '{part}'")
        obj = obj._modules[part]
    return obj


def set_attr_path(root: nn.Module, dotted: str, value: nn.Module) -> None:
    parent = root.get_submodule(dotted.rsplit(".", 1)[0]) if "." in dotted else root
    setattr(parent, dotted.rsplit(".", 1)[-1], value)


class Instrumented:
    """The model body with taps and SfbReLUs. taps: (name, path in body, expected shape of the
    probe batch's output); relus: paths in body; replaced: 'path: Old -> New' lines."""

    def __init__(self, body, taps, relus, feature_map, replaced, fx_traced):
        self.body, self.taps, self.relus = body, taps, relus
        self.feature_map, self.replaced, self.fx_traced = feature_map, replaced, fx_traced


class _Tracer(torch.fx.Tracer):
    """Records the output node of every module call (leaf or not), in call order."""

    def __init__(self):
        super().__init__()
        self.calls: List[Tuple[str, torch.fx.Node]] = []

    def call_module(self, m, forward, args, kwargs):
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(out, torch.fx.Proxy):
            try:
                self.calls.append((self.path_of_module(m), out.node))
            except NameError:  # a module that is not an attribute of the model
                pass
        return out


def _redirect_later_uses(graph: torch.fx.Graph, old: torch.fx.Node, new: torch.fx.Node) -> None:
    """After an in-place op `new` on `old`, later users of `old` saw the new value."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    for user in list(old.users):
        if user is not new and order[user] > order[new]:
            user.replace_input_with(old, new)


def _replace_relus_fx(gm: torch.fx.GraphModule) -> Tuple[Dict, Dict, List[str]]:
    """Every ReLU of gm's graph becomes an SfbReLU module. Returns (old node -> new node,
    new node -> the old node's name, replacement lines)."""
    graph, node_map, old_names, replaced, counters = gm.graph, {}, {}, [], {}
    swapped: Dict[str, bool] = {}  # module path -> was in place
    for node in list(graph.nodes):
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if type(m) is nn.ReLU and node.target not in swapped:
                swapped[node.target] = m.inplace
                set_attr_path(gm, node.target, SfbReLU())
                replaced.append(f"{node.target}: ReLU -> SfbReLU")
            if swapped.get(node.target) and node.args:
                _redirect_later_uses(graph, node.args[0], node)
            continue
        if node.op == "call_function" and node.target in RELU_FUNCTIONS:
            what = RELU_FUNCTIONS[node.target]
            inplace = node.target in (torch.relu_, F.relu_) or bool(
                node.kwargs.get("inplace", node.args[1] if len(node.args) > 1 else False))
        elif node.op == "call_method" and node.target in RELU_METHODS:
            what = RELU_METHODS[node.target]
            inplace = node.target == "relu_"
        else:
            continue
        src = node.args[0] if node.args else node.kwargs.get("input", node.kwargs.get("self"))
        if not isinstance(src, torch.fx.Node):
            continue
        stack = list(node.meta.get("nn_module_stack", {}).values())
        owner = stack[-1][0] if stack and isinstance(stack[-1][0], str) else ""
        try:
            gm.get_submodule(owner)
        except AttributeError:
            owner = ""
        k = counters.get(owner, 0)
        path = f"{owner}.sfb_relu_{k}" if owner else f"sfb_relu_{k}"
        counters[owner] = k + 1
        gm.add_submodule(path, SfbReLU())
        with graph.inserting_after(node):
            new = graph.call_module(path, (src,))
        node.replace_all_uses_with(new)
        if inplace:
            _redirect_later_uses(graph, src, new)
        node_map[node], old_names[new] = new, node.name
        graph.erase_node(node)
        replaced.append(f"{path}: {what} -> SfbReLU")
    return node_map, old_names, replaced


def _shape(node: torch.fx.Node) -> Optional[List[int]]:
    meta = node.meta.get("tensor_meta")
    return list(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _feature_map_node(gm: torch.fx.GraphModule) -> Optional[torch.fx.Node]:
    """The input of the last global pooling on the way to the output (or the last 4-D tensor
    there when no pooling is recognised)."""
    out = next(n for n in gm.graph.nodes if n.op == "output")
    ancestors, todo = set(), [out]
    while todo:
        for a in todo.pop().all_input_nodes:
            if a not in ancestors:
                ancestors.add(a)
                todo.append(a)
    last_4d = None
    for node in reversed(list(gm.graph.nodes)):
        if node not in ancestors:
            continue
        pooling = ((node.op == "call_module" and isinstance(gm.get_submodule(node.target),
                                                            POOL_MODULES))
                   or (node.op == "call_function" and node.target in POOL_FUNCTIONS)
                   or (node.op == "call_method" and node.target in POOL_METHODS))
        src = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        if pooling and src is not None and len(_shape(src) or []) == 4:
            return src
        if last_4d is None and len(_shape(node) or []) == 4:
            last_4d = node
    return last_4d


def instrument_fx(model: nn.Module, xn: torch.Tensor, layers: List[str]) -> Instrumented:
    tracer = _Tracer()
    graph = tracer.trace(model)
    # No source locations of the model in the generated code and its name (reproducible files).
    for node in graph.nodes:
        node.meta.pop("stack_trace", None)
    graph._co_fields = {}
    gm = torch.fx.GraphModule(tracer.root, graph, type(model).__name__)
    node_map, old_names, replaced = _replace_relus_fx(gm)
    gm.recompile()
    with torch.no_grad():
        ShapeProp(gm).propagate(xn)
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    by_path: Dict[str, List[torch.fx.Node]] = {}
    for path, node in tracer.calls:
        by_path.setdefault(path, []).append(node_map.get(node, node))

    chosen: Dict[torch.fx.Node, str] = {}
    if layers:
        for name in layers:
            nodes = by_path.get(name)
            if nodes is None:
                get_attr_path(model, name, "--layer")
                raise ExportError(f"--layer '{name}': the forward pass does not call it")
            if len(nodes) > 1:
                raise ExportError(f"--layer '{name}': called {len(nodes)} times in the forward "
                                  "pass; a tap needs a single output")
            if _shape(nodes[0]) is None:
                raise ExportError(f"--layer '{name}': its output is not a tensor")
            chosen.setdefault(nodes[0], name)
    else:
        for name, _ in model.named_children():
            nodes = by_path.get(name, [])
            if len(nodes) > 1:
                note(f"'{name}' is called {len(nodes)} times in the forward pass: not tapped")
            elif nodes and len(_shape(nodes[0]) or []) == 4:
                chosen.setdefault(nodes[0], name)
    fm = _feature_map_node(gm)
    feature_map = None
    if fm is not None:
        if fm not in chosen:
            producers = [p for p, n in by_path.items() if fm in n and len(n) == 1]
            name = min(producers, key=lambda p: p.count(".")) if producers else old_names.get(
                fm, fm.name)
            while name in chosen.values():
                name += "_"
            chosen[fm] = name
        feature_map = chosen[fm]

    taps = []
    for i, node in enumerate(sorted(chosen, key=order.get)):
        path = f"sfb_taps.{i}"
        gm.add_submodule(path, SfbTap())
        with gm.graph.inserting_after(node):
            tap = gm.graph.call_module(path, (node,))
        node.replace_all_uses_with(tap, delete_user_cb=lambda user: user is not tap)
        taps.append((chosen[node], path, _shape(node)))
    gm.graph.lint()
    gm.recompile()
    relus = []
    for node in gm.graph.nodes:
        if (node.op == "call_module" and isinstance(gm.get_submodule(node.target), SfbReLU)
                and node.target not in relus):
            relus.append(node.target)
    return Instrumented(gm.eval(), taps, relus, feature_map, replaced, True)


def instrument_modules(model: nn.Module, xn: torch.Tensor, layers: List[str]) -> Instrumented:
    """The fallback without torch.fx: nn.ReLU modules replaced, named modules wrapped."""
    names = layers or [n for n, _ in model.named_children()]
    seen: Dict[str, List] = {}
    hooks = []
    for name in names:
        m = get_attr_path(model, name, "--layer")
        hooks.append(m.register_forward_hook(
            lambda mod, i, o, name=name: seen.setdefault(name, []).append(o)))
    try:
        with torch.no_grad():
            model(xn)
    finally:
        for h in hooks:
            h.remove()
    chosen = []
    for name in sorted(seen, key=list(seen).index):  # call order
        outs = seen[name]
        if len(outs) > 1 or not torch.is_tensor(outs[0]):
            if layers:
                raise ExportError(f"--layer '{name}': called {len(outs)} times or not returning "
                                  "one tensor; a tap needs a single output")
            continue
        if layers or outs[0].dim() == 4:
            chosen.append((name, list(outs[0].shape)))
    for name in layers:
        if name not in seen:
            raise ExportError(f"--layer '{name}': the forward pass does not call it")
    replaced = []
    for path, m in list(model.named_modules(remove_duplicate=False)):
        if path and type(m) is nn.ReLU:
            set_attr_path(model, path, SfbReLU())
            replaced.append(f"{path}: ReLU -> SfbReLU")
    taps = []
    for name, shape in chosen:
        set_attr_path(model, name, SfbTapped(get_attr_path(model, name, "--layer")))
        taps.append((name, f"{name}.tap", shape))
    relus = [p for p, m in model.named_modules(remove_duplicate=False) if isinstance(m, SfbReLU)]
    feature_map = [n for n, s in chosen if len(s) == 4][-1:] or [None]
    note("torch.fx could not trace the model, so the ReLUs were found as nn.ReLU modules only: "
         "functional ReLUs (F.relu, torch.relu, Tensor.relu), if the model has any, are not "
         "switchable (guided backprop misses them); the feature map is the last tapped 4-D "
         "child output")
    return Instrumented(model.eval(), taps, relus, feature_map[0], replaced, False)
