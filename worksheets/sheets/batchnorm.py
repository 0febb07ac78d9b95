r"""Batch normalization: the computational graph as a picture, the staged backward pass and the
closed form (the course notebook's questions 2.0.1 and 2.3.1).

The picture is drawn from the derivation's own graph (:func:`derive.batchnorm.graph`): its
nodes, their roles and the edges their definitions imply; nothing about the layout is typed in.
The staged backward pass, the closed form recovered by the index engine and the proof that the
two agree come from :mod:`derive.batchnorm`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp
from matplotlib.figure import Figure as MplFigure

from derive import batchnorm as bn
from derive.graph import Graph

from ..document import Block, Figure, Formula, Heading, Sheet, Steps, para, question
from .common import number, numbers, png

if TYPE_CHECKING:
    from ..variants import BatchNormVariant

__all__ = ["NAME", "SUMMARY", "build", "graph_figure", "graph_layout"]

NAME = "batchnorm"
SUMMARY = "Batch normalization: the computational graph drawn, the staged backward, the closed form"

_ROLE_COLOURS = {"input": "#d8ecd8", "intermediate": "#fdf1cf", "output": "#dbe7f7"}


def graph_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Node name → (column, row): a node sits one column right of its deepest parent; an input
    sits just left of its first consumer; nodes sharing a column are stacked around row 0, the
    computed ones in the middle and the inputs around them, so the main path runs straight."""
    column: dict[str, int] = {}
    for node in graph.nodes:
        parents = graph.parents(node.name)
        column[node.name] = 1 + max((column[p.name] for p in parents), default=-1)
    for node in graph.nodes:
        consumers = graph.consumers(node.name)
        if not graph.parents(node.name) and consumers:
            column[node.name] = max(0, min(column[c.name] for c in consumers) - 1)
    stacks: dict[int, list[str]] = {}
    for node in graph.nodes:
        stacks.setdefault(column[node.name], []).append(node.name)
    place = {}
    for col, names in stacks.items():
        inputs = [n for n in names if not graph.parents(n)]
        computed = [n for n in names if graph.parents(n)]
        half = len(inputs) // 2
        names = inputs[:half] + computed + inputs[half:]
        for k, name in enumerate(names):
            place[name] = (float(col), (len(names) - 1) / 2 - k)
    return place


def graph_figure(graph: Graph, caption: str) -> Figure:
    """The graph as a picture: one box per node (coloured by role), one arrow per edge."""
    place = graph_layout(graph)
    labels = {n.name: n.label or n.name for n in graph.nodes}
    columns = max(x for x, _ in place.values()) + 1
    rows = max(y for _, y in place.values()) - min(y for _, y in place.values()) + 1
    fig = MplFigure(figsize=(1.6 * columns + 0.6, 1.1 * rows + 0.9))
    ax = fig.add_subplot()
    ax.axis("off")
    for parent, child in graph.edges:
        (x0, y0), (x1, y1) = place[parent], place[child]
        bend = 0.0 if x1 - x0 <= 1 or y0 != y1 else (-0.45 if (x1 - x0) % 2 else 0.45)
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>", "color": "#444", "lw": 1.2, "shrinkA": 17, "shrinkB": 17,
                                "connectionstyle": f"arc3,rad={bend}"})
    for node in graph.nodes:
        x, y = place[node.name]
        ax.text(x, y, labels[node.name], ha="center", va="center", fontsize=15,
                bbox={"boxstyle": "round,pad=0.45", "facecolor": _ROLE_COLOURS[graph.role(node.name)],
                      "edgecolor": "#333"})
    for role, colour in _ROLE_COLOURS.items():
        ax.scatter([], [], s=120, marker="s", color=colour, edgecolors="#333", label=role)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, frameon=False, fontsize=9)
    ys = [y for _, y in place.values()]
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    return Figure("graph", png(fig), caption)


def build(variant: BatchNormVariant | None = None) -> Sheet:
    """The batch-normalization sheet; with ``variant``, a numerical question with its answer key."""
    family = bn.BATCHNORM
    graph = bn.graph(family)
    definitions = bn.definitions(family)
    forward = bn.forward(family)
    staged = bn.staged(family)
    closed, equal = bn.closed_form(family), bn.equivalence(family)
    by_node = {d.title.split("∂L/∂")[-1].split(" ")[0]: d for d in staged}
    blocks: list[Block] = [
        para("Batch normalization normalizes each feature over the batch, then scales and shifts it with "
             "learnable parameters. During training, for an input with n rows (examples) and d columns "
             "(features):"),
        *(Formula(definitions[k].statement) for k in ("mean", "variance", "normalize", "affine")),
        para("with ε > 0 a small constant. Z is the normalized input the backward pass reuses."),
        Heading("The computational graph", 2),
        *question("1", [para("Draw the computational graph of training-time batch normalization. Its inputs are "
                             "X, γ and β, its output is Y, and its intermediate nodes are μ, σ² and Z.")],
                  [graph_figure(graph, "The computational graph of batch normalization, drawn from the "
                                       "derivation's graph: an arrow runs from each node to every node whose "
                                       "definition uses it."),
                   para(f"Edges: {graph.describe()}. X feeds three nodes and μ two, so their gradients collect "
                        "one contribution per branch."),
                   Steps(forward)], space=12),
        Heading("The staged backward pass", 2),
        *question("2", [para("Given the upstream gradient dY, derive the gradient of every node, going backwards "
                             "through the graph one node at a time.")],
                  [Formula(sp.Eq(d.start, d.result, evaluate=False)) for d in staged]
                  + [Steps(by_node[label]) for label in ("β", "γ", "Z", "σ²", "μ", "X")], space=12),
        Heading("The closed form", 2),
        *question("3", [para("Derive the closed-form gradient with respect to X (during training) as a single "
                             "expression in dY, Z, γ and the batch statistics; it is what the alternative "
                             "backward pass computes.")],
                  [Formula(closed.equation, "Answer"), Steps(closed), Steps(equal)], space=12),
    ]
    title = "Batch normalization: graph, staged backward, closed form"
    if variant is None:
        return Sheet(NAME, title, tuple(blocks))
    blocks += [Heading("By hand", 2), *_numerical_question(variant, closed)]
    return Sheet(f"{NAME}-seed{variant.seed:03d}", f"{title} (variant {variant.seed})", tuple(blocks))


def _numerical_question(v: BatchNormVariant, closed) -> tuple[Block, ...]:
    """Question 4 of a variant: a 3×2 batch by hand; the answers from the generated code."""
    X, mu, var, Z = bn.X, bn.MU, bn.VAR, bn.Z
    r, c = v.row, v.col
    entry = sp.Derivative(bn.LOSS, X[r + 1, c + 1])
    prompt = [para("For the batch below (n = 3 examples, d = 2 features), with ", sp.Eq(bn.EPS, sp.Float(v.eps, 2)),
                   " (negligible here), compute the batch mean μ, the variance σ² (biased, over the batch), the "
                   "normalized input Z and, for the upstream gradient dY below, the entry ", entry,
                   " from the closed form (rows and columns counted from 1).")]
    given = [Formula(sp.Tuple(sp.Eq(sp.Symbol("X"), numbers(v.X), evaluate=False),
                              sp.Eq(sp.Symbol("dY"), numbers(v.dY), evaluate=False))),
             Formula(sp.Tuple(sp.Eq(sp.Symbol("gamma"), numbers(v.gamma), evaluate=False),
                              sp.Eq(sp.Symbol("beta"), numbers(v.beta), evaluate=False)))]
    solution = [
        para("By the definitions above, column by column (computed by the generated batchnorm_forward):"),
        Formula(sp.Tuple(sp.Eq(mu.label, numbers(v.mu), evaluate=False),
                         sp.Eq(var.label, numbers(v.var), evaluate=False)), "Answer"),
        Formula(sp.Eq(Z.label, numbers(v.Z), evaluate=False), "Answer"),
        para("The closed form ", closed.equation, " at the entry asked for (computed by the generated "
             "batchnorm_backward_alt):"),
        Formula(sp.Eq(entry, number(v.dX[r, c]), evaluate=False), "Answer"),
    ]
    return question("4", prompt, solution, given, space=8)
