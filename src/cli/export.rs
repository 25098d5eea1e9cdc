//! `edgeprune export`: task packs (see [`crate::pack`]) for one program or every library program.

use std::path::{Path, PathBuf};

use clap::Args;

use super::program::{LoadedProgram, ProgramArgs};
use super::truth::task_json;
use crate::error::{Error, Result};
use crate::pack::{build_pack, manifest, PackFile, PackInput};
use crate::truth::SearchOptions;

/// Arguments of `edgeprune export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The program and its data (not with `--all`).
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Every library program at its registry settings, one subfolder each.
    #[arg(long)]
    pub all: bool,
    /// The pack's folder: must not exist yet (or be empty); written whole or not at all.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

/// The files of one loaded program's pack, under `prefix`.
fn pack_files(
    loaded: &LoadedProgram,
    data_seed: u64,
    prefix: &Path,
    on_step: &mut dyn FnMut(&str),
) -> Result<Vec<PackFile>> {
    let ablations = loaded.ablations();
    let input = PackInput {
        name: &loaded.name,
        model: &loaded.compiled,
        tasks: &loaded.tasks,
        ablations: &ablations,
        ablation_name: loaded.ablation_kind.name(),
        task_json: task_json(loaded),
        data_seed,
    };
    let files = build_pack(&input, &SearchOptions::default(), on_step)?;
    Ok(files
        .into_iter()
        .map(|(path, bytes)| (prefix.join(path), bytes))
        .collect())
}

/// Runs `edgeprune export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    crate::atomic::check_new_directory(&args.output)?;
    let data = &args.program.data;
    if !args.all {
        let loaded = args.program.load()?;
        let bar = super::progress_bar(0, "{spinner} {msg} [{elapsed_precise}]");
        let files = pack_files(&loaded, data.data_seed, Path::new(""), &mut |step| {
            if let Some(bar) = &bar {
                bar.set_message(format!("{}: {step}", loaded.name));
            }
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        crate::atomic::write_directory(&args.output, &files)?;
        return super::emit(&format!(
            "{}: {} files written to {}",
            loaded.name,
            files.len(),
            args.output.display()
        ));
    }
    if args.program.model.source.is_given()
        || !data.lengths.is_empty()
        || args.program.model.compile.vocab.is_some()
        || args.program.model.compile.max_seq_len.is_some()
    {
        return Err(Error::InvalidOption {
            option: "--all".into(),
            message: "exports every library program at its registry settings; drop --lib/--program/--model, \
                      --vocab, --max-seq-len and --lengths (--ablation and --data-seed apply)"
                .into(),
        });
    }
    let names = tracr::library::names();
    let bar = super::progress_bar(
        names.len() as u64,
        "{bar:30} {pos}/{len} programs [{elapsed_precise}] {msg}",
    );
    let mut files = Vec::new();
    for name in &names {
        let mut program = ProgramArgs::library(name, data.ablation);
        program.data.data_seed = data.data_seed;
        let loaded = program.load()?;
        files.extend(pack_files(
            &loaded,
            data.data_seed,
            Path::new(name),
            &mut |step| {
                if let Some(bar) = &bar {
                    bar.set_message(format!("{name}: {step}"));
                }
            },
        )?);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let top = manifest("all library programs", &files);
    files.push((
        PathBuf::from("manifest.json"),
        crate::atomic::json_text(&top).into_bytes(),
    ));
    crate::atomic::write_directory(&args.output, &files)?;
    super::emit(&format!(
        "{} programs, {} files written to {}",
        names.len(),
        files.len(),
        args.output.display()
    ))
}
