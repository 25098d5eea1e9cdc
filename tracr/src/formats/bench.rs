//! `tracr bench`: how long writing and reading each model file format takes, for every library
//! program, measured in one process so that the ratios compare like with like.
//!
//! Each time is the median of several runs of: serialising and writing the file atomically (as
//! `tracr compile -o` does it: a temporary renamed into place, no fsync), reading it back, and the
//! whole `tracr compile --lib NAME -o FILE` process (started from this binary) per format, safetensors
//! in both dtypes. The baseline is the writer this crate had before `formats::json`: a
//! `serde_json::Value` tree of every weight. The fixed cost of a process (`tracr --version`) is
//! measured once, to read the process columns against.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{read_model, write_model, ModelFormat};
use crate::error::{Error, Result};
use crate::library::registry;

/// One program's medians, in milliseconds.
#[derive(Debug, Clone)]
pub struct FormatTimes {
    /// The library program.
    pub program: String,
    /// The JSON file's size in bytes.
    pub json_bytes: u64,
    /// The safetensors file's size in bytes.
    pub safetensors_bytes: u64,
    /// The float32 safetensors file's size in bytes.
    pub safetensors_f32_bytes: u64,
    /// Compiling the program (no file).
    pub compile_ms: f64,
    /// Serialising to JSON in memory, the old way (a `serde_json::Value` tree).
    pub json_tree_bytes_ms: f64,
    /// Serialising to JSON in memory, streamed.
    pub json_bytes_ms: f64,
    /// Serialising to safetensors in memory.
    pub safetensors_bytes_ms: f64,
    /// Parsing JSON bytes already in memory.
    pub parse_json_ms: f64,
    /// Parsing safetensors bytes already in memory.
    pub parse_safetensors_ms: f64,
    /// The old JSON writer: a `serde_json::Value` tree, then the file.
    pub write_json_tree_ms: f64,
    /// The streaming JSON writer.
    pub write_json_ms: f64,
    /// The safetensors writer.
    pub write_safetensors_ms: f64,
    /// The TransformerLens folder writer.
    pub write_transformerlens_ms: f64,
    /// Reading the JSON file.
    pub read_json_ms: f64,
    /// Reading the safetensors file.
    pub read_safetensors_ms: f64,
    /// Reading the float32 safetensors file.
    pub read_safetensors_f32_ms: f64,
    /// Reading the TransformerLens folder.
    pub read_transformerlens_ms: f64,
    /// The whole `tracr compile -o model.json` process, when measured.
    pub process_json_ms: Option<f64>,
    /// The whole `tracr compile -o model.safetensors` process, when measured.
    pub process_safetensors_ms: Option<f64>,
    /// The whole `tracr compile --dtype f32 -o model.safetensors` process, when measured.
    pub process_safetensors_f32_ms: Option<f64>,
}

/// What every `tracr` process costs before any work: `tracr --version`'s median, in milliseconds.
pub fn process_start_ms(binary: &Path, runs: usize) -> Result<f64> {
    process(binary, runs.max(1), &["--version"])
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Runs per measurement (the median is reported).
    pub runs: usize,
    /// Only these programs (all when empty).
    pub programs: Vec<String>,
    /// The `tracr` binary to time whole `compile` processes with; none skips those columns.
    pub tracr_binary: Option<PathBuf>,
    /// Where the files go (a scratch folder this function creates and removes).
    pub scratch: PathBuf,
}

fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn time(runs: usize, mut work: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work()?;
        times.push(started.elapsed());
    }
    Ok(median_ms(times))
}

fn process(binary: &Path, runs: usize, args: &[&str]) -> Result<f64> {
    time(runs, || {
        let output = std::process::Command::new(binary)
            .args(args)
            .output()
            .map_err(|e| Error::Message(format!("cannot start {}: {e}", binary.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Message(format!(
                "tracr {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    })
}

/// Measures every library program (or those asked for); `progress` is called after each.
pub fn bench_formats(
    options: &BenchOptions,
    mut progress: impl FnMut(&FormatTimes),
) -> Result<Vec<FormatTimes>> {
    let runs = options.runs.max(1);
    let programs: Vec<_> = registry()
        .into_iter()
        .filter(|p| options.programs.is_empty() || options.programs.iter().any(|n| n == p.name))
        .collect();
    if let Some(unknown) = options
        .programs
        .iter()
        .find(|n| !programs.iter().any(|p| p.name == n.as_str()))
    {
        return Err(Error::UnknownProgram {
            name: unknown.clone(),
            available: crate::library::names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
        });
    }
    std::fs::create_dir_all(&options.scratch).map_err(|e| Error::Write {
        path: options.scratch.display().to_string(),
        reason: e.to_string(),
    })?;
    let json = options.scratch.join("model.json");
    let tree = options.scratch.join("tree.json");
    let safetensors = options.scratch.join("model.safetensors");
    let safetensors_f32 = options.scratch.join("model-f32.safetensors");
    let folder = options.scratch.join("transformerlens");
    let mut rows = Vec::new();
    for program in programs {
        let model = program.compile()?;
        let compile_ms = time(runs, || program.compile().map(|_| ()))?;
        let json_tree_bytes_ms = time(runs, || {
            std::hint::black_box(serde_json::to_string(&model.to_json()).expect("serialises"));
            Ok(())
        })?;
        let json_bytes_ms = time(runs, || {
            std::hint::black_box(super::to_json_bytes(&model));
            Ok(())
        })?;
        let safetensors_bytes_ms = time(runs, || {
            std::hint::black_box(super::to_safetensors_bytes(&model)?);
            Ok(())
        })?;
        let json_text = super::to_json_bytes(&model);
        let safetensors_data = super::to_safetensors_bytes(&model)?;
        let parse_json_ms = time(runs, || {
            super::json::from_json_bytes(&json_text).map(|_| ())
        })?;
        let parse_safetensors_ms = time(runs, || {
            super::safetensors::from_safetensors_bytes(&safetensors_data).map(|_| ())
        })?;
        let write_json_tree_ms = time(runs, || {
            let mut text = serde_json::to_string(&model.to_json()).expect("JSON values serialise");
            text.push('\n');
            crate::io::write_atomically(&tree, text.as_bytes())
        })?;
        let write_json_ms = time(runs, || write_model(&model, &json, ModelFormat::Json))?;
        let write_safetensors_ms = time(runs, || {
            write_model(&model, &safetensors, ModelFormat::Safetensors)
        })?;
        super::write_safetensors_as(&model, &safetensors_f32, super::TensorDtype::F32)?;
        let write_transformerlens_ms = time(runs, || {
            write_model(&model, &folder, ModelFormat::TransformerLens)
        })?;
        let read_json_ms = time(runs, || read_model(&json).map(|_| ()))?;
        let read_safetensors_ms = time(runs, || read_model(&safetensors).map(|_| ()))?;
        let read_safetensors_f32_ms = time(runs, || read_model(&safetensors_f32).map(|_| ()))?;
        let read_transformerlens_ms = time(runs, || read_model(&folder).map(|_| ()))?;
        let (process_json_ms, process_safetensors_ms, process_safetensors_f32_ms) =
            match &options.tracr_binary {
                Some(binary) => {
                    let compile = |path: &Path, extra: &[&str]| {
                        let max_seq_len = program.max_seq_len.to_string();
                        let path = path.display().to_string();
                        let mut args = vec!["compile", "--lib", program.name];
                        args.extend(["--max-seq-len", &max_seq_len, "-o", &path]);
                        args.extend(extra);
                        process(binary, runs, &args)
                    };
                    (
                        Some(compile(&json, &[])?),
                        Some(compile(&safetensors, &[])?),
                        Some(compile(&safetensors_f32, &["--dtype", "f32"])?),
                    )
                }
                None => (None, None, None),
            };
        let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let row = FormatTimes {
            program: program.name.to_string(),
            json_bytes: size(&json),
            safetensors_bytes: size(&safetensors),
            safetensors_f32_bytes: size(&safetensors_f32),
            compile_ms,
            json_tree_bytes_ms,
            json_bytes_ms,
            safetensors_bytes_ms,
            parse_json_ms,
            parse_safetensors_ms,
            write_json_tree_ms,
            write_json_ms,
            write_safetensors_ms,
            write_transformerlens_ms,
            read_json_ms,
            read_safetensors_ms,
            read_safetensors_f32_ms,
            read_transformerlens_ms,
            process_json_ms,
            process_safetensors_ms,
            process_safetensors_f32_ms,
        };
        progress(&row);
        rows.push(row);
    }
    let _ = std::fs::remove_dir_all(&options.scratch);
    Ok(rows)
}

/// The rows as a Markdown table, with the ratios to the old JSON writer and a summary of the
/// largest times against the targets; `process_start_ms` is [`process_start_ms`]'s, if measured.
pub fn render(rows: &[FormatTimes], runs: usize, process_start_ms: Option<f64>) -> String {
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"));
    let mut out = format!(
        "median of {runs} runs, milliseconds; write = serialise + atomic write (temporary + rename, \
         no fsync); st = safetensors (f64 unless f32); process = the whole \
         `tracr compile --lib NAME -o FILE`; a bare process (`tracr --version`) takes {}\n\n",
        process_start_ms.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
    );
    out.push_str(
        "| program | json KB | st KB | st f32 KB | compile | write json (Value tree) | write json | speed-up | write st | write TL | read json | read st | read st f32 | read TL | process json | process st | process st f32 |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1}x | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |\n",
            r.program,
            r.json_bytes as f64 / 1024.0,
            r.safetensors_bytes as f64 / 1024.0,
            r.safetensors_f32_bytes as f64 / 1024.0,
            r.compile_ms,
            r.write_json_tree_ms,
            r.write_json_ms,
            r.write_json_tree_ms / r.write_json_ms,
            r.write_safetensors_ms,
            r.write_transformerlens_ms,
            r.read_json_ms,
            r.read_safetensors_ms,
            r.read_safetensors_f32_ms,
            r.read_transformerlens_ms,
            opt(r.process_json_ms),
            opt(r.process_safetensors_ms),
            opt(r.process_safetensors_f32_ms),
        ));
    }
    out.push_str(
        "\nin memory (no file): serialise and parse\n\n| program | json (Value tree) | json | speed-up | safetensors | parse json | parse st | parse st / json |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.1}x | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.program,
            r.json_tree_bytes_ms,
            r.json_bytes_ms,
            r.json_tree_bytes_ms / r.json_bytes_ms,
            r.safetensors_bytes_ms,
            r.parse_json_ms,
            r.parse_safetensors_ms,
            r.parse_safetensors_ms / r.parse_json_ms,
        ));
    }
    let worst = |f: &dyn Fn(&FormatTimes) -> Option<f64>| {
        rows.iter()
            .filter_map(|r| f(r).map(|x| (x, r.program.as_str())))
            .fold(None, |best: Option<(f64, &str)>, (x, p)| match best {
                Some((b, _)) if b >= x => best,
                _ => Some((x, p)),
            })
            .map_or_else(|| "-".to_string(), |(x, p)| format!("{x:.2} ms ({p})"))
    };
    let ratio = |f: &dyn Fn(&FormatTimes) -> f64| {
        let mut ratios: Vec<f64> = rows.iter().map(f).collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
    };
    // "2.31 ms (shuffle_dyck2), 24 of 26 <= 10" for one column and its target.
    let against = |f: &dyn Fn(&FormatTimes) -> Option<f64>, target: f64| {
        let measured = rows.iter().filter(|r| f(r).is_some()).count();
        let met = rows
            .iter()
            .filter(|r| f(r).is_some_and(|x| x <= target))
            .count();
        format!("{}, {met} of {measured} <= {target}", worst(f))
    };
    out.push_str(&format!(
        "\nslowest, and programs within the target (ms): process json {}; process safetensors {}; \
         process safetensors f32 {}; read json {}; read safetensors {}; read safetensors f32 {}\n\
         median ratios: json serialiser speed-up over the Value tree {:.1}x (in memory {:.1}x); read \
         safetensors / read json {:.2}; write safetensors / write json {:.2}\n",
        against(&|r| r.process_json_ms, 10.0),
        against(&|r| r.process_safetensors_ms, 5.0),
        against(&|r| r.process_safetensors_f32_ms, 5.0),
        against(&|r| Some(r.read_json_ms), 5.0),
        against(&|r| Some(r.read_safetensors_ms), 5.0),
        against(&|r| Some(r.read_safetensors_f32_ms), 5.0),
        ratio(&|r| r.write_json_tree_ms / r.write_json_ms),
        ratio(&|r| r.json_tree_bytes_ms / r.json_bytes_ms),
        ratio(&|r| r.read_safetensors_ms / r.read_json_ms),
        ratio(&|r| r.write_safetensors_ms / r.write_json_ms),
    ));
    out
}
