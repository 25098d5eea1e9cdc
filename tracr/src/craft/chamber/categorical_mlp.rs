//! MLPs for categorical Maps and SequenceMaps.

use ndarray::Array1;

use super::ValueFn;
use crate::craft::bases::{direct_sum, BasisDirection, VectorSpace};
use crate::craft::blocks::Mlp;
use crate::craft::linear::{index_in, project, Linear};
use crate::error::{Error, Result};
use crate::value::Value;

/// The one-hot of `direction` in `space`, or zero when the space lacks it (Tracr drops such outputs).
fn one_hot_or_zero(space: &VectorSpace, direction: Option<&BasisDirection>) -> Array1<f64> {
    match direction.and_then(|d| space.index_of(d)) {
        Some(i) => {
            let mut v = Array1::zeros(space.num_dims());
            v[i] = 1.0;
            v
        }
        None => Array1::zeros(space.num_dims()),
    }
}

/// Categorical → categorical `f(x)`: the hidden layer is the output space itself, `snd` the identity.
pub fn map_categorical_mlp(
    input_space: &VectorSpace,
    output_space: &VectorSpace,
    output_name: &str,
    f: ValueFn<'_>,
) -> Result<Mlp> {
    let fst = Linear::from_action(input_space.clone(), output_space.clone(), |d| {
        let image = f(d.value.as_ref().unwrap_or(&Value::None))
            .map(|v| BasisDirection::new(output_name, v));
        Ok(one_hot_or_zero(output_space, image.as_ref()))
    })?;
    let snd = project(output_space, output_space);
    Mlp::new(fst, snd)
}

/// `f` at the input direction `d` as a number (0 where `f` raised an ArithmeticError, as Tracr).
fn numeric_image(f: ValueFn<'_>, d: &BasisDirection) -> Result<f64> {
    let value = d.value.as_ref().unwrap_or(&Value::None);
    match f(value) {
        None => Ok(0.0),
        Some(y) => y.as_f64().ok_or_else(|| {
            Error::Craft(format!(
                "numerical Map gives the non-number {} for input {}",
                y.py_repr(),
                value.py_repr()
            ))
        }),
    }
}

/// Categorical → numerical `f(x)`: one hidden neuron, the output itself, so the ReLU clips negative `f(x)`.
pub fn map_categorical_to_numerical_mlp(
    input_space: &VectorSpace,
    output_space: &VectorSpace,
    f: ValueFn<'_>,
) -> Result<Mlp> {
    output_space.ensure_dims(1, "output_space")?;
    let fst = Linear::from_action(input_space.clone(), output_space.clone(), |d| {
        Ok(Array1::from_elem(1, numeric_image(f, d)?))
    })?;
    let snd = project(output_space, output_space);
    Mlp::new(fst, snd)
}

/// Whether some input direction maps to a negative number (which Tracr's cat→num MLP clips to 0).
pub fn categorical_to_numerical_has_negative(
    input_space: &VectorSpace,
    f: ValueFn<'_>,
) -> Result<bool> {
    for d in input_space.basis() {
        if numeric_image(f, d)? < 0.0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Categorical → numerical `f(x)` that keeps negative values ([`crate::fixes::TracrFix::CatToNumNegative`]):
/// two hidden neurons `{hidden_name}:1` = relu(f(x)) and `{hidden_name}:-1` = relu(-f(x)), written
/// to the output with weights +1 and -1. Exact for a one-hot input; an all-zero input (None) gives 0.
pub fn map_categorical_to_numerical_signed_mlp(
    input_space: &VectorSpace,
    output_space: &VectorSpace,
    hidden_name: &str,
    f: ValueFn<'_>,
) -> Result<Mlp> {
    output_space.ensure_dims(1, "output_space")?;
    let positive = BasisDirection::new(hidden_name, Value::Int(1));
    let negative = BasisDirection::new(hidden_name, Value::Int(-1));
    let hidden_space = VectorSpace::new(vec![positive.clone(), negative.clone()]);
    let (p, n) = (
        hidden_space.index_of(&positive).expect("positive neuron"),
        hidden_space.index_of(&negative).expect("negative neuron"),
    );
    let fst = Linear::from_action(input_space.clone(), hidden_space.clone(), |d| {
        let y = numeric_image(f, d)?;
        let mut out = Array1::zeros(2);
        out[p] = y.max(0.0);
        out[n] = (-y).max(0.0);
        Ok(out)
    })?;
    let snd = Linear::from_action(hidden_space, output_space.clone(), |d| {
        Ok(Array1::from_elem(
            1,
            if *d == positive { 1.0 } else { -1.0 },
        ))
    })?;
    Mlp::new(fst, snd)
}

/// The hidden direction for the input pair `(x, y)`: `hidden_name:(x.name, x.value, y.name, y.value)`.
fn pair_direction(hidden_name: &str, x: &BasisDirection, y: &BasisDirection) -> BasisDirection {
    let value_of = |d: &BasisDirection| d.value.clone().unwrap_or(Value::None);
    BasisDirection::new(
        hidden_name,
        Value::Tuple(vec![
            Value::Str(x.name.clone()),
            value_of(x),
            Value::Str(y.name.clone()),
            value_of(y),
        ]),
    )
}

/// Categorical `f(x, y)` of two SOps: one hidden neuron per pair computing `relu(x + y - 1)` (a logical AND).
pub fn sequence_map_categorical_mlp(
    input1_space: &VectorSpace,
    input2_space: &VectorSpace,
    output_space: &VectorSpace,
    one_space: &VectorSpace,
    hidden_name: &str,
    operation: &dyn Fn(&BasisDirection, &BasisDirection) -> Option<BasisDirection>,
) -> Result<Mlp> {
    one_space.ensure_dims(1, "one_space")?;
    if input1_space
        .basis()
        .iter()
        .any(|d| input2_space.contains(d))
    {
        return Err(Error::Craft(
            "the input spaces of a SequenceMap must be disjoint; use a Map when both inputs are the same SOp"
                .to_string(),
        ));
    }
    let input_space = direct_sum(&[input1_space, input2_space, one_space])?;
    let mut pairs = Vec::new();
    for x in input1_space.basis() {
        for y in input2_space.basis() {
            pairs.push(pair_direction(hidden_name, x, y));
        }
    }
    let hidden_space = VectorSpace::new(pairs);

    let fst = Linear::from_action(input_space, hidden_space.clone(), |d| {
        let mut out = Array1::zeros(hidden_space.num_dims());
        // Adding 1 at the pair's neuron is adding its one-hot (the other entries gain +0.0), without
        // a hidden-sized vector per pair.
        if one_space.contains(d) {
            out.fill(-1.0);
        } else if input1_space.contains(d) {
            for y in input2_space.basis() {
                out[index_in(&hidden_space, &pair_direction(hidden_name, d, y))?] += 1.0;
            }
        } else {
            for x in input1_space.basis() {
                out[index_in(&hidden_space, &pair_direction(hidden_name, x, d))?] += 1.0;
            }
        }
        Ok(out)
    })?;

    let snd = Linear::from_action(hidden_space, output_space.clone(), |h| {
        let Some(Value::Tuple(items)) = &h.value else {
            unreachable!("pair directions carry a 4-tuple")
        };
        let name_of = |v: &Value| match v {
            Value::Str(s) => s.clone(),
            other => other.py_str(),
        };
        let x = BasisDirection::new(name_of(&items[0]), items[1].clone());
        let y = BasisDirection::new(name_of(&items[2]), items[3].clone());
        Ok(one_hot_or_zero(output_space, operation(&x, &y).as_ref()))
    })?;
    Mlp::new(fst, snd)
}
