"""Validate the sample datasets written by build.py.

Usage (from the repository root)::

    python scripts/sample_data/check.py [DATA_DIR]

Checks the schema of every file, ShareGPT role alternation, MCQ options/answers,
lexicon term types, duplicate ids, that evaluation questions do not repeat SFT
instructions, and that pregnancy-related reference answers avoid herbs that are
contraindicated or to be used with caution in pregnancy.  Prints every problem as
``file: record: message`` and exits with status 1 if any was found.  Stdlib only.

Containment (leakage) check: the evaluation sets are built from facts held out of
the training generators, so no evaluation item may be a near-copy of a training
document.  For every clinical-QA reference answer (its ``output``) and every MCQ
item (question + correct option + explanation) it takes the set of character
4-grams of the text with whitespace removed and the share of them found in ONE
training document (a PT line's text; an SFT record's instruction + input + output +
history; a dialogue's joined turns; a preference pair's instruction + chosen + rejected),
maximised over documents.  It prints the
median and the maximum with the worst items, and fails when any item is above
``MAX_CONTAINMENT``.
"""
import json
import os
import re
import sys
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import build  # noqa: E402  (stdlib-only generator module; used for shared constants)

CATEGORIES = {"tcm", "western", "integrated"}
GRAM = 4  # character n-gram length of the containment check
MAX_CONTAINMENT = 0.30  # an evaluation item sharing more of its 4-grams with one training document fails
DATASET_ORDER = ["medical_pt_sample", "medical_sft_sample", "medical_dialogue_sample", "medical_preference_sample",
                 "medical_kto_sample", "medical_grpo_sample", "clinical_qa_sample", "medical_mcq_sample", "medical_terms"]
PREFERENCE_CATEGORIES = {"herb_pairing", "pregnancy", "drug_interaction", "emergency", "caution"}


class Report:
    def __init__(self):
        self.errors = []
        self.sft_count = 0

    def err(self, fname, where, msg):
        self.errors.append("%s: %s: %s" % (fname, where, msg))


def nonempty_str(x):
    return isinstance(x, str) and x.strip() != ""


def load_json(rep, path):
    fname = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        rep.err(fname, "-", "cannot load: %s" % exc)
        return None


def check_pt(rep, path):
    fname = os.path.basename(path)
    n = 0
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - a failed open is reported here; the with block below closes it
    except OSError as exc:
        rep.err(fname, "-", "cannot open: %s" % exc)
        return 0
    with fh:
        for i, line in enumerate(fh, 1):
            n += 1
            try:
                obj = json.loads(line)
            except ValueError as exc:
                rep.err(fname, "line %d" % i, "invalid JSON: %s" % exc)
                continue
            if not isinstance(obj, dict) or list(obj) != ["text"] or not nonempty_str(obj["text"]):
                rep.err(fname, "line %d" % i, 'expected {"text": non-empty string}')
                continue
            if not 80 <= len(obj["text"]) <= 400:
                rep.err(fname, "line %d" % i, "text length %d outside 80..400" % len(obj["text"]))
    if n == 0:
        rep.err(fname, "-", "empty file")
    return n


def check_sft(rep, path):
    fname = os.path.basename(path)
    data = load_json(rep, path)
    if not isinstance(data, list) or not data:
        rep.err(fname, "-", "expected a non-empty JSON list")
        return set()
    keys = ["instruction", "input", "output", "system", "history", "category"]
    for i, r in enumerate(data):
        where = "record %d" % i
        if not isinstance(r, dict) or list(r) != keys:
            rep.err(fname, where, "keys must be exactly %s" % keys)
            continue
        for k in ("instruction", "output"):
            if not nonempty_str(r[k]):
                rep.err(fname, where, "%s must be a non-empty string" % k)
        for k in ("input", "system"):
            if not isinstance(r[k], str):
                rep.err(fname, where, "%s must be a string" % k)
        if r["category"] not in CATEGORIES:
            rep.err(fname, where, "bad category %r" % r["category"])
        if not isinstance(r["history"], list):
            rep.err(fname, where, "history must be a list")
        else:
            for j, pair in enumerate(r["history"]):
                if not (isinstance(pair, list) and len(pair) == 2 and all(nonempty_str(x) for x in pair)):
                    rep.err(fname, where, "history[%d] must be [question, answer]" % j)
    rep.sft_count = len(data)
    return {r.get("instruction") for r in data if isinstance(r, dict)}


def check_dialogue(rep, path):
    fname = os.path.basename(path)
    data = load_json(rep, path)
    if not isinstance(data, list) or not data:
        rep.err(fname, "-", "expected a non-empty JSON list")
        return
    for i, r in enumerate(data):
        where = "record %d" % i
        if not isinstance(r, dict) or list(r) != ["conversations", "category"]:
            rep.err(fname, where, "keys must be exactly ['conversations', 'category']")
            continue
        if r["category"] not in CATEGORIES:
            rep.err(fname, where, "bad category %r" % r["category"])
        conv = r["conversations"]
        if not isinstance(conv, list) or not conv:
            rep.err(fname, where, "conversations must be a non-empty list")
            continue
        ok = True
        for j, t in enumerate(conv):
            if not isinstance(t, dict) or list(t) != ["from", "value"] or not nonempty_str(t.get("value")):
                rep.err(fname, where, "turn %d must be {from, value} with non-empty value" % j)
                ok = False
        if not ok:
            continue
        roles = [t["from"] for t in conv]
        if roles[0] == "system":
            roles = roles[1:]
        expected = ["human", "gpt"] * (len(roles) // 2)
        if roles != expected or not roles:
            rep.err(fname, where, "roles must alternate human/gpt after optional system and end with gpt: %s" % roles)
        elif not 2 <= len(roles) // 2 <= 4:
            rep.err(fname, where, "expected 2-4 rounds, got %d" % (len(roles) // 2))


def check_preference(rep, path, kto_path):
    """Pairs: the keys, non-empty and different answers, a known category, no held-out entity named; the KTO file:
    one answer per pair, chosen for even records and rejected for odd ones."""
    fname = os.path.basename(path)
    data = load_json(rep, path)
    if not isinstance(data, list) or not data:
        rep.err(fname, "-", "expected a non-empty JSON list")
        return
    keys = ["instruction", "input", "chosen", "rejected", "category"]
    held = [name for kind in ("herb", "formula", "syndrome", "disease", "drug", "exam") for name in build.HELD_OUT[kind]]
    for i, r in enumerate(data):
        where = "record %d" % i
        if not isinstance(r, dict) or list(r) != keys:
            rep.err(fname, where, "keys must be exactly %s" % keys)
            continue
        if not all(nonempty_str(r[k]) for k in ("instruction", "chosen", "rejected")) or r["chosen"] == r["rejected"]:
            rep.err(fname, where, "instruction/chosen/rejected must be non-empty strings, chosen != rejected")
        if r["category"] not in PREFERENCE_CATEGORIES:
            rep.err(fname, where, "bad category %r" % r["category"])
        named = [name for name in held if any(name in r[k] for k in ("instruction", "chosen", "rejected"))]
        if named:
            rep.err(fname, where, "names held-out entities %s" % named)
    kto = load_json(rep, kto_path)
    if not isinstance(kto, list) or len(kto) != len(data):
        rep.err(os.path.basename(kto_path), "-", "expected one record per preference pair")
        return
    for i, (r, pair) in enumerate(zip(kto, data)):
        answer = pair["chosen"] if i % 2 == 0 else pair["rejected"]
        turns = r.get("conversations") if isinstance(r, dict) else None
        if (not turns or [t.get("value") for t in turns] != [pair["instruction"], answer] or r.get("kto_tag") is not (i % 2 == 0)):
            rep.err(os.path.basename(kto_path), "record %d" % i, "must be pair %d's question and its %s answer" %
                    (i, "chosen" if i % 2 == 0 else "rejected"))


def check_clinical_qa(rep, path, sft_instructions, terms, training_text):
    fname = os.path.basename(path)
    data = load_json(rep, path)
    if not isinstance(data, list) or not data:
        rep.err(fname, "-", "expected a non-empty JSON list")
        return
    keys = ["id", "instruction", "input", "output", "category"]
    caution = build.pregnancy_caution_herbs()
    ids, instr = set(), set()
    for i, r in enumerate(data):
        where = "record %d" % i
        if not isinstance(r, dict) or list(r) != keys:
            rep.err(fname, where, "keys must be exactly %s" % keys)
            continue
        where = "record %d (%s)" % (i, r["id"])
        if not (isinstance(r["id"], str) and re.fullmatch(r"cqa-\d{4}", r["id"])):
            rep.err(fname, where, "id must look like cqa-0001")
        if r["id"] in ids:
            rep.err(fname, where, "duplicate id")
        ids.add(r["id"])
        if not nonempty_str(r["instruction"]) or not nonempty_str(r["output"]) or not isinstance(r["input"], str):
            rep.err(fname, where, "instruction/output must be non-empty strings, input a string")
            continue
        key = (r["instruction"], r["input"])
        if key in instr:
            rep.err(fname, where, "duplicate question")
        instr.add(key)
        if r["instruction"] in sft_instructions:
            rep.err(fname, where, "instruction also appears in medical_sft_sample.json")
        if r["output"] in training_text:
            rep.err(fname, where, "reference answer appears word for word in the training samples")
        if r["category"] not in CATEGORIES:
            rep.err(fname, where, "bad category %r" % r["category"])
        if terms and not any(t in r["output"] for t in terms):
            rep.err(fname, where, "output mentions no lexicon term")
        if "孕妇" in r["instruction"] or "妊娠" in r["instruction"]:
            bad = sorted(h for h in caution if h in r["output"])
            if bad:
                rep.err(fname, where, "pregnancy answer mentions caution herbs %s" % bad)


def check_mcq(rep, path):
    fname = os.path.basename(path)
    data = load_json(rep, path)
    if not isinstance(data, list) or not data:
        rep.err(fname, "-", "expected a non-empty JSON list")
        return
    keys = ["id", "question", "options", "answer", "category", "explanation"]
    ids = set()
    for i, r in enumerate(data):
        where = "record %d" % i
        if not isinstance(r, dict) or list(r) != keys:
            rep.err(fname, where, "keys must be exactly %s" % keys)
            continue
        where = "record %d (%s)" % (i, r["id"])
        if not (isinstance(r["id"], str) and re.fullmatch(r"mcq-\d{4}", r["id"])):
            rep.err(fname, where, "id must look like mcq-0001")
        if r["id"] in ids:
            rep.err(fname, where, "duplicate id")
        ids.add(r["id"])
        if not nonempty_str(r["question"]) or not nonempty_str(r["explanation"]):
            rep.err(fname, where, "question/explanation must be non-empty strings")
        opts = r["options"]
        if not isinstance(opts, dict) or list(opts) != list("ABCDE"):
            rep.err(fname, where, "options must have exactly the keys A, B, C, D, E in order")
            continue
        vals = list(opts.values())
        if not all(nonempty_str(v) for v in vals) or len(set(vals)) != 5:
            rep.err(fname, where, "options must be 5 distinct non-empty strings")
        if r["answer"] not in opts:
            rep.err(fname, where, "answer %r not among options" % r["answer"])
        if r["category"] not in ("tcm", "western"):
            rep.err(fname, where, "bad category %r" % r["category"])


def check_terms(rep, path):
    fname = os.path.basename(path)
    terms = {}
    rows = []
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - a failed open is reported here; the with block below closes it
    except OSError as exc:
        rep.err(fname, "-", "cannot open: %s" % exc)
        return terms
    with fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].startswith("#"):
        rep.err(fname, "line 1", "file must start with # header lines")
    for i, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or parts[0] != parts[0].strip():
            rep.err(fname, "line %d" % i, "expected term<TAB>type, got %r" % line)
            continue
        term, typ = parts
        if typ not in build.TERM_TYPES:
            rep.err(fname, "line %d" % i, "invalid type %r for %r" % (typ, term))
        if term in terms:
            rep.err(fname, "line %d" % i, "duplicate term %r" % term)
        terms[term] = typ
        rows.append((typ, term))
    order = {t: k for k, t in enumerate(build.TERM_TYPES)}
    keyed = [(order.get(t, 99), term) for t, term in rows]
    if keyed != sorted(keyed):
        rep.err(fname, "-", "terms must be sorted by type then term")
    if not rows:
        rep.err(fname, "-", "no terms")
    return terms


def check_info(rep, path, data_dir):
    fname = os.path.basename(path)
    info = load_json(rep, path)
    if not isinstance(info, dict):
        rep.err(fname, "-", "expected a JSON object")
        return
    if list(info) != DATASET_ORDER:
        rep.err(fname, "-", "entries must be exactly %s in that order" % DATASET_ORDER)
    expected = build.dataset_info()
    for name, entry in info.items():
        if expected.get(name) != entry:
            rep.err(fname, name, "entry differs from the expected registry")
        fn = entry.get("file_name") if isinstance(entry, dict) else None
        if not fn or not os.path.isfile(os.path.join(data_dir, fn)):
            rep.err(fname, name, "file_name %r does not exist" % fn)


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def char_grams(text, n=GRAM):
    """The set of character n-grams of ``text`` with all whitespace removed."""
    s = re.sub(r"\s+", "", text)
    return {s[i:i + n] for i in range(len(s) - n + 1)}


def training_documents(data_dir):
    """(name, text) of every training document: PT lines, SFT records, dialogues (unreadable files are skipped:
    the schema checks report them)."""
    docs = []
    try:
        with open(os.path.join(data_dir, "medical_pt_sample.jsonl"), encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                docs.append(("pt line %d" % i, json.loads(line)["text"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(data_dir, "medical_sft_sample.json"), encoding="utf-8") as fh:
            for i, r in enumerate(json.load(fh)):
                parts = [r["instruction"], r["input"], r["output"]] + [x for pair in r["history"] for x in pair]
                docs.append(("sft record %d" % i, "\n".join(parts)))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(data_dir, "medical_dialogue_sample.json"), encoding="utf-8") as fh:
            for i, r in enumerate(json.load(fh)):
                docs.append(("dialogue %d" % i, "\n".join(t["value"] for t in r["conversations"])))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:  # the KTO file holds the same texts
        with open(os.path.join(data_dir, "medical_preference_sample.json"), encoding="utf-8") as fh:
            for i, r in enumerate(json.load(fh)):
                docs.append(("preference pair %d" % i, "\n".join([r["instruction"], r["chosen"], r["rejected"]])))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return docs


def evaluation_items(data_dir):
    """(id, text) of every evaluation item: a clinical-QA reference answer; an MCQ's question, correct option and
    explanation."""
    items = []
    try:
        with open(os.path.join(data_dir, "clinical_qa_sample.json"), encoding="utf-8") as fh:
            items += [(r["id"], r["output"]) for r in json.load(fh)]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(data_dir, "medical_mcq_sample.json"), encoding="utf-8") as fh:
            items += [(r["id"], "\n".join([r["question"], r["options"][r["answer"]], r["explanation"]]))
                      for r in json.load(fh)]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return items


def containment(items, docs):
    """[(share, item id, document name)]: for each item, the largest share of its 4-grams found in one document.
    An inverted index (4-gram -> document numbers) keeps it linear in the items' 4-grams times their postings."""
    index = {}
    for k, (_, text) in enumerate(docs):
        for g in char_grams(text):
            index.setdefault(g, []).append(k)
    out = []
    for item_id, text in items:
        grams = char_grams(text)
        counts = {}
        for g in grams:
            for k in index.get(g, ()):
                counts[k] = counts.get(k, 0) + 1
        best = max(counts, key=lambda k: (counts[k], -k)) if counts else None
        share = counts[best] / len(grams) if grams and best is not None else 0.0
        out.append((share, item_id, docs[best][0] if best is not None else "-"))
    return out


def containment_figures(scores):
    """{"qa" | "mcq" | "all": (median, max, items)} of containment() scores; build.py writes them into the README."""
    out = {}
    for key, prefix in (("qa", "cqa-"), ("mcq", "mcq-"), ("all", "")):
        shares = [share for share, item_id, _ in scores if item_id.startswith(prefix)]
        if shares:
            out[key] = (median(shares), max(shares), len(shares))
    return out


def data_containment(data_dir):
    """containment_figures() of the files in data_dir."""
    return containment_figures(containment(evaluation_items(data_dir), training_documents(data_dir)))


def check_containment(rep, data_dir):
    """Report the containment of the evaluation items in the training documents; an error for each item above
    MAX_CONTAINMENT. Returns (median, max) or None when there is nothing to measure."""
    docs = training_documents(data_dir)
    scores = containment(evaluation_items(data_dir), docs)
    if not scores:
        return None
    worst = sorted(scores, key=lambda x: (-x[0], x[1]))
    print("containment: share of an evaluation item's character %d-grams found in one training document "
          "(%d items, %d training documents; limit %.0f%%, the median should be far lower):"
          % (GRAM, len(scores), len(docs), 100 * MAX_CONTAINMENT))
    labels = {"qa": "clinical QA answers", "mcq": "MCQ items", "all": "all items"}
    for key, (mid, top, n) in containment_figures(scores).items():
        print("  %-20s median %5.1f%%, max %5.1f%% (%d items)" % (labels[key], 100 * mid, 100 * top, n))
    print("  worst 5: %s" % ", ".join("%s %.1f%% (%s)" % (i, 100 * s, d) for s, i, d in worst[:5]))
    for share, item_id, doc in worst:
        if share > MAX_CONTAINMENT:
            rep.err("containment", item_id, "%.1f%% of its %d-grams are in %s (limit %.0f%%)"
                    % (100 * share, GRAM, doc, 100 * MAX_CONTAINMENT))
    shares = [share for share, _, _ in scores]
    return median(shares), max(shares)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    data_dir = os.path.abspath(argv[0]) if argv else build.DATA_DIR
    rep = Report()
    p = lambda name: os.path.join(data_dir, name)  # noqa: E731
    n_pt = check_pt(rep, p("medical_pt_sample.jsonl"))
    sft_instr = check_sft(rep, p("medical_sft_sample.json"))
    check_dialogue(rep, p("medical_dialogue_sample.json"))
    check_preference(rep, p("medical_preference_sample.json"), p("medical_kto_sample.json"))
    terms = check_terms(rep, p("medical_terms.txt"))
    training_text = "\n".join(Path(p(name)).read_text(encoding="utf-8") for name in
                              ("medical_pt_sample.jsonl", "medical_sft_sample.json", "medical_dialogue_sample.json",
                               "medical_preference_sample.json") if os.path.isfile(p(name)))  # a missing one is reported above
    check_clinical_qa(rep, p("clinical_qa_sample.json"), sft_instr, terms, training_text)
    check_mcq(rep, p("medical_mcq_sample.json"))
    check_info(rep, p("dataset_info.json"), data_dir)
    check_containment(rep, data_dir)
    if not os.path.isfile(p("README.md")):
        rep.err("README.md", "-", "missing")
    if rep.errors:
        for e in rep.errors:
            print(e, file=sys.stderr)
        print("check FAILED: %d problem(s) in %s" % (len(rep.errors), data_dir), file=sys.stderr)
        return 1
    print("check OK: %s (pt lines=%d, sft records=%d, terms=%d)" % (data_dir, n_pt, rep.sft_count, len(terms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
