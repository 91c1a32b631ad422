"""The shape docs/architecture.md describes, checked on the source: no import cycles, short modules, layers.

Imports are read with `ast` from every module under src/llmtuner, including those inside functions (a lazy
import that closes a cycle still makes two modules that cannot be understood apart).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "llmtuner"
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The llmtuner modules `name` imports anywhere in its body (package imports resolve to the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from .x import y`: y may be a submodule of x, or a name defined in x
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        found |= {target for target in targets if target in known and target != name}
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_cycle_finder_finds_a_lazy_import_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_under_src():
    assert cycles(import_graph()) == []


def test_no_module_is_too_long():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_layers_import_only_downwards():
    """hparams and extras import nothing from the rest (the template-name list is the one named exception);
    data and model do not import each other; train, eval and export do not import each other (the named exceptions
    below say why); nothing below the workflows imports train, eval or export; serving
    sits on top of evaluation (its model loading, template and safety check), so what is served is what was evaluated."""
    graph = import_graph()
    allowed = {
        ("llmtuner.hparams.checks", "llmtuner.data.template_registry"),
        # GRPO's rewards must score exactly as the evaluator does, so they call its pure text scorers (MCQ answer
        # parsing, terminology, TCM safety; none imports torch or transformers) instead of copies of them.
        ("llmtuner.train.grpo.rewards", "llmtuner.eval.mcq_answers"),
        ("llmtuner.train.grpo.rewards", "llmtuner.eval.terms"),
        ("llmtuner.train.grpo.rewards", "llmtuner.eval.safety"),
        # SFT's do_predict scores its generated answers with the evaluator's text metrics (the same ROUGE/BLEU recipe).
        ("llmtuner.train.sft.trainer", "llmtuner.eval.metrics"),
    }
    layer = {"extras": 0, "hparams": 1, "data": 2, "model": 2, "train": 3, "eval": 3, "export": 3, "serve": 4, "console": 5, "cli": 6}
    wrong = []
    for source, targets in graph.items():
        source_layer = source.split(".")[1] if source.count(".") else ""
        for target in targets:
            target_layer = target.split(".")[1] if target.count(".") else ""
            if source_layer not in layer or target_layer not in layer or (source, target) in allowed:
                continue
            siblings = layer[source_layer] == layer[target_layer] in (2, 3) and source_layer != target_layer
            if layer[target_layer] > layer[source_layer] or siblings:
                wrong.append(f"{source} -> {target}")
    assert wrong == []
