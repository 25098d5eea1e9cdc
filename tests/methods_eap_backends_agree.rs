//! EAP and both EAP-IG variants give the same scores on the candle backend (autograd) as on the ndarray
//! reference (hand-written backward), on random models and on the two Tracr models.
//!
//! Tolerances, per score, as `tests/backends_agree.rs` states them for gradients: candle-f64 within 1e-9
//! relative plus 1e-12 absolute (summation order only); candle-f32 within 1e-4 relative plus 1e-5 of the
//! largest score (f32 round-off, 6e-8 per operation, accumulated through a few layers and m runs; a score
//! that cancels to near 0 keeps only the absolute part). The f32 cases use GELU models: near a ReLU kink
//! an f32 pre-activation can land on the other side of 0.

mod common;

use std::path::Path;

use candle_core::DType;
use proptest::prelude::*;

use common::random_setup::{cases, setup_strategy};
use edgeprune::ablation::Ablation;
use edgeprune::backend::candle::{CandleBackend, CandleDevice};
use edgeprune::backend::ndarray::NdarrayBackend;
use edgeprune::methods::eap::{attribute, Attribution};
use edgeprune::model::{Activation, Transformer};
use edgeprune::objective::metric::Metric;
use edgeprune::task::Task;

fn attributions(steps: usize) -> [Attribution; 3] {
    [
        Attribution::Eap,
        Attribution::IgInputs { steps },
        Attribution::IgMasks { steps },
    ]
}

/// Every attribution on both backends; the first difference beyond tolerance, if any.
fn compare(
    model: &Transformer,
    inputs: ndarray::ArrayView2<usize>,
    ablation: &Ablation,
    dtype: DType,
    steps: usize,
    batch_size: usize,
    (relative, floor): (f64, f64),
) -> Result<(), String> {
    let mut reference = NdarrayBackend::new(model, inputs, ablation, Metric::Kl).unwrap();
    let mut candle = CandleBackend::new(
        model,
        inputs,
        ablation,
        Metric::Kl,
        dtype,
        CandleDevice::Cpu,
    )
    .unwrap();
    // One metric for both, so the comparison is of the gradients alone.
    let metric = reference.linear_metric().unwrap();
    for attribution in attributions(steps) {
        let want = attribute(&mut reference, &metric, attribution, batch_size).unwrap();
        let got = attribute(&mut candle, &metric, attribution, batch_size).unwrap();
        let largest = want.signed.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let absolute = if dtype == DType::F32 {
            floor * largest.max(1.0)
        } else {
            floor
        };
        for (e, (a, b)) in got.signed.iter().zip(&want.signed).enumerate() {
            if (a - b).abs() > relative * a.abs().max(b.abs()) + absolute {
                return Err(format!(
                    "{} edge {e}: candle {a:e} vs ndarray {b:e}",
                    attribution.name()
                ));
            }
        }
        if (got.metric - want.metric).abs() > relative * want.metric.abs() + absolute {
            return Err(format!(
                "{} metric: candle {:e} vs ndarray {:e}",
                attribution.name(),
                got.metric,
                want.metric
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(16)))]

    #[test]
    fn candle_f64_attributions_match_the_reference(
        setup in setup_strategy(vec![Activation::Relu, Activation::Gelu]),
        steps in 1usize..=4,
        batch_size in 1usize..=3,
    ) {
        let built = setup.build();
        let result = compare(&built.model, built.inputs.view(), &built.ablation, DType::F64, steps, batch_size, (1e-9, 1e-12));
        prop_assert!(result.is_ok(), "{:?} ({setup:?}, steps {steps}, batch {batch_size})", result);
    }

    #[test]
    fn candle_f32_attributions_match_the_reference(
        setup in setup_strategy(vec![Activation::Gelu]),
        steps in 1usize..=4,
    ) {
        let built = setup.build();
        let result = compare(&built.model, built.inputs.view(), &built.ablation, DType::F32, steps, 2, (1e-4, 1e-5));
        prop_assert!(result.is_ok(), "{:?} ({setup:?}, steps {steps})", result);
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))
}

#[test]
fn candle_f64_attributions_match_the_reference_on_the_tracr_models() {
    for task in [
        Task::reverse(fixtures()).unwrap(),
        Task::xproportion(fixtures()).unwrap(),
    ] {
        for ablation in [
            Ablation::Zero,
            Ablation::Interchange {
                corrupted_ids: task.corrupted.clone(),
            },
        ] {
            let result = compare(
                &task.model,
                task.clean.view(),
                &ablation,
                DType::F64,
                5,
                64,
                (1e-9, 1e-12),
            );
            assert!(
                result.is_ok(),
                "{} under {}: {:?}",
                task.name,
                ablation.name(),
                result
            );
        }
    }
}
