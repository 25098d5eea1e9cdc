//! The model as float32 files hold it, shared by the model-file tests.

use tracr::model::CompiledModel;

/// The model with every weight rounded to float32, as a TransformerLens export stores it.
pub fn rounded_to_f32(model: &CompiledModel) -> CompiledModel {
    let round = |x: &mut f64| *x = f64::from(*x as f32);
    let mut model = model.clone();
    model.token_embed.map_inplace(round);
    model.pos_embed.map_inplace(round);
    for layer in &mut model.weights {
        let (a, m) = (&mut layer.attn, &mut layer.mlp);
        for w in [
            &mut a.query,
            &mut a.key,
            &mut a.value,
            &mut a.output,
            &mut m.hidden,
            &mut m.output,
        ] {
            w.map_inplace(round);
        }
        for b in [
            &mut a.query_bias,
            &mut a.key_bias,
            &mut a.value_bias,
            &mut a.output_bias,
            &mut m.hidden_bias,
            &mut m.output_bias,
        ] {
            b.map_inplace(round);
        }
    }
    model
}
