//! `compile`: Tracr's `compile_rasp_to_model`, the stages in order.

use crate::allocate::craft_model;
use crate::assemble::{assemble, Interface};
use crate::basis::infer_bases;
use crate::error::{Error, Result};
use crate::fixes::TracrFix;
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
    /// Fix Tracr's known compiler bugs ([`crate::fixes`]); false (the default) compiles exactly
    /// what Tracr compiles.
    pub fix_tracr_bugs: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            causal: false,
            bos: "BOS".into(),
            pad: "compiler_pad".into(),
            mlp_exactness: 100.0,
            fix_tracr_bugs: false,
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
        fix_tracr_bugs: options.fix_tracr_bugs,
    };
    let components = lower_graph(&graph, &bases, &lowering)?;
    let mut fixes: Vec<TracrFix> = components
        .iter()
        .flat_map(|c| c.fixes.iter().copied())
        .collect();
    let craft = craft_model(&graph, components)?;
    let sink = graph.sink_node();
    let categorical_output = sink.expr.as_sop().is_some_and(SOp::is_categorical);
    // None reaches a categorical output only through a categorical Aggregate that selects nothing
    // (Maps and SequenceMaps pass None on; a selector over None is an error in RASP).
    if options.fix_tracr_bugs && categorical_output && has_categorical_aggregate(&graph) {
        fixes.push(TracrFix::AggregateNoneDecodes);
    }
    let mut io = Interface::new(
        vocab,
        max_seq_len,
        bases[&sink.label].output_space.clone(),
        categorical_output,
        options.causal,
        &options.bos,
        &options.pad,
    );
    io.fix_key_size = options.fix_tracr_bugs;
    let mut model = assemble(&craft, &io)?;
    model.tracr_fixes.extend(fixes);
    model.tracr_fixes.sort();
    model.tracr_fixes.dedup();
    Ok(model)
}

/// Whether the program has a categorical Aggregate (whose empty selections give None).
fn has_categorical_aggregate(graph: &graph::RaspGraph) -> bool {
    graph.nodes.iter().any(|node| {
        node.expr.as_sop().is_some_and(|sop| {
            sop.is_categorical() && matches!(sop.kind(), crate::rasp::SOpKind::Aggregate { .. })
        })
    })
}
