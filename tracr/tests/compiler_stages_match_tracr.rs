//! Each compiler stage matches Tracr's on every fixture: value sets and output bases, the craft
//! block lowered from the RASP node, computational depth and the allocated half-layer.

mod common;

use serde_json::Value as Json;
use tracr::allocate::{allocate_layers, computational_depth};
use tracr::basis::infer_bases;
use tracr::craft::bases::sort_values;
use tracr::craft::json::{block_to_json, space_to_json, value_to_json};
use tracr::lower::{lower_graph, LoweringOptions};

#[test]
fn every_stage_matches_the_fixture_node_by_node() {
    for name in common::fixture_names() {
        let fixture = common::load_fixture(&name);
        let entry = tracr::library::by_name(&name).expect("registry has every fixture");
        let graph = tracr::graph::extract(&entry.program).unwrap();
        let bases = infer_bases(&graph, &entry.vocab, entry.max_seq_len).unwrap();
        let options = LoweringOptions {
            bos: "BOS".into(),
            mlp_exactness: fixture["compile_args"]["mlp_exactness"].as_f64().unwrap(),
            fix_tracr_bugs: false,
        };
        let components = lower_graph(&graph, &bases, &options).unwrap();
        let depths = computational_depth(&graph);
        let allocation = allocate_layers(&graph, &components).unwrap();

        for node in fixture["program"]["nodes"].as_array().unwrap() {
            let label = node["label"].as_str().unwrap();
            assert_eq!(
                Json::from(depths[label]),
                node["computational_depth"],
                "{name}/{label}: computational depth"
            );
            let allocated = allocation
                .iter()
                .find(|(i, _)| components[*i].label == label)
                .map_or(Json::Null, |(_, layer)| Json::from(*layer));
            assert_eq!(
                allocated, node["allocation_layer"],
                "{name}/{label}: allocation"
            );
            if node["is_sop"] != true {
                continue;
            }
            let basis = &bases[label];
            let values: Vec<Json> = sort_values(&basis.value_set)
                .iter()
                .map(value_to_json)
                .collect();
            assert_eq!(
                Json::Array(values),
                node["value_set"],
                "{name}/{label}: value set"
            );
            assert_eq!(
                space_to_json(&basis.output_space),
                node["output_basis"],
                "{name}/{label}: output basis"
            );
            let ours = components
                .iter()
                .find(|c| c.label == label)
                .map_or(Json::Null, |c| block_to_json(&c.block));
            assert!(
                ours == node["block"],
                "{name}/{label}: lowered block differs\nours:     {ours}\nexpected: {}",
                node["block"]
            );
        }
    }
}
