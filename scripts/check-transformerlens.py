#!/usr/bin/env python3
"""Loads every library program, exported by `tracr compile --format transformerlens`, into
TransformerLens's HookedTransformer and checks it against the real Tracr's outputs in fixtures/tracr/.

For each of the 26 oracle fixtures (30 inputs each) it compares:
  - the decoded output at every position whose RASP output is defined (categorical: the same label;
    numerical: within 1e-4, docs/interop.md says why), against the fixture's `model_decoded`;
  - on the fixture's traced inputs, TransformerLens's residual stream after every attention and MLP
    (hook_resid_mid / hook_resid_post), attention scores (hook_attn_scores) and patterns (hook_pattern)
    against Tracr's, because saturated attention hides a wrong attention scale from the outputs.
It then writes TransformerLens's logits for a few programs to fixtures/transformerlens/NAME.json, which
tracr/tests/transformerlens_export_matches_transformerlens_logits.rs reproduces from the exported files.
Last, it exports every program rotated (`--rotate 1`: exact, so TransformerLens must decode the fixture
inputs as Tracr does) and a few compressed (`--compress D`), and compares TransformerLens's decoded
outputs with `tracr run` on the same model's JSON, on inputs of max_seq_len tokens (the compression's
data): the unembedding must read the residual through the map.

Not part of CI (the install is several GB). Its own venv: /root/.cache/tl-venv (override with
TL_VENV), created on first run with transformer-lens<4 (4.0 removed HookedTransformer).
Usage: python3 scripts/check-transformerlens.py [--no-fixture]
"""

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("TL_VENV", "/root/.cache/tl-venv"))
# Programs whose logits become fixtures: categorical bidirectional, numerical causal, a model with
# empty attention and MLP blocks (8 layers), and sort's MLP-heavy keys.
LOGIT_FIXTURES = ["reverse", "frac_prevs_causal", "shuffle_dyck2", "sort"]
# TransformerLens and Tracr both run float32, with different summation orders: numbers agree to
# float32 rounding amplified by the MLPs' slopes (mlp_exactness 100); the measured worst case on
# these fixtures is 1.5e-5 (known_limit_map_after_mean).
NUMBER_TOLERANCE = 1e-4
# Residuals: the same, relative above magnitude 1 (hidden values reach ~100).
RESIDUAL_TOLERANCE = 1e-4
# Attention scores are q.k scaled: residual rounding times the softmax coldness (100) / sqrt(d_head).
SCORE_TOLERANCE = 1e-3
PATTERN_TOLERANCE = 1e-4
# Tracr masks with -1e30, TransformerLens with -inf: such entries are compared as "masked".
MASKED = -1e29


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} (torch and transformer-lens<4: a few minutes, several GB)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        # The CPU-only wheel is small; where its index cannot be reached, PyPI's default wheel works.
        if subprocess.run(pip + ["torch", "--index-url", "https://download.pytorch.org/whl/cpu"]).returncode:
            subprocess.run(pip + ["torch"], check=True)
        subprocess.run(pip + ["transformer-lens<4", "safetensors"], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def tracr_binary():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "tracr", "--bin", "tracr"], cwd=REPO, check=True
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "tracr"


def py_str(value):
    """The token as vocab.json keys it: Python's str(), booleans included."""
    return str(value)


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


def main():
    ensure_venv()
    import torch
    import transformer_lens
    from importlib.metadata import version
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.set_grad_enabled(False)
    tl_version, torch_version = version("transformer-lens"), torch.__version__
    print(f"transformer-lens {tl_version}, torch {torch_version}")
    write_fixture = "--no-fixture" not in sys.argv
    tracr = tracr_binary()
    fixtures = sorted(p for p in (REPO / "fixtures" / "tracr").glob("*.json") if p.stem != "SUMMARY")
    totals = {"programs": 0, "programs_ok": 0, "inputs": 0, "inputs_ok": 0, "positions": 0,
              "traces": 0, "traces_ok": 0, "rotated": 0, "rotated_ok": 0, "compressed": 0,
              "compressed_ok": 0, "compressed_inputs": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in fixtures:
            name = path.stem
            fixture = json.loads(path.read_text())
            args = fixture["compile_args"]
            folder = Path(tmp) / name
            compile_cmd = [str(tracr), "compile", "--lib", name, "--max-seq-len", str(args["max_seq_len"]),
                           f"--causal={'true' if args['causal'] else 'false'}",
                           "--format", "transformerlens", "-o", str(folder)]
            subprocess.run(compile_cmd, check=True, capture_output=True)
            cfg = json.loads((folder / "config.json").read_text())
            vocab = json.loads((folder / "vocab.json").read_text())
            model = HookedTransformer(HookedTransformerConfig(**cfg))
            missing, unexpected = model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
            buffers = [k for k in missing if not k.endswith((".IGNORE", ".mask"))]
            if buffers or unexpected:
                failures.append(f"{name}: state dict: missing {buffers}, unexpected {list(unexpected)}")
            model.eval()
            totals["programs"] += 1
            program_ok = True
            logits_record = []
            for item in fixture["inputs"]:
                tokens = item["model_input"]
                ids = [vocab["input"][py_str(t)] for t in tokens]
                if ids != item["model_input_ids"]:
                    failures.append(f"{name} {tokens}: ids {ids} != Tracr's {item['model_input_ids']}")
                logits = model(torch.tensor([ids]), return_type="logits")[0]
                logits_record.append({"model_input": tokens, "ids": ids, "logits": logits.tolist()})
                ok = True
                for pos in range(1, len(tokens)):
                    if item["rasp_output"][pos - 1] is None:
                        continue  # undefined positions may tie exactly (detect_pattern_ab)
                    want = item["model_decoded"][pos]
                    if vocab["output"] is None:
                        got = logits[pos, vocab["output_numerical_index"]].item()
                        good = close(got, float(want), NUMBER_TOLERANCE)
                    else:
                        got = vocab["output"][int(logits[pos].argmax())]
                        good = got == want and type(got) is type(want)
                    totals["positions"] += 1
                    if not good:
                        ok = False
                        failures.append(f"{name} {tokens} position {pos}: TransformerLens {got!r}, Tracr {want!r}")
                totals["inputs"] += 1
                totals["inputs_ok"] += ok
                program_ok &= ok
            for trace in fixture["traces"]:
                tokens = trace["model_input"]
                ids = [vocab["input"][py_str(t)] for t in tokens]
                _, cache = model.run_with_cache(torch.tensor([ids]))
                problems = []
                for half, (theirs, module) in enumerate(zip(trace["residuals"], trace["residual_names"])):
                    layer = half // 2
                    hook = f"blocks.{layer}.hook_resid_{'mid' if half % 2 == 0 else 'post'}"
                    ours = cache[hook][0]
                    worst = max(abs(a - b) / max(1.0, abs(b)) for ra, rb in zip(ours.tolist(), theirs)
                                for a, b in zip(ra, rb))
                    if worst > RESIDUAL_TOLERANCE:
                        problems.append(f"{hook} ({module}) differs by {worst:.3g}")
                for layer, (scores, pattern) in enumerate(zip(trace["attn_logits"], trace["attn_weights"])):
                    tl_scores = cache[f"blocks.{layer}.attn.hook_attn_scores"][0].tolist()
                    tl_pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0].tolist()
                    for h, (sh, ph) in enumerate(zip(scores, pattern)):
                        for q in range(len(sh)):
                            for k in range(len(sh[q])):
                                a, b = tl_scores[h][q][k], sh[q][k]
                                if b < MASKED:
                                    bad = not (a < MASKED or math.isinf(a))
                                else:
                                    bad = abs(a - b) > SCORE_TOLERANCE + 1e-4 * abs(b)
                                if bad:
                                    problems.append(f"layer {layer} head {h} score [{q},{k}]: {a} vs {b}")
                                if abs(tl_pattern[h][q][k] - ph[q][k]) > PATTERN_TOLERANCE:
                                    problems.append(f"layer {layer} head {h} pattern [{q},{k}]: "
                                                    f"{tl_pattern[h][q][k]} vs {ph[q][k]}")
                totals["traces"] += 1
                if problems:
                    program_ok = False
                    failures.append(f"{name} trace {tokens}: {problems[:3]} ({len(problems)} in all)")
                else:
                    totals["traces_ok"] += 1
            totals["programs_ok"] += program_ok
            print(f"{name:32} {'ok' if program_ok else 'MISMATCH'}", flush=True)
            if write_fixture and name in LOGIT_FIXTURES:
                out = REPO / "fixtures" / "transformerlens" / f"{name}.json"
                out.write_text(json.dumps({
                    "program": name,
                    "generator": "scripts/check-transformerlens.py",
                    "tracr_compile": compile_cmd[1:-2],
                    "transformer_lens": tl_version,
                    "torch": torch_version,
                    "dtype": "float32",
                    "inputs": logits_record,
                }) + "\n")
        check_transformed(tracr, Path(tmp), fixtures, HookedTransformer, HookedTransformerConfig,
                          load_file, torch, totals, failures)
    print(f"programs matching Tracr everywhere: {totals['programs_ok']}/{totals['programs']}")
    print(f"inputs decoded as Tracr: {totals['inputs_ok']}/{totals['inputs']} "
          f"({totals['positions']} defined positions)")
    print(f"traces (residuals, attention scores and patterns) matching: {totals['traces_ok']}/{totals['traces']}")
    print(f"rotated exports decoding as Tracr: {totals['rotated_ok']}/{totals['rotated']}; "
          f"compressed exports decoding as `tracr run`: {totals['compressed_ok']}/{totals['compressed']} "
          f"({totals['compressed_inputs']} inputs)")
    for line in failures[:40]:
        print("  " + line)
    return 0 if not failures else 1


# Compressed exports checked: (program, width), widths from docs/harder-truth.md's search.
COMPRESSED = [("reverse", 5), ("frac_prevs", 10), ("numerical_mean", 12), ("nary_sequencemap", 4)]


def decode(model, vocab, ids, torch):
    logits = model(torch.tensor([ids]), return_type="logits")[0]
    if vocab["output"] is None:
        return [logits[pos, vocab["output_numerical_index"]].item() for pos in range(1, len(ids))]
    return [vocab["output"][int(logits[pos].argmax())] for pos in range(1, len(ids))]


def load(folder, HookedTransformer, HookedTransformerConfig, load_file):
    cfg = json.loads((folder / "config.json").read_text())
    model = HookedTransformer(HookedTransformerConfig(**cfg))
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    model.eval()
    return model, json.loads((folder / "vocab.json").read_text())


def same(got, want, numerical):
    if numerical:
        return want is None or close(got, float(want), NUMBER_TOLERANCE)
    return got == want


def check_transformed(tracr, tmp, fixtures, HookedTransformer, HookedTransformerConfig, load_file,
                      torch, totals, failures):
    for path in fixtures:
        name = path.stem
        fixture = json.loads(path.read_text())
        args = fixture["compile_args"]
        folder = tmp / f"{name}-rotated"
        subprocess.run([str(tracr), "compile", "--lib", name, "--max-seq-len", str(args["max_seq_len"]),
                        f"--causal={'true' if args['causal'] else 'false'}", "--rotate", "1",
                        "--format", "transformerlens", "-o", str(folder)], check=True, capture_output=True)
        model, vocab = load(folder, HookedTransformer, HookedTransformerConfig, load_file)
        ok = True
        for item in fixture["inputs"]:
            tokens = item["model_input"]
            got = decode(model, vocab, [vocab["input"][py_str(t)] for t in tokens], torch)
            for pos, (g, want, rasp) in enumerate(zip(got, item["model_decoded"][1:], item["rasp_output"]), 1):
                if rasp is not None and not same(g, want, vocab["output"] is None):
                    ok = False
                    failures.append(f"{name} rotated {tokens} position {pos}: TransformerLens {g!r}, Tracr {want!r}")
        totals["rotated"] += 1
        totals["rotated_ok"] += ok
    for name, width in COMPRESSED:
        folder, json_path = tmp / f"{name}-compressed", tmp / f"{name}-compressed.json"
        for out, fmt in ((folder, "transformerlens"), (json_path, "json")):
            subprocess.run([str(tracr), "compile", "--lib", name, "--compress", str(width), "--format", fmt,
                            "-o", str(out)], check=True, capture_output=True)
        model, vocab = load(folder, HookedTransformer, HookedTransformerConfig, load_file)
        length = json.loads((folder / "config.json").read_text())["n_ctx"] - 1
        tokens = [t for t in vocab["input"] if t not in (vocab["bos"], vocab["pad"])]
        ok, count = True, 0
        for index in range(min(len(tokens) ** length, 200)):
            word = [tokens[(index // len(tokens) ** p) % len(tokens)] for p in reversed(range(length))]
            run = subprocess.run([str(tracr), "run", str(json_path), "--input", ",".join(word)],
                                 check=True, capture_output=True, text=True)
            want = json.loads(run.stdout)[1:]
            got = decode(model, vocab, [vocab["input"][vocab["bos"]]] + [vocab["input"][t] for t in word], torch)
            count += 1
            bad = [pos for pos, (g, w) in enumerate(zip(got, want), 1) if not same(g, w, vocab["output"] is None)]
            if bad:
                ok = False
                failures.append(f"{name} compressed to {width} {word}: positions {bad}: TransformerLens "
                                f"{got!r}, tracr run {want!r}")
        totals["compressed"] += 1
        totals["compressed_ok"] += ok
        totals["compressed_inputs"] += count
        print(f"{name + ' (compressed to ' + str(width) + ')':32} {'ok' if ok else 'MISMATCH'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
