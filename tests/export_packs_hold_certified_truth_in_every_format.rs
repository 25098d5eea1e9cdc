//! `edgeprune export` through the binary: a pack of Edge Pruning's reverse setting holds the paper's
//! certified circuit, every truth file reads back in its format to the truth in our names, the
//! manifest's checksums match the files, and bad output folders are refused before any work.

mod cli_common;
mod common;

use cli_common::{edgeprune, rejected, scratch, text};
use edgeprune::formats::{merge_embeddings, read_circuit, CircuitFormat};
use edgeprune::graph::EdgeGraph;
use edgeprune::pack::sha256_hex;
use serde_json::Value as Json;

fn read_json(path: &std::path::Path) -> Json {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names(value: &Json) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not a list"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sha256_matches_the_standard_test_vector() {
    // FIPS 180-2, appendix B.1: SHA-256("abc").
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn reverse_pack_reads_back_in_every_format() {
    let dir = scratch("export-reverse");
    let pack = dir.join("reverse");
    let output = edgeprune(&[
        "export",
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
        "-o",
        pack.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The manifest lists every other file, with its checksum and size.
    let manifest = read_json(&pack.join("manifest.json"));
    let listed: Vec<&Json> = manifest["files"].as_array().unwrap().iter().collect();
    for entry in &listed {
        let path = pack.join(entry["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            entry["sha256"].as_str().unwrap(),
            sha256_hex(&bytes),
            "{}",
            path.display()
        );
        assert_eq!(
            entry["bytes"].as_u64().unwrap() as usize,
            bytes.len(),
            "{}",
            path.display()
        );
    }
    // The model comes in all three formats. safetensors holds float64, so it reads back to the
    // same JSON bytes; the TransformerLens folder holds float32 (its own round trip is tested in
    // tracr's model_files_round_trip), so here it must read back with the same residual labels.
    let json_path = pack.join("model/model.json");
    let from_json = tracr::formats::read_model(&json_path).unwrap();
    let from_safetensors =
        tracr::formats::read_model(&pack.join("model/model.safetensors")).unwrap();
    assert!(
        tracr::formats::to_json_bytes(&from_safetensors) == std::fs::read(&json_path).unwrap(),
        "model.safetensors does not read back to model.json"
    );
    let from_tl = tracr::formats::read_model(&pack.join("model/transformerlens")).unwrap();
    assert_eq!(from_tl.residual_labels, from_json.residual_labels);
    let mut on_disk = Vec::new();
    let mut stack = vec![pack.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                on_disk.push(
                    path.strip_prefix(&pack)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    assert_eq!(
        on_disk.len(),
        listed.len() + 1,
        "files on disk: {on_disk:?}"
    );
    assert!(manifest["versions"]["edgeprune"].is_string());

    // The certified truth is the paper's 11-edge circuit.
    let truth = read_json(&pack.join("truth/truth.json"));
    let mut functional = names(&truth["functional"]["edges"]);
    functional.sort();
    let mut paper: Vec<String> = common::paper_circuits::REVERSE
        .iter()
        .map(|s| s.to_string())
        .collect();
    paper.sort();
    assert_eq!(
        functional, paper,
        "functional truth (left) vs the paper's circuit (right)"
    );
    assert_eq!(truth["functional"]["certified"], Json::Bool(true));

    // The dataset: all 27 inputs of length 3 over {1,2,3}, BOS first, corrupted at every other position.
    let dataset = read_json(&pack.join("dataset.json"));
    let set = &dataset["sets"][0];
    assert_eq!(set["length"], 3);
    assert_eq!(set["clean_ids"].as_array().unwrap().len(), 27);
    assert_eq!(
        set["clean_tokens"][0],
        serde_json::json!(["BOS", "1", "1", "1"])
    );
    assert_eq!(
        set["clean_tokens"][26],
        serde_json::json!(["BOS", "3", "3", "3"])
    );
    for (clean, corrupted) in set["clean_ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(set["corrupted_ids"].as_array().unwrap())
    {
        assert_eq!(clean[0], corrupted[0], "BOS kept: {clean} vs {corrupted}");
        for position in 1..4 {
            assert_ne!(
                clean[position], corrupted[position],
                "{clean} vs {corrupted}"
            );
        }
    }
    let task = read_json(&pack.join("task.json"));
    assert_eq!(task["ablation"], "zero");
    assert!(task["definitions"]["ablation"]
        .as_str()
        .unwrap()
        .contains("zeros"));

    // Every truth circuit, in every format, reads back to the truth in our names.
    let graph = EdgeGraph::new(4, 1);
    let mut circuits = vec![
        (
            "structural".to_string(),
            names(&truth["structural"]["edges"]),
        ),
        (
            "functional".to_string(),
            names(&truth["functional"]["edges"]),
        ),
    ];
    for minimal in truth["minimal"].as_array().unwrap() {
        circuits.push((
            minimal["name"].as_str().unwrap().to_string(),
            names(&minimal["edges"]),
        ));
    }
    assert!(
        circuits.len() >= 3,
        "at least one minimal circuit: {circuits:?}"
    );
    for (name, edges) in &circuits {
        let expected = edgeprune::circuit::Circuit::from_edge_names(&graph, edges).unwrap();
        for format in CircuitFormat::ALL {
            let path = pack.join(format!("truth/{name}.{}.json", format.name()));
            let imported = read_circuit(&graph, &read_json(&path), None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let want = if format.merges_embeddings() {
                merge_embeddings(&graph, &expected)
            } else {
                expected.clone()
            };
            assert_eq!(
                imported.circuit.kept_edge_names(&graph),
                want.kept_edge_names(&graph),
                "{} read back (left) vs truth.json (right)",
                path.display()
            );
        }
    }

    // A pack file scores as the known minimal circuit it is.
    let hooks = pack.join("truth/functional.tl-hooks.json");
    let output = edgeprune(&[
        "score",
        hooks.to_str().unwrap(),
        "--lib",
        "reverse_123",
        "--lengths",
        "3",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("= minimal circuit"),
        "{}",
        text(&output.stdout)
    );
    // The same from the pack alone: its model and its data (length 3, zero ablation).
    let output = edgeprune(&[
        "score",
        hooks.to_str().unwrap(),
        "--pack",
        pack.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("= minimal circuit"),
        "--pack: {}",
        text(&output.stdout)
    );
    rejected(
        &[
            "score",
            hooks.to_str().unwrap(),
            "--pack",
            dir.to_str().unwrap(),
        ],
        &["no task.json"],
    );
}

#[test]
fn bad_output_folders_are_refused_before_any_work() {
    let dir = scratch("export-refused");
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    rejected(
        &[
            "export",
            "--lib",
            "reverse_123",
            "-o",
            full.to_str().unwrap(),
        ],
        &["not empty"],
    );
    assert_eq!(
        std::fs::read_dir(&full).unwrap().count(),
        1,
        "nothing added"
    );
    let file = dir.join("file.json");
    std::fs::write(&file, "{}").unwrap();
    rejected(
        &[
            "export",
            "--lib",
            "reverse_123",
            "-o",
            file.to_str().unwrap(),
        ],
        &["not a folder"],
    );
    let orphan = dir.join("missing/pack");
    rejected(
        &[
            "export",
            "--lib",
            "reverse_123",
            "-o",
            orphan.to_str().unwrap(),
        ],
        &["missing"],
    );
    rejected(
        &[
            "export",
            "--all",
            "--lib",
            "reverse_123",
            "-o",
            dir.join("all").to_str().unwrap(),
        ],
        &["--all"],
    );
    // A bad program fails after the folder check and leaves no folder and no staging folder behind.
    let target = dir.join("never");
    rejected(
        &["export", "--lib", "nope", "-o", target.to_str().unwrap()],
        &["nope"],
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(
        left_sorted,
        vec!["file.json", "full"],
        "left behind: {left:?}"
    );
}
