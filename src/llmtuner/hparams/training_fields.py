"""transformers' Seq2SeqTrainingArguments fields, read without importing transformers.

`from transformers import Seq2SeqTrainingArguments` costs ~6 s here (it pulls torch, accelerate and
bitsandbytes). Catching a typo or printing `--help` only needs each field's name, annotation, default
and help text, so we read them from the installed transformers' source with `ast` (~50 ms), which
stays exact for whatever 5.x is installed. Building the real object happens later, in the parser.
"""

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_SOURCES = (("training_args.py", "TrainingArguments"), ("training_args_seq2seq.py", "Seq2SeqTrainingArguments"))


@dataclass(frozen=True)
class FieldDoc:
    name: str
    annotation: str
    default: str
    help: str


def _keyword(call: ast.expr, name: str) -> ast.expr | None:
    if isinstance(call, ast.Call):
        for kw in call.keywords:
            if kw.arg == name:
                return kw.value
    return None


def _field_doc(stmt: ast.AnnAssign) -> FieldDoc:
    name = stmt.target.id  # type: ignore[union-attr]
    default_node = _keyword(stmt.value, "default") if isinstance(stmt.value, ast.Call) else stmt.value
    metadata = _keyword(stmt.value, "metadata")
    help_text = ""
    if isinstance(metadata, ast.Dict):
        for key, value in zip(metadata.keys, metadata.values):
            if isinstance(key, ast.Constant) and key.value == "help":
                try:
                    help_text = str(ast.literal_eval(value))
                except ValueError:  # an f-string or expression: show its source
                    help_text = ast.unparse(value)
    default = ast.unparse(default_node) if default_node is not None else ""
    return FieldDoc(name, ast.unparse(stmt.annotation), default, " ".join(help_text.split()))


def _class_fields(path: Path, class_name: str) -> list[FieldDoc]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [
                _field_doc(stmt)
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and not stmt.target.id.startswith("_")
            ]
    raise LookupError(f"{class_name} not found in {path}")


@lru_cache(maxsize=1)
def training_field_docs() -> dict[str, FieldDoc]:
    """Init fields of Seq2SeqTrainingArguments in the installed transformers, by name."""
    spec = importlib.util.find_spec("transformers")
    try:
        package_dir = Path(spec.origin).parent  # type: ignore[union-attr]
        docs = [doc for file, cls in _SOURCES for doc in _class_fields(package_dir / file, cls)]
        return {doc.name: doc for doc in docs}
    except (AttributeError, OSError, LookupError, SyntaxError):
        # Source layout changed: fall back to the real (slow) import.
        import dataclasses

        from transformers import Seq2SeqTrainingArguments

        return {
            f.name: FieldDoc(f.name, str(f.type), repr(f.default), f.metadata.get("help", ""))
            for f in dataclasses.fields(Seq2SeqTrainingArguments)
            if f.init
        }

