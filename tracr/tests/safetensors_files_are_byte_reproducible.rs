//! The same model always gives the same safetensors bytes (so packs' SHA-256 sums do not depend on
//! the run): the `safetensors` crate writes `__metadata__` in a std `HashMap`'s iteration order,
//! which changes with every map's random hasher keys, and our writers pin that order.
//!
//! Every write in one process builds its map with new hasher keys, so without the pinning twenty
//! writes of a two-entry map agree with probability 2^-19.

use tracr::formats::safetensors::{to_safetensors_bytes, to_safetensors_bytes_as, TensorDtype};
use tracr::formats::transformerlens::transformerlens_files;

const WRITES: usize = 20;

/// One way of writing a model's safetensors bytes, by name.
type Writer<'a> = (&'a str, Box<dyn Fn() -> Vec<u8> + 'a>);

#[test]
fn twenty_writes_of_a_model_give_the_same_bytes_in_every_safetensors_form() {
    let model = tracr::library::by_name("reverse")
        .expect("reverse is in the registry")
        .compile()
        .expect("reverse compiles");
    let forms: Vec<Writer> = vec![
        (
            "f64",
            Box::new(|| to_safetensors_bytes(&model).expect("writes")),
        ),
        (
            "f32",
            Box::new(|| to_safetensors_bytes_as(&model, TensorDtype::F32).expect("writes")),
        ),
        (
            "transformerlens",
            Box::new(|| {
                transformerlens_files(&model, "reverse")
                    .expect("exports")
                    .into_iter()
                    .find(|(name, _)| name.ends_with("model.safetensors"))
                    .expect("the folder holds model.safetensors")
                    .1
            }),
        ),
    ];
    for (form, write) in forms {
        let first = write();
        let header_len = u64::from_le_bytes(first[..8].try_into().expect("8 bytes")) as usize;
        let header = String::from_utf8_lossy(&first[8..8 + header_len]).to_string();
        let format_at = header.find("\"format\"");
        let model_at = header.find("\"tracr_model\"");
        assert!(
            matches!((format_at, model_at), (Some(f), Some(m)) if f < m),
            "{form}: the metadata should name the format first, then the model: {}",
            &header[..header.len().min(200)]
        );
        for write_number in 1..WRITES {
            let again = write();
            assert!(
                again == first,
                "{form}: write {write_number} differs from the first ({} vs {} bytes)",
                again.len(),
                first.len()
            );
        }
    }
}
