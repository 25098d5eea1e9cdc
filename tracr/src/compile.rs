//! `compile`: Tracr's `compile_rasp_to_model`, the stages in order.

use crate::allocate::craft_model;
use crate::assemble::{assemble, Interface};
use crate::basis::infer_bases;
use crate::error::{Error, Result};
use crate::graph;
use crate::lower::{lower_graph, LoweringOptions};
use crate::model::CompiledModel;
use crate::rasp::{validate::static_validate, SOp};
use crate::value::Value;

/// Compiler settings, with Tracr's meaning and the fixtures' defaults.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Mask attention to future positions.
    pub causal: bool,
    /// The BOS token the compiler adds (must not be in the vocabulary).
    pub bos: String,
    /// The PAD token (must not be in the vocabulary).
    pub pad: String,
    /// The discretising MLPs' slope L; larger is more exact, too large is numerically unstable.
    pub mlp_exactness: f64,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            causal: false,
            bos: "BOS".into(),
            pad: "compiler_pad".into(),
            mlp_exactness: 100.0,
        }
    }
}

/// Compiles a RASP program into transformer weights over a named residual stream.
pub fn compile(
    program: &SOp,
    vocab: &[Value],
    max_seq_len: usize,
    options: &CompileOptions,
) -> Result<CompiledModel> {
    if max_seq_len == 0 {
        return Err(Error::InvalidArgument {
            function: "compile",
            reason: "max_seq_len must be at least 1".into(),
        });
    }
    for (role, token) in [("BOS", &options.bos), ("PAD", &options.pad)] {
        if vocab.contains(&Value::Str(token.clone())) {
            return Err(Error::ReservedToken {
                role,
                token: token.clone(),
            });
        }
    }
    let graph = graph::extract(program)?;
    if graph.node("tokens").is_none() {
        return Err(Error::Unsupported {
            label: graph.sink.clone(),
            reason: "a program must include rasp.tokens to be compiled".into(),
        });
    }
    if let Some(first) = static_validate(&graph).into_iter().next() {
        return Err(first.into());
    }
    let bases = infer_bases(&graph, vocab, max_seq_len)?;
    // Before any weight is allocated: a program too big for memory is a typed error, not an abort.
    crate::size::ensure_fits(&graph, &bases, vocab.len(), max_seq_len)?;
    let lowering = LoweringOptions {
        bos: options.bos.clone(),
        mlp_exactness: options.mlp_exactness,
    };
    let components = lower_graph(&graph, &bases, &lowering)?;
    let craft = craft_model(&graph, &components)?;
    let sink = graph.sink_node();
    let io = Interface::new(
        vocab,
        max_seq_len,
        bases[&sink.label].output_space.clone(),
        sink.expr.as_sop().is_some_and(SOp::is_categorical),
        options.causal,
        &options.bos,
        &options.pad,
    );
    assemble(&craft, &io)
}
