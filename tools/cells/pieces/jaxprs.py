# --- piece jaxprs (tools/cells/pieces/jaxprs.py): walking a jaxpr and the jaxprs inside its equations ---


def _sub_jaxprs(eqn):
    """The jaxprs among an equation's parameters: an inner jit's, a loop body, cond branches, a shard_map body."""
    for param in eqn.params.values():
        for sub in param if isinstance(param, (tuple, list)) else (param,):
            inner = getattr(sub, "jaxpr", sub)
            if hasattr(inner, "eqns"):
                yield inner


def _primitives(jaxpr):
    """Names of the primitives anywhere in a jaxpr, sub-jaxprs (an inner jit, a loop body) included."""
    found = set()
    for eqn in jaxpr.eqns:
        found.add(eqn.primitive.name)
        for inner in _sub_jaxprs(eqn):
            found |= _primitives(inner)
    return found
