//! `edgeprune run`: the plain forward of a model on one sequence of token ids, for comparison with
//! another implementation (Hugging Face's `model(ids).logits`).

use std::path::PathBuf;

use clap::Args;
use ndarray::Array2;
use serde_json::json;

use super::program::load_transformer;
use crate::error::Result;

/// Arguments of `edgeprune run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A GPT-2 checkpoint folder (config.json + model.safetensors) or a Tracr model.json.
    #[arg(long = "model", value_name = "DIR|model.json")]
    pub model: PathBuf,
    /// Token ids, comma-separated (for a Tracr model, BOS's id first).
    #[arg(long, value_name = "3,1,4,1", value_delimiter = ',', required = true)]
    pub ids: Vec<usize>,
    /// Print `{"logits": [[...], ...]}` instead of one line of logits per position.
    #[arg(long)]
    pub json: bool,
}

/// Loads the model, runs it on the ids and prints the logits `[S, V]`.
pub fn run(args: &RunArgs) -> Result<()> {
    let model = load_transformer(&args.model)?;
    let ids = Array2::from_shape_vec((1, args.ids.len()), args.ids.clone())
        .expect("one row of the given length");
    let logits = model.forward(ids.view())?;
    let rows: Vec<Vec<f64>> = logits
        .index_axis(ndarray::Axis(0), 0)
        .outer_iter()
        .map(|row| row.to_vec())
        .collect();
    if args.json {
        return super::emit(&serde_json::to_string(&json!({ "logits": rows })).expect("numbers"));
    }
    for (position, row) in rows.iter().enumerate() {
        let numbers: Vec<String> = row.iter().map(|x| format!("{x:?}")).collect();
        super::emit(&format!("{position}: {}", numbers.join(" ")))?;
    }
    Ok(())
}
