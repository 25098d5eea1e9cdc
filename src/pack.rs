//! Task packs (`edgeprune export`): one folder per task with everything a Python circuit-discovery user
//! needs to run their method on our compiled model and score it against our certified ground truth:
//!
//! ```text
//! manifest.json        every other file with its SHA-256 and size; the versions
//! task.json            the program, vocabulary, lengths, ablation, metric and certificate, in words too
//! dataset.json         per length: clean and corrupted token ids and token strings, row n paired
//! model/model.json     the compiled model (tracr JSON, what `tracr run` reads)
//! model/model.safetensors, model/transformerlens/   the same model in the other two formats
//! truth/truth.json     structural, functional and every known minimal circuit, in our edge names
//! truth/{circuit}.{format}.json   each of those circuits in each circuit format (crate::formats)
//! ```
//!
//! `{circuit}` is `structural`, `functional` or `minimal-{i}` (1-based, in `truth.json`'s order).

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use tracr::model::CompiledModel;

use crate::ablation::Ablation;
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::formats::{write_circuit, CircuitFormat};
use crate::graph::EdgeGraph;
use crate::report::edge_names;
use crate::task::Task;
use crate::truth::{functional_on, minimal_circuits, structural, SearchOptions};

/// Version of the pack layout above; bumped when a file's meaning changes.
pub const PACK_FORMAT_VERSION: u32 = 1;

/// One file of a pack: its path relative to the pack's folder, and its bytes.
pub type PackFile = (PathBuf, Vec<u8>);

/// Everything a pack is built from: the compiled model, its task data per length and the ablation.
pub struct PackInput<'a> {
    /// The program's name (registry name or file stem).
    pub name: &'a str,
    /// The compiled model.
    pub model: &'a CompiledModel,
    /// One task per length, in the order asked for.
    pub tasks: &'a [Task],
    /// The ablation of each task (same order).
    pub ablations: &'a [Ablation],
    /// `zero`, `interchange` or `mean`.
    pub ablation_name: &'a str,
    /// The task description every report carries (program, vocab, lengths, ablation, ...).
    pub task_json: Json,
    /// The seed of the data sample and of the corrupted inputs.
    pub data_seed: u64,
}

/// The model files of a pack, under `dir`: `model.json` (tracr's JSON), `model.safetensors` (f64,
/// exact) and `transformerlens/` (TransformerLens state dict, config and vocabulary); `name` goes
/// into TransformerLens's `model_name`.
pub fn write_pack_models(model: &CompiledModel, dir: &Path, name: &str) -> Result<Vec<PackFile>> {
    let mut files = vec![
        (
            dir.join("model.json"),
            tracr::formats::json::to_json_bytes(model),
        ),
        (
            dir.join("model.safetensors"),
            tracr::formats::safetensors::to_safetensors_bytes(model)?,
        ),
    ];
    for (file, bytes) in tracr::formats::transformerlens::transformerlens_files(model, name)? {
        files.push((dir.join("transformerlens").join(file), bytes));
    }
    Ok(files)
}

fn json_file(path: impl Into<PathBuf>, value: &Json) -> PackFile {
    (path.into(), crate::atomic::json_text(value).into_bytes())
}

/// The ablation in words.
fn ablation_definition(name: &str) -> &'static str {
    match name {
        "zero" => "a pruned edge carries zeros: each reader reads the sum of its kept writers' outputs only",
        "interchange" => {
            "a pruned edge carries the writer's output on the corrupted input of the same row \
             (dataset.json corrupted_ids), computed by the full model"
        }
        "mean" => {
            "a pruned edge carries the writer's output averaged over the dataset's clean inputs, per position"
        }
        _ => "see docs/circuit-methods.md",
    }
}

/// `task.json`: the task, and what the ablation, the metric and the certificate mean.
fn task_document(input: &PackInput) -> Json {
    let mut task = input.task_json.clone();
    task["data_seed"] = json!(input.data_seed);
    task["definitions"] = json!({
        "ablation": ablation_definition(input.ablation_name),
        "metric": "kl: KL(p_full || q_circuit), batch mean, as Edge Pruning's kl_div(log q, log p, \
                   log_target=True, reduction='batchmean'): for categorical outputs over the classes at \
                   every position but BOS; for numerical outputs over positions 0..S of the output channel",
        "certificate": "a circuit is faithful when, on every example, every decoded output equals the full \
                        model's (any class the full model ties for first is accepted; numbers within 1e-6) \
                        and the KL is below 1e-6; minimal when removing any one edge breaks that",
        "faithfulness_metric": "MIB's f = (m(C) - m(empty)) / (m(N) - m(empty)) with m the logit difference \
                                of the full model's class against the mean of the others (numerical outputs: \
                                the output projected on the full-minus-ablated direction); \
                                docs/methods-gradient.md",
        "edge_graph": "Edge Pruning's: writers tok, pos, a{l}.h{h}, m{l}; readers a{l}.h{h}.q|k|v, m{l}, \
                       resid_post; docs/interop.md maps them to every circuit format",
    });
    task
}

/// `dataset.json`: per length, clean and corrupted rows as token ids and as token strings.
fn dataset_document(input: &PackInput) -> Json {
    let vocabulary = &input.tasks[0].vocabulary;
    let rows = |ids: &ndarray::Array2<usize>, task: &Task| {
        let ids_json: Vec<Vec<usize>> = ids.rows().into_iter().map(|r| r.to_vec()).collect();
        let text: Vec<Vec<String>> = ids
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&id| task.vocabulary.text(id)).collect())
            .collect();
        (ids_json, text)
    };
    let sets: Vec<Json> = input
        .tasks
        .iter()
        .map(|task| {
            let (clean_ids, clean_tokens) = rows(&task.clean, task);
            let (corrupted_ids, corrupted_tokens) = rows(&task.corrupted, task);
            json!({
                "length": task.clean.ncols() - 1,
                "examples": task.num_examples(),
                "clean_ids": clean_ids,
                "corrupted_ids": corrupted_ids,
                "clean_tokens": clean_tokens,
                "corrupted_tokens": corrupted_tokens,
            })
        })
        .collect();
    json!({
        "bos_id": vocabulary.bos_id,
        "tokens": vocabulary.tokens.iter().map(|(text, id)| json!([text, id])).collect::<Vec<_>>(),
        "note": "position 0 is BOS; every sequence over the vocabulary when there are at most 10,000, \
                 else a seeded sample; corrupted rows replace every non-BOS token by a different one",
        "sets": sets,
    })
}

/// Every file of one pack (paths relative to its folder), its ground truth computed and certified
/// here; `manifest.json` last. `on_step` is called with a short message before each long step.
pub fn build_pack(
    input: &PackInput,
    search: &SearchOptions,
    on_step: &mut dyn FnMut(&str),
) -> Result<Vec<PackFile>> {
    let first = input.tasks.first().ok_or_else(|| Error::InvalidOption {
        option: "--lengths".into(),
        message: "no data to export; give at least one length".into(),
    })?;
    let model = input.model;
    let graph = EdgeGraph::for_model(&first.model);
    let d_model = first.model.d_model();
    let data: Vec<(&Task, &Ablation)> = input.tasks.iter().zip(input.ablations).collect();

    on_step("structural and functional truth");
    let structural_circuit = structural(&first.model);
    let functional = functional_on(&data, &structural_circuit)?;
    on_step("minimal circuits");
    let minimal = minimal_circuits(&data, search)?;

    let mut circuits: Vec<(String, Circuit)> = vec![
        ("structural".into(), structural_circuit.clone()),
        ("functional".into(), functional.circuit.clone()),
    ];
    for (index, m) in minimal.circuits.iter().enumerate() {
        circuits.push((format!("minimal-{}", index + 1), m.circuit.clone()));
    }
    let truth = json!({
        "graph_edges": graph.num_edges(),
        "structural": {"edges": edge_names(&graph, &structural_circuit)},
        "functional": {
            "edges": edge_names(&graph, &functional.circuit),
            "certified": functional.certificate.holds(),
            "kl": functional.certificate.kl,
            "differences": functional.differences.iter()
                .map(|d| json!({"edge": d.name, "reason": d.reason.name()}))
                .collect::<Vec<_>>(),
        },
        "minimal": minimal.circuits.iter().enumerate().map(|(index, m)| json!({
            "name": format!("minimal-{}", index + 1),
            "edges": edge_names(&graph, &m.circuit),
            "kl": m.certificate.kl,
            "bos_default_edges": m.bos_default_edges.iter()
                .map(|&e| graph.edge_names()[e].clone()).collect::<Vec<_>>(),
            "found_by": m.found_by,
        })).collect::<Vec<_>>(),
        "minimal_complete": minimal.complete,
        "smallest": minimal.smallest.map(|i| format!("minimal-{}", i + 1)),
        "intended": minimal.intended.map(|i| format!("minimal-{}", i + 1)),
        "files": "truth/{circuit}.{format}.json for every circuit above and every format: \
                  edgeprune, edge-pruning, ep-acdc, mib, auto-circuit, tl-hooks (docs/interop.md)",
    });

    let mut files = write_pack_models(model, Path::new("model"), input.name)?;
    files.push(json_file("task.json", &task_document(input)));
    files.push(json_file("dataset.json", &dataset_document(input)));
    files.push(json_file("truth/truth.json", &truth));
    for (name, circuit) in &circuits {
        for format in CircuitFormat::ALL {
            let document = write_circuit(&graph, circuit, None, format, d_model);
            files.push(json_file(
                format!("truth/{name}.{}.json", format.name()),
                &document,
            ));
        }
    }
    let manifest = manifest(input.name, &files);
    files.push(json_file("manifest.json", &manifest));
    Ok(files)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `manifest.json`: every file with its SHA-256 and size, and the versions that wrote them.
pub fn manifest(name: &str, files: &[PackFile]) -> Json {
    json!({
        "program": name,
        "pack_format": PACK_FORMAT_VERSION,
        "versions": {
            "edgeprune": env!("CARGO_PKG_VERSION"),
            "tracr": tracr::VERSION,
            "circuit_formats": {
                "edge-pruning, ep-acdc": "princeton-nlp/Edge-Pruning a918efd8fffcabe9b5853f6e236722e9ec0f4688",
                "mib": "hannamw/EAP-IG 795f5607b25638935aec89aee3c1cb4bd9ed72f1 (src/eap/graph.py)",
                "auto-circuit": "UFO-101/auto-circuit 98db58c430a6006dca58bb1751bcaea0c546d42f",
                "tl-hooks": "FlyingPumba/InterpBench circuits_benchmark/utils/circuit/edges_list.py",
            },
        },
        "files": files.iter().map(|(path, bytes)| json!({
            "path": path.to_string_lossy().replace('\\', "/"),
            "sha256": sha256_hex(bytes),
            "bytes": bytes.len(),
        })).collect::<Vec<_>>(),
    })
}

/// What `score --pack DIR` needs from a pack: its model file and how its data was drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct PackTask {
    /// The program's name.
    pub program: String,
    /// `DIR/model/model.json`.
    pub model_path: PathBuf,
    /// The sequence lengths of the data.
    pub lengths: Vec<usize>,
    /// `zero`, `interchange` or `mean`.
    pub ablation: String,
    /// The seed of the data sample and of the corrupted inputs.
    pub data_seed: u64,
}

/// Reads `DIR/task.json` of a pack written by `edgeprune export` (one program's folder).
pub fn read_pack_task(dir: &Path) -> Result<PackTask> {
    let path = dir.join("task.json");
    if !path.is_file() {
        return Err(Error::InvalidOption {
            option: "--pack".into(),
            message: format!(
                "`{}` has no task.json, so it is not one program's pack; give the folder `edgeprune \
                 export -o` wrote (with --all, one of its subfolders)",
                dir.display()
            ),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let bad = |message: String| Error::Json {
        what: path.display().to_string(),
        message,
    };
    let task: Json = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let field = |key: &str| {
        task.get(key).ok_or_else(|| {
            bad(format!(
                "has no \"{key}\"; is `{}` one program's pack (with --all, give its subfolder)?",
                dir.display()
            ))
        })
    };
    let lengths = field("lengths")?
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|n| n.as_u64().map(|n| n as usize))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad("\"lengths\" is not a list of whole numbers".into()))?;
    let text_of = |key: &str| -> Result<String> {
        field(key)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(format!("\"{key}\" is not a string")))
    };
    Ok(PackTask {
        program: text_of("program")?,
        model_path: dir.join("model").join("model.json"),
        lengths,
        ablation: text_of("ablation")?,
        data_seed: field("data_seed")?
            .as_u64()
            .ok_or_else(|| bad("\"data_seed\" is not a whole number".into()))?,
    })
}
