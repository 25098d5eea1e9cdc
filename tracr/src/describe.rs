//! A compiled model as a table a person can read: every half-layer, the RASP node each head or
//! MLP computes, the residual dimensions it reads and writes, and the residual stream itself.

use crate::model::{CompiledModel, ModuleContents};

/// Above this many values a group of labels is shortened to its first few and its last.
const MAX_LISTED_VALUES: usize = 6;

/// How many leading values a shortened group keeps.
const SHORTENED_HEAD: usize = 4;

/// Residual labels grouped by name: `["tokens:a", "tokens:b", "one"]` → `tokens:{a,b} one`.
///
/// Consecutive labels sharing the part before the first `:` form one group; a group with more
/// than [`MAX_LISTED_VALUES`] values keeps its first [`SHORTENED_HEAD`] and its last, and says
/// how many it has: `indices:{0,1,2,3,..,9}(10)`.
pub fn compress_labels(labels: &[String]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for label in labels {
        match label.split_once(':') {
            Some((name, value)) => match groups.last_mut() {
                Some((last, values)) if *last == name && !values.is_empty() => values.push(value),
                _ => groups.push((name, vec![value])),
            },
            None => groups.push((label, Vec::new())),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(name, values)| match values.as_slice() {
            [] => name.to_string(),
            [one] => format!("{name}:{one}"),
            all if all.len() <= MAX_LISTED_VALUES => format!("{name}:{{{}}}", all.join(",")),
            all => format!(
                "{name}:{{{},..,{}}}({})",
                all[..SHORTENED_HEAD].join(","),
                all[all.len() - 1],
                all.len()
            ),
        })
        .collect();
    parts.join(" ")
}

/// How the node's value sits in the residual, read off the labels it writes: Tracr names a
/// numerical SOp's one dimension by its label alone and a categorical SOp's as `label:value`.
/// A SelectorWidth's head writes only a helper dimension and gets `-`.
fn encoding(label: &str, writes: &[String]) -> &'static str {
    let categorical = writes
        .iter()
        .any(|w| w.split_once(':').is_some_and(|(name, _)| name == label));
    if categorical {
        "categorical"
    } else if writes.iter().any(|w| w == label) {
        "numerical"
    } else {
        "-"
    }
}

/// One row of the layer table.
struct Row {
    module: String,
    unit: String,
    node: String,
    kind: String,
    reads: String,
    writes: String,
}

fn rows(model: &CompiledModel) -> Vec<Row> {
    let mut rows = Vec::new();
    for info in &model.layers {
        match &info.contents {
            ModuleContents::Attention { heads, .. } => {
                if heads.is_empty() {
                    rows.push(empty_row(&info.module));
                }
                for head in heads {
                    let mut reads = format!(
                        "q[{}]={} k[{}]={}",
                        head.query_sop,
                        compress_labels(&head.reads_query),
                        head.key_sop,
                        compress_labels(&head.reads_key)
                    );
                    if !head.reads_value.is_empty() {
                        let value_sop = head.value_sop.as_deref().unwrap_or("-");
                        reads.push_str(&format!(
                            " v[{value_sop}]={}",
                            compress_labels(&head.reads_value)
                        ));
                    }
                    rows.push(Row {
                        module: info.module.clone(),
                        unit: format!("head {}", head.head),
                        node: head.label.clone(),
                        kind: format!(
                            "{} {} via {}",
                            encoding(&head.label, &head.writes),
                            head.expr_type,
                            head.selector
                        ),
                        reads,
                        writes: compress_labels(&head.writes),
                    });
                }
            }
            ModuleContents::Mlp {
                mlps,
                hidden_size_used,
                ..
            } => {
                if mlps.is_empty() {
                    rows.push(empty_row(&info.module));
                }
                for mlp in mlps {
                    rows.push(Row {
                        module: info.module.clone(),
                        unit: format!("mlp {}/{hidden_size_used}", mlp.hidden_size),
                        node: mlp.label.clone(),
                        kind: format!("{} {}", encoding(&mlp.label, &mlp.writes), mlp.expr_type),
                        reads: compress_labels(&mlp.reads),
                        writes: compress_labels(&mlp.writes),
                    });
                }
            }
        }
    }
    rows
}

fn empty_row(module: &str) -> Row {
    Row {
        module: module.to_string(),
        unit: "(empty)".into(),
        node: String::new(),
        kind: String::new(),
        reads: String::new(),
        writes: String::new(),
    }
}

/// The model as text: a summary line, the layer table, then the residual stream.
///
/// In the table `unit` is `head i` for an attention head and `mlp h/H` for an MLP using `h` of
/// its layer's `H` hidden neurons; `kind` is the node's encoding, its RASP type and, for heads,
/// the selector; `reads` names each head's query, key and value SOps before their dimensions.
pub fn describe(model: &CompiledModel) -> String {
    let c = &model.config;
    let mut out = format!(
        "model: num_layers {}, num_heads {}, key_size {}, mlp_hidden_size {}, d_model {}, \
         causal {}, max_seq_len {} (+BOS), output {} ({})\n\n",
        c.num_layers,
        c.num_heads,
        c.key_size,
        c.mlp_hidden_size,
        c.d_model,
        c.causal,
        model.input_encoding.max_seq_len_with_bos.saturating_sub(1),
        compress_labels(&model.output_labels),
        if model.categorical_output {
            "categorical"
        } else {
            "numerical"
        },
    );
    let header = Row {
        module: "layer".into(),
        unit: "unit".into(),
        node: "RASP node".into(),
        kind: "kind".into(),
        reads: "reads".into(),
        writes: "writes".into(),
    };
    let table = rows(model);
    let width = |field: fn(&Row) -> &str| {
        std::iter::once(&header)
            .chain(&table)
            .map(|r| field(r).chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [
        width(|r| &r.module),
        width(|r| &r.unit),
        width(|r| &r.node),
        width(|r| &r.kind),
        width(|r| &r.writes),
    ];
    for row in std::iter::once(&header).chain(&table) {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {}",
            row.module,
            row.unit,
            row.node,
            row.kind,
            row.writes,
            row.reads,
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "\nresidual stream ({} dimensions): {}\n",
        model.residual_labels.len(),
        compress_labels(&model.residual_labels)
    ));
    if let Some(map) = &model.residual_map {
        let how = match map.kind {
            crate::model::ResidualMapKind::Rotation { seed } => {
                format!("rotated (seed {seed})")
            }
            crate::model::ResidualMapKind::Compression => "compressed".to_string(),
        };
        out.push_str(&format!(
            "{how} from the compiled residual ({} dimensions): {}; the table's reads and writes name compiled dimensions\n",
            map.compiled_labels.len(),
            compress_labels(&map.compiled_labels)
        ));
    }
    if let Some(p) = &model.perturbation {
        out.push_str(&format!(
            "weights perturbed: Gaussian noise of {} x each tensor's RMS (seed {})\n",
            p.epsilon, p.seed
        ));
    }
    if !model.tracr_fixes.is_empty() {
        let names: Vec<&str> = model.tracr_fixes.iter().map(|f| f.name()).collect();
        out.push_str(&format!(
            "Tracr bugs fixed (--fix-tracr-bugs; not the model Tracr compiles): {}\n",
            names.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::compress_labels;

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn labels_sharing_a_name_are_grouped_and_long_groups_shortened() {
        let indices: Vec<String> = (0..10).map(|i| format!("indices:{i}")).collect();
        let mut all = labels(&["frac_prevs_1", "map_3:1", "one", "tokens:a", "tokens:b"]);
        all.extend(indices);
        assert_eq!(
            compress_labels(&all),
            "frac_prevs_1 map_3:1 one tokens:{a,b} indices:{0,1,2,3,..,9}(10)"
        );
    }

    #[test]
    fn a_label_whose_value_holds_a_colon_keeps_it() {
        assert_eq!(
            compress_labels(&labels(&["pair:a:b", "pair:c"])),
            "pair:{a:b,c}"
        );
    }
}
