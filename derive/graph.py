r"""Computational graphs as data, and the staged backward pass through them.

A :class:`Graph` is a list of :class:`Node`\ s in forward (topological) order. A node is an
indexed array; an input has no definition, every other node is defined entry by entry in
terms of its *parents* — the nodes its definition mentions — which is where the edges come
from. The graph is plain data (:meth:`Graph.as_dict`), so a sheet can draw it.

The staged backward pass visits the nodes in reverse order. The gradient of node :math:`v`
collects one contribution per outgoing edge (the *branches*):

.. math:: \frac{\partial L}{\partial v_a} = \sum_{c \in \text{consumers}(v)} \sum_{b}
          \frac{\partial L}{\partial c_b}\,\frac{\partial c_b}{\partial v_a},

where :math:`\partial c_b / \partial v_a` is a *local* derivative: :math:`c` is written out
by its own definition once, its other parents held fixed. :func:`staged` derives each
node's gradient this way with the index engine, one recorded step per rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sympy as sp

from .derivation import Assumption, Derivation, Prover
from .errors import LayergradError
from .index import (
    IN_RANGE,
    collect,
    contract_deltas,
    index_prover,
    multiply_out,
    normalize,
    sum_constants,
    to_expr,
)
from .printing import latex, text

__all__ = ["Adjoint", "Graph", "Node", "adjoint_notation", "chain_rule", "local_prover", "staged"]

def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Equality:
    return sp.Eq(lhs, rhs, evaluate=False)



class Adjoint(sp.IndexedBase):
    r"""The gradient :math:`\mathrm{d}v = \partial L / \partial v` of a node, as an array;
    printed ``dv`` (text) and :math:`\mathrm{d}v` (LaTeX), the course notebooks' notation."""

    def __new__(cls, label: str | sp.Symbol, **kwargs) -> Adjoint:
        kwargs.setdefault("real", True)
        return super().__new__(cls, label, **kwargs)

    def _latex(self, printer) -> str:
        return r"\mathrm{d}" + printer._print(self.label)

    def _sympystr(self, printer) -> str:
        return "d" + printer._print(self.label)


@dataclass(frozen=True)
class Node:
    """One array of the graph: ``array[indices]``, defined by ``definition`` (``None`` for an
    input) in terms of its parents' entries. ``role`` is ``input``, ``intermediate`` or
    ``output``; ``label`` is how a sheet names it."""

    name: str
    array: sp.IndexedBase
    indices: tuple[sp.Symbol, ...]
    definition: sp.Expr | None = None
    label: str = ""

    @property
    def entry(self) -> sp.Indexed:
        return self.array[self.indices]

    @property
    def adjoint(self) -> Adjoint:
        return Adjoint(self.array.label)

    @property
    def assumption(self) -> Assumption:
        """The node's definition as a declared assumption (not unfolded by provers)."""
        if self.definition is None:
            raise LayergradError(f"node {self.name} is an input and has no definition")
        return Assumption(f"definition of {self.label or self.name}", _eq(self.entry, self.definition),
                          f"the forward pass computes {self.label or self.name} from its parents")


@dataclass(frozen=True)
class Graph:
    """Nodes in forward order; edges run from each parent to the nodes whose definitions
    mention it."""

    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        seen: set[sp.IndexedBase] = set()
        for node in self.nodes:
            if node.definition is not None:
                unknown = {a.base for a in node.definition.atoms(sp.Indexed)} - seen
                if unknown & {n.array for n in self.nodes}:
                    raise LayergradError(f"node {node.name} is defined before its parents")
            seen.add(node.array)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LayergradError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def parents(self, name: str) -> tuple[Node, ...]:
        definition = self.node(name).definition
        if definition is None:
            return ()
        used = {a.base for a in definition.atoms(sp.Indexed)}
        return tuple(n for n in self.nodes if n.array in used)

    def consumers(self, name: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if any(p.name == name for p in self.parents(n.name)))

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """``(parent, child)`` pairs, in forward order of the child."""
        return tuple((p.name, n.name) for n in self.nodes for p in self.parents(n.name))

    def role(self, name: str) -> str:
        if self.node(name).definition is None:
            return "input"
        return "intermediate" if self.consumers(name) else "output"

    def as_dict(self) -> dict:
        """The graph as JSON-ready data: ``nodes`` (name, label, role, shape indices,
        definition in text and LaTeX) and ``edges`` (``[parent, child]``)."""
        nodes = []
        for n in self.nodes:
            nodes.append({
                "name": n.name,
                "label": n.label or n.name,
                "role": self.role(n.name),
                "indices": [str(i) for i in n.indices],
                "definition": None if n.definition is None else text(n.definition),
                "definition_latex": None if n.definition is None else latex(_eq(n.entry, n.definition)),
            })
        return {"nodes": nodes, "edges": [list(e) for e in self.edges]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1, ensure_ascii=False)

    def describe(self) -> str:
        """One line: the edges, e.g. ``X → μ, X → σ², μ → σ², …``."""
        label = {n.name: n.label or n.name for n in self.nodes}
        return ", ".join(f"{label[a]} → {label[b]}" for a, b in self.edges)


def _once(expr: sp.Basic, definitions: Sequence[Node]) -> sp.Basic:
    """Replace every entry of a defined node by its definition, one level deep."""
    table = {n.array: n for n in definitions}

    def at(e: sp.Indexed) -> sp.Basic:
        node = table[e.base]
        return node.definition.xreplace(dict(zip(node.indices, e.indices)))

    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in table, at)


def local_prover(definitions: Iterable[Node]) -> Prover:
    """A prover for "write each consumer out by its own definition": ``before`` with every
    entry of these nodes replaced once (their parents stay independent variables) must have
    the same index normal form as ``after``."""
    definitions = tuple(definitions)

    def decide(before: sp.Basic, after: sp.Basic, unfold) -> bool:
        return normalize(_once(before, definitions) - after) == ()

    return Prover("local definitions, then index normal form", decide,
                  (IN_RANGE.name, *(n.assumption.name for n in definitions)))


def _primed(indices: Sequence[sp.Symbol]) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"{i.name}'", integer=True) for i in indices)


def chain_rule(graph: Graph, name: str, loss: sp.Symbol,
               ranges: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]) -> Assumption:
    r"""The chain rule at node ``name`` as an equation generated from ``graph``:
    :math:`\partial L/\partial v_a = \sum_{c} \sum_b \mathrm{d}c_b\, \partial c_b/\partial v_a`,
    one term per consumer :math:`c` of :math:`v` read from the graph's edges."""
    node = graph.node(name)
    consumers = graph.consumers(name)
    if not consumers:
        raise LayergradError(f"node {name} has no consumers; its gradient is given, not derived")
    wrt = node.entry
    chain = []
    for c in consumers:
        dummies = _primed(c.indices)
        limits = [(d, *ranges[i]) for d, i in zip(dummies, c.indices)]
        chain.append(sp.Sum(c.adjoint[dummies] * sp.Derivative(c.array[dummies], wrt), *reversed(limits)))
    labels = ", ".join(c.label or c.name for c in consumers)
    return Assumption(
        "chain rule",
        _eq(sp.Derivative(loss, wrt), sp.Add(*chain)),
        f"L depends on {node.label or name} only through the nodes that consume it in the graph ({labels}): "
        "one term per branch, Σ over the consumer's entries of its gradient times its local derivative",
    )


def adjoint_notation(node: Node, loss: sp.Symbol) -> Assumption:
    """``dv[…] = ∂L/∂v[…]``: the notation for a node's gradient, given by the layer above for the output."""
    return Assumption(
        "upstream gradient",
        _eq(node.adjoint[node.indices], sp.Derivative(loss, node.entry)),
        f"d{node.label or node.name} = ∂L/∂{node.label or node.name} is given by the layer above",
    )


def staged(
    graph: Graph,
    name: str,
    loss: sp.Symbol,
    ranges: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]],
    *,
    title: str,
    assumptions: Iterable[Assumption] = (),
    order: str = "",
) -> Derivation:
    r"""The gradient of node ``name`` by the chain rule through ``graph``.

    ``ranges`` gives ``(lo, hi)`` for every index symbol of the graph. Steps: the chain rule
    summed over the branches; each consumer written out by its local definition;
    differentiation; Kronecker-delta contraction; constant sums and collection. The result
    is in terms of the consumers' gradients (``dc``) and the forward values."""
    node = graph.node(name)
    chain = chain_rule(graph, name, loss, ranges)
    consumers = graph.consumers(name)
    definitions = [chain, IN_RANGE, *(c.assumption for c in consumers), *assumptions]
    d = Derivation(title, chain.statement.lhs, definitions)
    d.step(chain.statement.rhs, chain.name,
           "one term per branch: " + ", ".join(f"{node.label or name} → {c.label or c.name}" for c in consumers))
    local = _once(d.result, consumers)
    d.step(local, "local definitions",
           "each consumer written out by its own definition; its other parents are held fixed",
           by=local_prover(consumers))
    terms = multiply_out(d.result)
    d.step(to_expr(terms, split=False, order=order), "differentiate term by term",
           f"∂{node.label or name} by itself gives Kronecker deltas; every other parent is held constant",
           by=index_prover())
    terms = contract_deltas(terms)
    d.step(to_expr(terms, split=False, order=order), "Kronecker delta",
           "each delta fixes one summation index to the free index (free indices in range)",
           by=index_prover())
    terms = collect(sum_constants(terms))
    if to_expr(terms, order=order) != d.result:
        d.step(to_expr(terms, order=order), "collect",
               "sums of constants evaluated, like terms added, separable sums split", by=index_prover())
    return d

