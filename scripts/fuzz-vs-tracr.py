#!/usr/bin/env python3
"""Differential fuzzer: random RASP programs compiled by the real Tracr and by our `tracr` binary.

Each program is written once, as `.rasp` text that is also valid Python. The real Tracr
(`../shared/oracle/setup.sh`'s venv) runs it in a fresh process (Tracr's labels come from a
process-global counter, so every program needs a clean one); our binary compiles the same file.
Compared, per program:

- whether both compile it or both refuse it;
- the residual labels, the output encoding (labels and decoded values, types included: Tracr
  keeps `1` where a value set met `1` before `1.0`), and every weight as float32, exactly;
- on random inputs: the RASP evaluation (values and types, or both raising) and the decoded
  model output. Where RASP says None, or the input fails Tracr's dynamic validation, the model
  output is unspecified: counted, not compared. Numerical outputs are compared with atol 1e-5
  (both forwards run in float32 with different summation orders; a wrong weight is off by far
  more, and the weights themselves are compared exactly).

Every program with a difference is written to `--out` as `NNNNN.rasp` plus `NNNNN.json`, a
fixture made by the real Tracr (schema: `fixtures/tracr-fuzz/README.md`), and listed in
`--out/differences.jsonl`. Copy the fixture into `fixtures/tracr-fuzz/` to test it in CI.

Usage (from the repository root):
  PY=$(../shared/oracle/setup.sh | tail -1)
  cargo build --release -p tracr
  $PY scripts/fuzz-vs-tracr.py --programs 2000 --seed 1 --out /tmp/fuzz
  $PY scripts/fuzz-vs-tracr.py --fixture prog.rasp --vocab 1,2,3 --max-seq-len 3 -o prog.json

By default the oracle runs in this process, with Tracr's label counter put back, before each
program, where a fresh interpreter's stands (the counter is the only state Tracr keeps between
programs; see `run_oracle_in_process`). `--spawn` runs a fresh interpreter per program instead:
the same results, at 20+ s of JAX compilation per program.
"""

import argparse
import ast
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOS, PAD = "BOS", "compiler_pad"
# Numerical decoded outputs: both forwards are float32 with different summation orders.
NUMERICAL_ATOL = 1e-5

# ------------------------------------------------------------------------------------------
# Values as JSON with their Python type kept (True, 1 and 1.0 are equal in Python, not here).
# ------------------------------------------------------------------------------------------


def typed(v):
  """A JSON-able value that keeps bool/int/float/str apart."""
  import numbers
  if v is None:
    return None
  if isinstance(v, bool):
    return {"bool": v}
  if type(v).__name__ == "bool_":
    return {"bool": bool(v)}
  if isinstance(v, numbers.Integral):
    return {"int": int(v)}
  if isinstance(v, numbers.Real):
    f = float(v)
    return {"float": f if math.isfinite(f) else repr(f)}
  if isinstance(v, str):
    return {"str": v}
  if isinstance(v, (tuple, list)):
    return {"tuple": [typed(x) for x in v]}
  raise TypeError(f"cannot encode {v!r} ({type(v)})")


def from_json_output(v):
  """Our binary prints plain JSON; json.loads keeps 1 and 1.0 and true apart."""
  if v is None:
    return None
  if isinstance(v, bool):
    return {"bool": v}
  if isinstance(v, int):
    return {"int": v}
  if isinstance(v, float):
    return {"float": v}
  if isinstance(v, str):
    return {"str": v}
  if isinstance(v, list):
    return {"tuple": [from_json_output(x) for x in v]}
  raise TypeError(repr(v))


# ------------------------------------------------------------------------------------------
# Program generator: text that both our parser and Python accept.
# ------------------------------------------------------------------------------------------

VOCABS = [
    [1, 2, 3], [0, 1, 2], [-1, 0, 1, 2], [0, 1, 2, -1], [-2, -1, 0, 1], [0, 1],
    [1, 2, 3, 4, 5], ["a", "b", "c"], ["a", "b", "x"], ["a", "b", 1, 2], [0, "a", 1],
]

INT_TO_INT = ["x + 1", "x - 1", "x * 2", "-x", "x % 3", "x // 2", "abs(x)", "min(x, 2)",
              "max(x, 1)", "x * x", "3 - x", "x", "(x + 1) % 4"]
INT_TO_BOOL = ["x > 1", "x == 0", "x != 2", "x < 2", "x >= 1"]
INT_TO_FLOAT = ["x / 2", "x + 0.5", "1.0 if x == -1 else x", "float(x)", "x * 1.0",
                "True if x == 1 else x", "0.0 if x == 0 else x"]
INT_RAISES = ["1 // x", "10 % x", "2 / x"]
INT_TO_01 = ["1 if x > 1 else 0", "x == 1", "x % 2", "1 if x == 0 else 0"]
STR_TO_STR = ["x if x != 'a' else 'b'", "'c' if x == 'a' else x", "x + 'z'", "x"]
STR_TO_ANY = ["len(x)", "x == 'a'", "1 if x == 'b' else 0", "x != 'c'"]
MIXED = ["str(x)", "x == 1", "1 if x == 'a' else 0", "x"]
BOOL_FNS = ["not x", "1 if x else 0", "x + 1", "x and True", "x or False"]
FLOAT_FNS = ["x * 2", "x > 0.5", "int(x)", "x + 1", "x - 0.5"]
PAIR_INT = ["x + y", "x - y", "x * y", "x == y", "x if x > y else y", "(x + y) % 3",
            "x < y", "min(x, y)", "x // y", "x and y", "x or y"]
PAIR_ANY = ["x == y", "x != y", "(x, y) == (y, x)", "1 if x == y else 0"]
PAIR_STR = ["x + y", "x == y", "x if x < y else y"]
PREDICATES = ["EQ", "LT", "LEQ", "GT", "GEQ", "NEQ", "TRUE", "FALSE"]
LAMBDA_PREDICATES_INT = ["lambda k, q: k != q", "lambda k, q: (k + q) % 2 == 0",
                         "lambda k, q: k == q or q == 0", "lambda k, q: k < q + 1",
                         "lambda k, q: k // q == 1"]
LAMBDA_PREDICATES_ANY = ["lambda k, q: k != q", "lambda k, q: k == q"]
FACTORS = ["1", "-1", "2", "0.5", "0", "1.5"]


class Gen:
  """Builds one program: a list of statements over typed variables."""

  def __init__(self, rng):
    self.rng = rng
    self.lines = []
    self.sops = []  # (name, encoding, kind) with kind in int/bool/float/str/mixed/01/any
    self.sels = []  # (name, keys, queries)
    self.n = 0

  def fresh(self):
    self.n += 1
    return f"v{self.n}"

  def emit(self, expr, encoding, kind):
    name = self.fresh()
    if self.rng.random() < 0.15:
      expr = f'({expr}).named("n{self.n}")'
    self.lines.append(f"{name} = {expr}")
    self.sops.append((name, encoding, kind))
    return name

  def pick(self, encoding=None, kinds=None):
    pool = [s for s in self.sops if (encoding is None or s[1] == encoding)
            and (kinds is None or s[2] in kinds)]
    return self.rng.choice(pool) if pool else None

  def fn_for(self, kind, want=None):
    r = self.rng
    if kind in ("int", "01"):
      if want == "01":
        return r.choice(INT_TO_01), "01"
      if want == "number":
        table = r.choice([(INT_TO_INT, "int"), (INT_TO_FLOAT, "float"), (INT_TO_BOOL, "bool")])
        return r.choice(table[0]), table[1]
      if r.random() < 0.05:
        return r.choice(INT_RAISES), "float"
      table = r.choice([(INT_TO_INT, "int"), (INT_TO_INT, "int"), (INT_TO_BOOL, "bool"),
                        (INT_TO_FLOAT, "float")])
      return r.choice(table[0]), table[1]
    if kind == "bool":
      return r.choice(BOOL_FNS), "int"
    if kind == "float":
      return r.choice(FLOAT_FNS), "float"
    if kind == "str":
      if want in ("number", "01"):
        return r.choice(["len(x)", "x == 'a'", "1 if x == 'b' else 0"]), "01"
      return (r.choice(STR_TO_STR), "str") if r.random() < 0.5 else (r.choice(STR_TO_ANY), "int")
    # mixed / any
    if want in ("number", "01"):
      return r.choice(["x == 1", "1 if x == 'a' else 0"]), "01"
    return r.choice(MIXED), "mixed"

  def selector(self):
    r = self.rng
    cats = [s for s in self.sops if s[1] == "cat"]
    keys, queries = r.choice(cats), r.choice(cats)
    comparable = keys[2] in ("int", "01", "bool", "float") and queries[2] in ("int", "01", "bool", "float")
    same_kind = keys[2] == queries[2] and keys[2] in ("str",)

    def predicate():
      if r.random() < 0.25:
        return r.choice(LAMBDA_PREDICATES_INT if comparable else LAMBDA_PREDICATES_ANY)
      if comparable or same_kind:
        return r.choice(PREDICATES)
      return r.choice(["EQ", "NEQ", "TRUE", "FALSE"])

    sel = f"Select({keys[0]}, {queries[0]}, {predicate()})"
    roll = r.random()
    if roll < 0.12:
      sel = f"{sel} & Select({keys[0]}, {queries[0]}, {predicate()})"
    elif roll < 0.22:
      sel = f"{sel} | Select({keys[0]}, {queries[0]}, {predicate()})"
    elif roll < 0.30:
      sel = f"~{sel}"
    if r.random() < 0.3:
      name = self.fresh()
      self.lines.append(f"{name} = {sel}")
      return name
    return sel

  def step(self):
    r = self.rng
    roll = r.random()
    cat = self.pick("cat")
    num = self.pick("num")
    if roll < 0.22:  # categorical -> categorical Map
      name, _, kind = cat
      fn, out = self.fn_for(kind)
      simplify = ", simplify=False" if r.random() < 0.2 else ""
      return self.emit(f"Map(lambda x: {fn}, {name}{simplify})", "cat", out)
    if roll < 0.32:  # categorical -> numerical Map
      name, _, kind = cat
      fn, out = self.fn_for(kind, want=r.choice(["number", "01"]))
      return self.emit(f"numerical(Map(lambda x: {fn}, {name}))", "num", out)
    if roll < 0.40 and num:  # numerical -> numerical / categorical Map
      name, _, kind = num
      fn, out = self.fn_for("float" if kind == "float" else "int")
      if r.random() < 0.5:
        return self.emit(f"numerical(Map(lambda x: {fn}, {name}))", "num", out)
      return self.emit(f"Map(lambda x: {fn}, {name})", "cat", out)
    if roll < 0.52:  # SequenceMap (sometimes of an SOp with itself)
      a = cat
      b = cat if r.random() < 0.25 else self.pick("cat")
      numeric = a[2] in ("int", "01", "bool") and b[2] in ("int", "01", "bool")
      strs = a[2] == b[2] == "str"
      fn = r.choice(PAIR_INT if numeric else PAIR_STR if strs else PAIR_ANY)
      if r.random() < 0.15 and numeric:
        op = r.choice(["+", "-", "*", "&", "|"])
        return self.emit(f"{a[0]} {op} {b[0]}", "cat", "int")
      return self.emit(f"SequenceMap(lambda x, y: {fn}, {a[0]}, {b[0]})", "cat",
                       "int" if numeric else "mixed")
    if roll < 0.60 and num:  # LinearSequenceMap (sometimes of an SOp with itself)
      a = num
      b = num if r.random() < 0.3 else self.pick("num")
      return self.emit(
          f"numerical(LinearSequenceMap({a[0]}, {b[0]}, {r.choice(FACTORS)}, {r.choice(FACTORS)}))",
          "num", "float")
    if roll < 0.72:  # categorical Aggregate
      sel = self.selector()
      name, _, kind = self.pick("cat")
      return self.emit(f"Aggregate({sel}, {name})", "cat", kind)
    if roll < 0.82:  # numerical mean of a 0/1 SOp
      ones = self.pick("num", kinds=("01", "bool"))
      if not ones:
        name, _, kind = cat
        fn, _ = self.fn_for(kind, want="01")
        ones = (self.emit(f"numerical(Map(lambda x: {fn}, {name}))", "num", "01"),)
      sel = self.selector()
      return self.emit(f"numerical(Aggregate({sel}, {ones[0]}, default=0))", "num", "float")
    if roll < 0.92:  # SelectorWidth
      sel = self.selector()
      if r.random() < 0.2:
        return self.emit(f"numerical(SelectorWidth({sel}))", "num", "int")
      return self.emit(f"SelectorWidth({sel})", "cat", "int")
    # comparison / arithmetic overloads with a constant
    name, _, kind = cat
    if kind in ("int", "01", "bool"):
      op = r.choice(["==", "<", ">", "<=", "+", "-", "*"])
      return self.emit(f"{name} {op} {r.choice([0, 1, 2])}", "cat", "int")
    return self.emit(f"{name} == 'a'", "cat", "bool")


def reads_tokens(lines):
  """Whether the last statement depends on `tokens` (Tracr refuses programs that do not)."""
  import re
  definitions = {}
  for line in lines:
    name, _, expr = line.partition(" = ")
    definitions[name] = expr
  seen, todo = set(), [lines[-1].partition(" = ")[0]]
  while todo:
    name = todo.pop()
    for used in re.findall(r"\b(v\d+|tokens)\b", definitions.get(name, "")):
      if used == "tokens":
        return True
      if used not in seen:
        seen.add(used)
        todo.append(used)
  return False


def gen_program(rng):
  """A program, mostly one that reads the tokens (a few that do not test the refusal)."""
  for _ in range(10):
    program = gen_program_once(rng)
    if reads_tokens(program[0].splitlines()) or rng.random() < 0.1:
      return program
  return program


def gen_program_once(rng):
  vocab = list(rng.choice(VOCABS))
  rng.shuffle(vocab)
  max_seq_len = rng.randint(2, 5)
  causal = rng.random() < 0.2
  g = Gen(rng)
  kinds = {type(v) for v in vocab}
  g.sops.append(("tokens", "cat", "int" if kinds == {int} else "str" if kinds == {str} else "mixed"))
  g.sops.append(("indices", "cat", "int"))
  for _ in range(rng.randint(1, 5)):
    g.step()
  if not g.lines:
    g.step()
  return "\n".join(g.lines) + "\n", vocab, max_seq_len, causal


def gen_inputs(rng, vocab, max_seq_len, count):
  seen, out = set(), []
  for _ in range(count * 5):
    xs = [rng.choice(vocab) for _ in range(rng.randint(1, max_seq_len))]
    key = json.dumps(xs)
    if key not in seen:
      seen.add(key)
      out.append(xs)
    if len(out) == count:
      break
  return out


# ------------------------------------------------------------------------------------------
# The oracle: the real Tracr on one program (in a fresh process).
# ------------------------------------------------------------------------------------------


def rasp_namespace():
  from tracr.rasp import rasp
  ns = {name: getattr(rasp, name) for name in [
      "Map", "SequenceMap", "LinearSequenceMap", "Select", "Aggregate", "SelectorWidth",
      "numerical", "categorical", "tokens", "indices", "Full", "ConstantSOp", "SelectorAnd",
      "SelectorOr", "SelectorNot", "ConstantSelector", "Comparison"]}
  ns["length"] = rasp.length
  for c in rasp.Comparison:
    ns[c.name] = c
  ns["rasp"] = rasp
  return ns


def build_program(source):
  """Runs the .rasp text as Python; the last statement is the output."""
  tree = ast.parse(source)
  ns = rasp_namespace()
  *body, last = tree.body
  exec(compile(ast.Module(body=body, type_ignores=[]), "<rasp>", "exec"), ns)
  if isinstance(last, ast.Assign):
    exec(compile(ast.Module(body=[last], type_ignores=[]), "<rasp>", "exec"), ns)
    return ns[last.targets[0].id]
  return eval(compile(ast.Expression(last.value), "<rasp>", "eval"), ns)


def oracle(source, vocab, max_seq_len, causal, inputs):
  """The real Tracr's verdict, labels, weights and outputs, as a JSON-able fixture body."""
  import numpy as np
  from tracr.compiler import compiling, validating
  from tracr.rasp import rasp, causal_eval
  prog = build_program(source)
  vocab_set = set()
  for v in vocab:  # the set a user's literal {..} in this order builds
    vocab_set.add(v)
  try:
    model = compiling.compile_rasp_to_model(
        prog, vocab=vocab_set, max_seq_len=max_seq_len, causal=causal,
        compiler_bos=BOS, compiler_pad=PAD, mlp_exactness=100)
  except Exception as e:  # pylint: disable=broad-except
    return {"compiled": False, "error": f"{type(e).__name__}: {e}"}
  out = {"compiled": True, "residual_labels": list(model.residual_labels)}
  enc = model.output_encoder
  if enc is not None and getattr(enc, "encoding_map", None) is not None:
    out["output_decoding"] = sorted([int(i), typed(v)] for v, i in enc.encoding_map.items())
  else:
    out["output_decoding"] = None
  out["weights"] = {
      mod: {name: np.asarray(w, dtype=np.float32).astype(np.float64).tolist()
            for name, w in params.items()}
      for mod, params in model.params.items()}
  evaluate = causal_eval.evaluate if causal else rasp.evaluate
  cases = []
  for xs in inputs:
    case = {"input": [typed(x) for x in xs]}
    try:
      case["rasp"] = [typed(v) for v in evaluate(prog, xs)]
    except Exception as e:  # pylint: disable=broad-except
      case["rasp_error"] = f"{type(e).__name__}: {e}"
    try:
      issues = validating.dynamic_validate(prog, xs)
      case["dynamic_issues"] = [str(i.reason) for i in issues]
    except Exception as e:  # pylint: disable=broad-except
      case["dynamic_issues"] = [f"{type(e).__name__}: {e}"]
    try:
      decoded = model.apply([BOS] + list(xs)).decoded
      case["model"] = [typed(v) for v in decoded[1:]]
    except Exception as e:  # pylint: disable=broad-except
      case["model_error"] = f"{type(e).__name__}: {e}"
    cases.append(case)
  out["inputs"] = cases
  return out


# XLA's CPU compile of each new op shape dominates the oracle's time (every program has its own
# residual width, so its ops are compiled anew: ~0.3 s each, ~50 per program). Cheaper code
# generation does not touch the weights (assigned constants, compared exactly) and changes
# float32 outputs at most in the last bits (numerical outputs are compared with atol 1e-5;
# categorical ones are decoded by argmax over well-separated logits). `--spawn-check` compares
# a sample against fresh interpreters with the default settings.
FAST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"

# Where Tracr's label counter stands in a fresh interpreter after the imports (set by `warm_up`).
FRESH_LABEL_ID = None


def record_fresh_label_id():
  """Reads where Tracr's label counter stands right after the imports, and puts it back."""
  global FRESH_LABEL_ID
  import itertools
  from tracr.rasp import rasp
  FRESH_LABEL_ID = next(rasp.RASPExpr._ids)
  rasp.RASPExpr._ids = itertools.count(FRESH_LABEL_ID)


def warm_up(max_len=6):
  """Records where a fresh interpreter's label counter stands, then compiles and runs one program
  per input length so that JAX's per-shape caches are filled once (a fresh interpreter spends
  20+ s compiling JAX ops for its first model)."""
  record_fresh_label_id()
  for source, vocab in [("numerical(Aggregate(Select(tokens, tokens, LEQ), "
                         "numerical(Map(lambda x: x % 2, tokens)), default=0))", [1, 2, 3]),
                        ("SelectorWidth(Select(tokens, indices, LT))", ["a", "b"])]:
    inputs = [[vocab[0]] * n for n in range(1, max_len + 1)]
    run_oracle_in_process(dict(source=source, vocab=vocab, max_seq_len=max_len, causal=False,
                               inputs=inputs))


def run_oracle_in_process(spec):
  """Runs `oracle` here with Tracr's label counter put back where a fresh interpreter has it.

  The counter is the only state Tracr carries from one program to the next (each program is
  built anew from its text), so the labels are those of a fresh process; forking instead
  deadlocks once JAX's threads exist, and a new interpreter per program costs 20+ s of JAX
  compilation (`--spawn` does that, to check this shortcut)."""
  import itertools
  from tracr.rasp import rasp
  rasp.RASPExpr._ids = itertools.count(FRESH_LABEL_ID)
  try:
    return oracle(spec["source"], spec["vocab"], spec["max_seq_len"], spec["causal"],
                  spec["inputs"])
  except Exception as e:  # pylint: disable=broad-except
    return {"crash": f"{type(e).__name__}: {e}"}


def run_oracle_spawned(spec):
  """Runs `oracle` in a fresh interpreter with JAX's default compiler settings (no FAST_XLA_FLAGS):
  the reference that the in-process shortcut is checked against (`--spawn-check`)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--oracle-child"],
                        input=json.dumps(spec), capture_output=True, text=True, env=env)
  try:
    return json.loads(proc.stdout.splitlines()[-1])
  except (IndexError, json.JSONDecodeError):
    return {"crash": proc.stderr[-2000:]}


# ------------------------------------------------------------------------------------------
# Ours: the tracr binary on the same text.
# ------------------------------------------------------------------------------------------


def cli_list(values):
  return ",".join(str(v) for v in values)


def ours(binary, path, spec, workdir):
  model_path = os.path.join(workdir, "m.json")
  if os.path.exists(model_path):
    os.remove(model_path)
  args = [binary, "compile", path, f"--vocab={cli_list(spec['vocab'])}",
          "--max-seq-len", str(spec["max_seq_len"]), "-o", model_path]
  if spec["causal"]:
    args.append("--causal")
  proc = subprocess.run(args, capture_output=True, text=True)
  if proc.returncode != 0:
    return {"compiled": False, "error": proc.stderr.strip()}
  with open(model_path) as f:
    model = json.load(f)
  out = {"compiled": True, "residual_labels": model["residual_labels"]}
  enc = model["output_encoding"]
  out["output_decoding"] = ([[i, from_json_output(v)] for v, i in sorted(enc["map"], key=lambda p: p[1])]
                            if enc.get("kind") == "categorical" else None)
  out["weights"] = model["weights"]
  run_args = [binary, "run", model_path]
  for xs in spec["inputs"]:
    run_args.append(f"--input={cli_list(xs)}")
  proc = subprocess.run(run_args, capture_output=True, text=True)
  lines = proc.stdout.splitlines()
  cases = []
  for i, xs in enumerate(spec["inputs"]):
    case = {}
    ev = [binary, "eval", path, f"--input={cli_list(xs)}"] + (["--causal"] if spec["causal"] else [])
    e = subprocess.run(ev, capture_output=True, text=True)
    if e.returncode == 0:
      case["rasp"] = [from_json_output(v) for v in json.loads(e.stdout)]
    else:
      case["rasp_error"] = e.stderr.strip()
    if proc.returncode == 0 and i < len(lines):
      case["model"] = [from_json_output(v) for v in json.loads(lines[i])[1:]]
    else:
      case["model_error"] = proc.stderr.strip()
    cases.append(case)
  out["inputs"] = cases
  return out


# ------------------------------------------------------------------------------------------
# Comparison.
# ------------------------------------------------------------------------------------------


def close(a, b):
  if a is None or b is None:
    return a is b
  if "float" in a or "float" in b:
    x = next(iter(a.values()))
    y = next(iter(b.values()))
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
      return abs(x - y) <= NUMERICAL_ATOL
  return a == b


def compare(theirs, mine, counts):
  """Differences between the oracle's and our results (empty when they agree)."""
  import numpy as np
  diffs = []
  if theirs["compiled"] != mine["compiled"]:
    return [f"compiled: tracr {theirs['compiled']} ({theirs.get('error', '')}), "
            f"ours {mine['compiled']} ({mine.get('error', '')})"]
  if not theirs["compiled"]:
    counts["both_refused"] += 1
    return []
  counts["both_compiled"] += 1
  if theirs["residual_labels"] != mine["residual_labels"]:
    diffs.append(f"residual_labels: tracr {theirs['residual_labels']} ours {mine['residual_labels']}")
  if theirs["output_decoding"] != mine["output_decoding"]:
    diffs.append(f"output decoding: tracr {theirs['output_decoding']} ours {mine['output_decoding']}")
  if not diffs:
    for mod, params in theirs["weights"].items():
      for name, w in params.items():
        got = mine["weights"].get(mod, {}).get(name)
        # Our model file keeps f64; the model runs in f32, as Tracr's does: compare as f32.
        if got is None or not np.array_equal(np.float32(w), np.float32(got)):
          at = "" if got is None or np.shape(w) != np.shape(got) else str(
              np.argwhere(np.float32(w) != np.float32(got))[:3].tolist())
          diffs.append(f"weights {mod}/{name} differ at {at}")
  for t, m in zip(theirs["inputs"], mine["inputs"]):
    xs = [next(iter(v.values())) for v in t["input"]]
    counts["inputs"] += 1
    if ("rasp_error" in t) != ("rasp_error" in m):
      diffs.append(f"input {xs}: rasp tracr {t.get('rasp', t.get('rasp_error'))} "
                   f"ours {m.get('rasp', m.get('rasp_error'))}")
      continue
    if "rasp_error" in t:
      counts["rasp_raises"] += 1
      continue
    if t["rasp"] != m["rasp"]:
      diffs.append(f"input {xs}: rasp tracr {t['rasp']} ours {m['rasp']}")
    unspecified = any(v is None for v in t["rasp"]) or bool(t["dynamic_issues"])
    if unspecified:
      counts["unspecified"] += 1
      continue
    if "model" not in t or "model" not in m:
      if ("model" in t) != ("model" in m):
        diffs.append(f"input {xs}: model tracr {t.get('model', t.get('model_error'))} "
                     f"ours {m.get('model', m.get('model_error'))}")
      continue
    counts["model_compared"] += 1
    if len(t["model"]) != len(m["model"]) or not all(
        close(a, b) for a, b in zip(t["model"], m["model"])):
      diffs.append(f"input {xs}: model tracr {t['model']} ours {m['model']}")
  return diffs


# ------------------------------------------------------------------------------------------
# Driver.
# ------------------------------------------------------------------------------------------


def fixture(spec, theirs):
  return {"schema": "tracr-fuzz/1", "made_by": "tracr-pypi 1.0.0 via scripts/fuzz-vs-tracr.py",
          "source": spec["source"], "vocab": [typed(v) for v in spec["vocab"]],
          "max_seq_len": spec["max_seq_len"], "causal": spec["causal"], "tracr": theirs}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--programs", type=int, default=100)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--inputs", type=int, default=6, help="random inputs per program")
  ap.add_argument("--out", default="fuzz-out", help="where programs with differences go")
  ap.add_argument("--tracr", default=os.path.join(ROOT, "target", "release", "tracr"))
  ap.add_argument("--spawn", action="store_true", help="a new interpreter per program")
  ap.add_argument("--spawn-check", type=int, default=0, metavar="N",
                  help="also run every Nth program in a fresh interpreter with default XLA settings "
                       "and require the same oracle result as the in-process run")
  ap.add_argument("--fast-xla", action="store_true",
                  help=f"compile JAX ops with {FAST_XLA_FLAGS!r} (see FAST_XLA_FLAGS)")
  ap.add_argument("--fixture", help="make a fixture for this .rasp file with the real Tracr")
  ap.add_argument("--vocab")
  ap.add_argument("--max-seq-len", type=int)
  ap.add_argument("--causal", action="store_true")
  ap.add_argument("-o", "--output")
  ap.add_argument("--input", action="append", default=[], help="fixture input (repeatable)")
  ap.add_argument("--oracle-child", action="store_true", help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.fixture:
    missing = [flag for flag, value in [("--vocab", args.vocab), ("--max-seq-len", args.max_seq_len),
                                        ("-o", args.output)] if value is None]
    if missing:
      ap.error(f"--fixture needs {', '.join(missing)} too")
    if not os.path.isfile(args.fixture):
      ap.error(f"--fixture {args.fixture}: no such file (give the program's .rasp text)")
  elif not args.oracle_child and not os.access(args.tracr, os.X_OK):
    ap.error(f"--tracr {args.tracr}: not an executable; build it with `cargo build --release -p tracr`")

  if args.oracle_child:
    spec = json.load(sys.stdin)
    print(json.dumps(oracle(spec["source"], spec["vocab"], spec["max_seq_len"], spec["causal"],
                            spec["inputs"])))
    return 0

  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  if args.fast_xla and not args.oracle_child:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FAST_XLA_FLAGS).strip()
  import jax  # imported once: every program runs in this process (see run_oracle_in_process)
  jax.config.update("jax_default_matmul_precision", "float32")
  import tracr.compiler.compiling  # noqa: F401
  run_oracle = run_oracle_spawned if args.spawn else run_oracle_in_process
  record_fresh_label_id()

  def parse_items(text):
    items = []
    for item in text.split(","):
      try:
        items.append(int(item))
      except ValueError:
        items.append(item)
    return items

  if args.fixture:
    with open(args.fixture) as f:
      source = f.read()
    vocab = parse_items(args.vocab)
    inputs = [parse_items(i) for i in args.input] or gen_inputs(
        random.Random(0), vocab, args.max_seq_len, args.inputs)
    spec = dict(source=source, vocab=vocab, max_seq_len=args.max_seq_len, causal=args.causal,
                inputs=inputs)
    theirs = run_oracle(spec)
    with open(args.output, "w") as f:
      json.dump(fixture(spec, theirs), f, indent=None, separators=(",", ":"))
      f.write("\n")
    print(f"wrote {args.output}: compiled={theirs.get('compiled')}")
    return 0

  if not args.spawn:
    warm_up()
  os.makedirs(args.out, exist_ok=True)
  counts = {k: 0 for k in ["programs", "both_compiled", "both_refused", "inputs", "rasp_raises",
                           "unspecified", "model_compared", "with_differences", "oracle_crash",
                           "spawn_checked", "spawn_mismatch"]}
  rng = random.Random(args.seed)
  started = time.time()
  with tempfile.TemporaryDirectory() as work, open(
      os.path.join(args.out, "differences.jsonl"), "a") as log:
    for index in range(args.programs):
      source, vocab, max_seq_len, causal = gen_program(rng)
      spec = dict(source=source, vocab=vocab, max_seq_len=max_seq_len, causal=causal,
                  inputs=gen_inputs(rng, vocab, max_seq_len, args.inputs))
      path = os.path.join(work, "p.rasp")
      with open(path, "w") as f:
        f.write(source)
      theirs = run_oracle(spec)
      counts["programs"] += 1
      if "crash" in theirs:
        counts["oracle_crash"] += 1
        print(f"[{index}] oracle crash: {theirs['crash'][:300]}", file=sys.stderr)
        continue
      mine = ours(args.tracr, path, spec, work)
      diffs = compare(theirs, mine, counts)
      if args.spawn_check and not args.spawn and index % args.spawn_check == 0:
        fresh = run_oracle_spawned(spec)
        counts["spawn_checked"] += 1
        if fresh != theirs:
          counts["spawn_mismatch"] += 1
          diffs.append("in-process oracle differs from a fresh interpreter's: "
                       + json.dumps(fresh)[:300] + " vs " + json.dumps(theirs)[:300])
      if diffs:
        counts["with_differences"] += 1
        stem = os.path.join(args.out, f"{args.seed}-{index:05d}")
        with open(stem + ".rasp", "w") as f:
          f.write(source)
        with open(stem + ".json", "w") as f:
          json.dump(fixture(spec, theirs), f, separators=(",", ":"))
        log.write(json.dumps({"program": stem, "vocab": vocab, "max_seq_len": max_seq_len,
                              "causal": causal, "source": source, "differences": diffs}) + "\n")
        log.flush()
        print(f"[{index}] DIFFERENCE vocab={vocab} msl={max_seq_len} causal={causal}\n{source}"
              + "\n".join("  " + d[:400] for d in diffs), file=sys.stderr)
      if (index + 1) % 10 == 0:
        print(f"{index + 1} programs, {time.time() - started:.0f}s: {json.dumps(counts)}",
              file=sys.stderr)
  print(json.dumps(counts))
  return 1 if counts["with_differences"] else 0


if __name__ == "__main__":
  sys.exit(main())
