//! MLPs for numerical Maps (by discretising the input) and for LinearSequenceMap.

use ndarray::Array1;

use super::ValueFn;
use crate::craft::bases::{join_vector_spaces, python_sorted, BasisDirection, VectorSpace};
use crate::craft::blocks::Mlp;
use crate::craft::linear::{one_hot, Linear};
use crate::error::{Error, Result};
use crate::value::Value;

/// The hidden layer shared by both discretising MLPs.
struct DiscretisingLayer {
    /// `fst`: from `[input, one]` to the hidden neurons.
    fst: Linear,
    /// `f` at each kept input point, in ascending input order.
    output_values: Vec<Value>,
    /// The name of the start neuron (`{hidden_name}start`).
    start_name: String,
}

/// A number from a value, or an error naming the function that produced it.
fn number(v: &Value, what: &str) -> Result<f64> {
    v.as_f64()
        .ok_or_else(|| Error::Craft(format!("{what}: {} is not a number", v.py_repr())))
}

/// Splits the input range at midpoints between the sorted input values: two neurons per threshold.
///
/// `(k,0)` = relu(L(x - t_k) + 1) and `(k,1)` = relu(L(x - t_k)); their difference is a step at t_k.
fn discretising_layer(
    input_space: &VectorSpace,
    one_space: &VectorSpace,
    input_value_set: &[Value],
    f: ValueFn<'_>,
    hidden_name: &str,
    large_number: f64,
) -> Result<DiscretisingLayer> {
    let one = one_space.basis()[0].clone();
    let sorted_inputs = python_sorted(input_value_set, |a, b| a.py_lt(b).unwrap_or(false));
    let mut points = Vec::new();
    let mut output_values = Vec::new();
    for x in &sorted_inputs {
        if let Some(y) = f(x) {
            points.push(number(x, "a numerical MLP's input value")?);
            output_values.push(y);
        }
    }
    let thresholds: Vec<f64> = points.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();

    let start_name = format!("{hidden_name}start");
    let step = |k: usize, i: i64| {
        BasisDirection::new(
            hidden_name,
            Value::Tuple(vec![Value::Int(k as i64), Value::Int(i)]),
        )
    };
    // Tracr lists the start neuron first, but in its order (name, then value) the start neuron
    // comes after every step neuron (its name extends theirs) and the steps are in (k, i) order.
    // Listed that way, the sort finds one run and moves nothing; listed start-first, it inserted
    // each of up to 200 neurons by binary search, comparing tuple values (0.16 ms of
    // shuffle_dyck2's compile). The space is the same.
    let mut hidden = Vec::with_capacity(2 * points.len().saturating_sub(1) + 1);
    for k in 1..points.len() {
        hidden.push(step(k, 0));
        hidden.push(step(k, 1));
    }
    hidden.push(BasisDirection::named(start_name.clone()));
    let hidden_space = VectorSpace::new(hidden);
    let input_space = join_vector_spaces(&[input_space, one_space]);
    // Each step's two neurons, looked up once rather than once per input direction.
    let step_neurons: Vec<(usize, usize)> = (1..points.len())
        .map(|k| {
            let neuron = |i| hidden_space.index_of(&step(k, i)).expect("step neuron");
            (neuron(0), neuron(1))
        })
        .collect();
    let fst = Linear::from_action(input_space, hidden_space.clone(), |d| {
        let mut out = Array1::zeros(hidden_space.num_dims());
        if *d == one {
            out += &one_hot(&hidden_space, &BasisDirection::named(start_name.clone()))?;
        }
        for (&t, &(i0, i1)) in thresholds.iter().zip(&step_neurons) {
            if *d == one {
                out[i0] += 1.0 - large_number * t;
                out[i1] -= large_number * t;
            } else {
                out[i0] += large_number;
                out[i1] += large_number;
            }
        }
        Ok(out)
    })?;
    Ok(DiscretisingLayer {
        fst,
        output_values,
        start_name,
    })
}

/// The `(k, i)` of a step neuron.
fn step_of(direction: &BasisDirection) -> (usize, f64) {
    match &direction.value {
        Some(Value::Tuple(items)) => match (&items[0], &items[1]) {
            (Value::Int(k), Value::Int(i)) => (*k as usize, if *i == 0 { 1.0 } else { -1.0 }),
            _ => unreachable!("step neurons are named (k, i)"),
        },
        _ => unreachable!("step neurons carry a tuple"),
    }
}

/// The arguments common to both discretising MLPs.
pub struct DiscretisingMlp<'a> {
    /// The 1-d input space.
    pub input_space: &'a VectorSpace,
    /// The output space (1-d numerical or one direction per output value).
    pub output_space: &'a VectorSpace,
    /// The values the input can take; `f` is exact on them.
    pub input_value_set: &'a [Value],
    /// The 1-d space that is 1 everywhere.
    pub one_space: &'a VectorSpace,
    /// The hidden neurons' name prefix (`_hidden_{label}_`).
    pub hidden_name: &'a str,
    /// L, the slope of each step (Tracr's `mlp_exactness`).
    pub large_number: f64,
}

/// Numerical → numerical `f(x)`, exact on the input value set.
pub fn map_numerical_mlp(spec: DiscretisingMlp<'_>, f: ValueFn<'_>) -> Result<Mlp> {
    spec.input_space.ensure_dims(1, "input_space")?;
    spec.output_space.ensure_dims(1, "output_space")?;
    spec.one_space.ensure_dims(1, "one_space")?;
    let layer = discretising_layer(
        spec.input_space,
        spec.one_space,
        spec.input_value_set,
        f,
        spec.hidden_name,
        spec.large_number,
    )?;
    let outputs: Vec<f64> = layer
        .output_values
        .iter()
        .map(|v| number(v, "a numerical Map's output"))
        .collect::<Result<_>>()?;
    let snd = Linear::from_action(
        layer.fst.output_space.clone(),
        spec.output_space.clone(),
        |d| {
            if d.name == layer.start_name {
                return Ok(Array1::from_elem(1, outputs[0]));
            }
            let (k, sign) = step_of(d);
            Ok(Array1::from_elem(1, sign * (outputs[k] - outputs[k - 1])))
        },
    )?;
    Mlp::new(layer.fst, snd)
}

/// Numerical → categorical `f(x)`: the same steps, each writing the difference of two one-hots.
pub fn map_numerical_to_categorical_mlp(spec: DiscretisingMlp<'_>, f: ValueFn<'_>) -> Result<Mlp> {
    spec.input_space.ensure_dims(1, "input_space")?;
    spec.one_space.ensure_dims(1, "one_space")?;
    let layer = discretising_layer(
        spec.input_space,
        spec.one_space,
        spec.input_value_set,
        f,
        spec.hidden_name,
        spec.large_number,
    )?;
    let out = spec.output_space;
    let vec_of = |v: &Value| -> Result<Array1<f64>> {
        let d = out
            .basis()
            .iter()
            .find(|d| d.value.as_ref() == Some(v))
            .ok_or_else(|| {
                Error::Craft(format!(
                    "numerical-to-categorical Map gives {} which is not among the output values [{}]",
                    v.py_repr(),
                    out.labels().join(", ")
                ))
            })?;
        one_hot(out, d)
    };
    let vectors: Vec<Array1<f64>> = layer
        .output_values
        .iter()
        .map(vec_of)
        .collect::<Result<_>>()?;
    let snd = Linear::from_action(layer.fst.output_space.clone(), out.clone(), |d| {
        if d.name == layer.start_name {
            return Ok(vectors[0].clone());
        }
        let (k, sign) = step_of(d);
        Ok((&vectors[k] - &vectors[k - 1]) * sign)
    })?;
    Mlp::new(layer.fst, snd)
}

/// `a·x + b·y` for numerical x and y, through four neurons: relu(±x), relu(±y).
pub fn linear_sequence_map_numerical_mlp(
    input1: &BasisDirection,
    input2: &BasisDirection,
    output: &BasisDirection,
    input1_factor: f64,
    input2_factor: f64,
    hidden_name: &str,
) -> Result<Mlp> {
    let input_space = VectorSpace::new(vec![input1.clone(), input2.clone()]);
    let output_space = VectorSpace::new(vec![output.clone()]);
    let x_name = format!("{hidden_name}x");
    let y_name = format!("{hidden_name}y");
    let neuron = |name: &str, sign: i64| BasisDirection::new(name, Value::Int(sign));
    let hidden_space = VectorSpace::new(vec![
        neuron(&x_name, 1),
        neuron(&x_name, -1),
        neuron(&y_name, 1),
        neuron(&y_name, -1),
    ]);
    let fst = Linear::from_action(input_space, hidden_space.clone(), |d| {
        let mut out = Array1::zeros(hidden_space.num_dims());
        if d == input1 {
            out += &one_hot(&hidden_space, &neuron(&x_name, 1))?;
            out -= &one_hot(&hidden_space, &neuron(&x_name, -1))?;
        }
        if d == input2 {
            out += &one_hot(&hidden_space, &neuron(&y_name, 1))?;
            out -= &one_hot(&hidden_space, &neuron(&y_name, -1))?;
        }
        Ok(out)
    })?;
    let snd = Linear::from_action(hidden_space, output_space, |d| {
        let sign = d.value.as_ref().and_then(Value::as_f64).unwrap_or(0.0);
        let factor = if d.name == x_name {
            input1_factor
        } else {
            input2_factor
        };
        Ok(Array1::from_elem(1, factor * sign))
    })?;
    Mlp::new(fst, snd)
}
