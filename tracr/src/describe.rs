//! A human-readable table of a compiled model: which RASP node each head and MLP computes, and what it
//! reads and writes, in the program's own names.

use crate::model::{CompiledModel, ModuleContents};

/// Groups residual labels by name: `tokens:a, tokens:b, one` → `tokens:{a,b}, one`.
pub fn compress_labels(labels: &[String]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for label in labels {
        let (name, value) = match label.split_once(':') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (label.clone(), None),
        };
        match (groups.last_mut(), value) {
            (Some((last, values)), Some(value)) if *last == name && !values.is_empty() => {
                values.push(value)
            }
            (_, Some(value)) => groups.push((name, vec![value])),
            (_, None) => groups.push((name, Vec::new())),
        }
    }
    groups
        .into_iter()
        .map(|(name, values)| match values.len() {
            0 => name,
            1 => format!("{name}:{}", values[0]),
            _ => format!("{name}:{{{}}}", values.join(",")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table: config, then one block per half-layer, then the residual layout.
pub fn describe(model: &CompiledModel) -> String {
    let c = &model.config;
    let mut out = format!(
        "{} layers, {} head(s) max, key_size {}, mlp_hidden {}, d_model {}, causal {}\n",
        c.num_layers, c.num_heads, c.key_size, c.mlp_hidden_size, c.d_model, c.causal
    );
    for module in &model.layers {
        match &module.contents {
            ModuleContents::Attention { heads, .. } => {
                if heads.is_empty() {
                    out.push_str(&format!("{:<14} (empty)\n", module.module));
                }
                for head in heads {
                    out.push_str(&format!(
                        "{:<14} head {}: {} = {}({}, q={}, k={}{})\n",
                        module.module,
                        head.head,
                        head.label,
                        head.expr_type,
                        head.selector,
                        head.query_sop,
                        head.key_sop,
                        head.value_sop
                            .as_ref()
                            .map_or(String::new(), |v| format!(", v={v}"))
                    ));
                    out.push_str(&format!(
                        "{:<14}   reads q [{}]  k [{}]  v [{}]\n{:<14}   writes [{}]\n",
                        "",
                        compress_labels(&head.reads_query),
                        compress_labels(&head.reads_key),
                        compress_labels(&head.reads_value),
                        "",
                        compress_labels(&head.writes)
                    ));
                }
            }
            ModuleContents::Mlp { mlps, .. } => {
                if mlps.is_empty() {
                    out.push_str(&format!("{:<14} (empty)\n", module.module));
                }
                for mlp in mlps {
                    out.push_str(&format!(
                        "{:<14} {} = {} ({} hidden)\n{:<14}   reads [{}]\n{:<14}   writes [{}]\n",
                        module.module,
                        mlp.label,
                        mlp.expr_type,
                        mlp.hidden_size,
                        "",
                        compress_labels(&mlp.reads),
                        "",
                        compress_labels(&mlp.writes)
                    ));
                }
            }
        }
    }
    out.push_str(&format!(
        "residual ({} dims): {}\n",
        model.residual_labels.len(),
        compress_labels(&model.residual_labels)
    ));
    out
}
