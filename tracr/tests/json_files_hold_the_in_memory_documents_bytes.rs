//! `tracr compile -o model.json` streams the document to the file in pieces; the file holds exactly
//! the bytes of `to_json_bytes` (whose bytes the value-tree test pins) for every library program and
//! for a rotated and perturbed model (whose `residual_map` and `perturbation` follow the weights),
//! and a sink that fails midway makes the write fail instead of leaving a shorter document.

use std::io::Write;

use tracr::formats::json::write_json_to;
use tracr::formats::{to_json_bytes, write_json};
use tracr::library::registry;

/// The first byte where two documents differ, with both lengths, for the assertion message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    format!(
        "first difference at byte {at:?}; lengths {} and {}",
        a.len(),
        b.len()
    )
}

#[test]
fn every_library_program_and_a_transformed_model_write_the_in_memory_bytes() {
    let dir = std::env::temp_dir().join(format!("tracr-json-chunks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut models: Vec<(String, tracr::CompiledModel)> = registry()
        .into_iter()
        .map(|p| (p.name.to_string(), p.compile().unwrap()))
        .collect();
    let sort = models.iter().find(|(n, _)| n == "sort").unwrap().1.clone();
    let options = tracr::transform::TransformOptions {
        rotate: Some(5),
        perturb: Some((1e-3, 2)),
        compress: None,
    };
    models.push((
        "sort rotated and perturbed".into(),
        tracr::transform::apply(sort, &options).unwrap(),
    ));
    let mut largest = 0;
    for (name, model) in &models {
        let path = dir.join("model.json");
        write_json(model, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let file = std::fs::read(&path).unwrap();
        let memory = to_json_bytes(model);
        assert!(
            file == memory,
            "{name}: {}",
            first_difference(&file, &memory)
        );
        largest = largest.max(file.len());
    }
    // The file is written in 64 KiB pieces: at least one model must need several.
    assert!(largest > 4 * 64 * 1024, "largest document {largest} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sink that takes `room` bytes, then fails.
struct FailingSink {
    room: usize,
}

impl Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_failing_midway_fails_the_write() {
    let program = registry()
        .into_iter()
        .find(|p| p.name == "shuffle_dyck2")
        .unwrap();
    let model = program.compile().unwrap();
    let size = to_json_bytes(&model).len();
    for room in [0, 1000, 100 * 1024, size - 1] {
        let result = write_json_to(&model, &mut FailingSink { room });
        assert!(
            result.is_err(),
            "a sink with room for {room} of {size} bytes took the document"
        );
    }
    assert!(write_json_to(&model, &mut FailingSink { room: size }).is_ok());
}
