//! Linear maps and bilinear forms between named vector spaces (Tracr's `vectorspace_fns`).

use ndarray::{Array1, Array2};

use super::bases::{join_vector_spaces, BasisDirection, VectorSpace};
use crate::error::{Error, Result};

/// A linear map acting on row vectors: `y = x @ matrix`, with `matrix` of shape `[input, output]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// The space the map reads.
    pub input_space: VectorSpace,
    /// The space the map writes.
    pub output_space: VectorSpace,
    /// `[input dims, output dims]` in the sorted bases.
    pub matrix: Array2<f64>,
}

impl Linear {
    /// Builds the map row by row: `action(d)` is the image of input direction `d`, in `output_space`'s order.
    pub fn from_action(
        input_space: VectorSpace,
        output_space: VectorSpace,
        mut action: impl FnMut(&BasisDirection) -> Result<Array1<f64>>,
    ) -> Result<Self> {
        let mut matrix = Array2::zeros((input_space.num_dims(), output_space.num_dims()));
        for (i, direction) in input_space.basis().iter().enumerate() {
            let row = action(direction)?;
            if row.len() != output_space.num_dims() {
                return Err(Error::Craft(format!(
                    "image of {direction} has {} components but the output space has {}",
                    row.len(),
                    output_space.num_dims()
                )));
            }
            matrix.row_mut(i).assign(&row);
        }
        Ok(Linear {
            input_space,
            output_space,
            matrix,
        })
    }

    /// One map on the joined spaces whose action on a direction is the sum of every map that reads it.
    pub fn combine_in_parallel(fns: &[&Linear]) -> Linear {
        let inputs: Vec<&VectorSpace> = fns.iter().map(|f| &f.input_space).collect();
        let outputs: Vec<&VectorSpace> = fns.iter().map(|f| &f.output_space).collect();
        let input_space = join_vector_spaces(&inputs);
        let output_space = join_vector_spaces(&outputs);
        let mut matrix = Array2::zeros((input_space.num_dims(), output_space.num_dims()));
        for f in fns {
            let cols: Vec<usize> = index_map(&f.output_space, &output_space);
            // Tracr's action reads one row per joint direction (the one `index_by_direction` names),
            // so a direction a part's input space lists twice (LinearSequenceMap(x, x)) counts once.
            for (r, d) in input_space.basis().iter().enumerate() {
                let Some(i) = f.input_space.index_of(d) else {
                    continue;
                };
                for (j, &c) in cols.iter().enumerate() {
                    matrix[[r, c]] += f.matrix[[i, j]];
                }
            }
        }
        Linear {
            input_space,
            output_space,
            matrix,
        }
    }

    /// Applies the map to row vectors `[n, input dims]`.
    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        x.dot(&self.matrix)
    }
}

/// Where each direction of `sub` sits in `whole` (which contains it).
fn index_map(sub: &VectorSpace, whole: &VectorSpace) -> Vec<usize> {
    sub.basis()
        .iter()
        .map(|d| {
            whole
                .index_of(d)
                .expect("a joined space contains each of its parts")
        })
        .collect()
}

/// The 0/1 map that keeps the directions `from` shares with `to` (Tracr's `project`).
pub fn project(from: &VectorSpace, to: &VectorSpace) -> Linear {
    let mut matrix = Array2::zeros((from.num_dims(), to.num_dims()));
    for (i, d) in from.basis().iter().enumerate() {
        if let Some(j) = to.index_of(d) {
            matrix[[i, j]] = 1.0;
        }
    }
    Linear {
        input_space: from.clone(),
        output_space: to.clone(),
        matrix,
    }
}

/// A scalar bilinear form `x W yᵀ`, with `W` of shape `[left, right]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarBilinear {
    /// The space of the left argument (the query).
    pub left_space: VectorSpace,
    /// The space of the right argument (the key).
    pub right_space: VectorSpace,
    /// `[left dims, right dims]` in the sorted bases.
    pub matrix: Array2<f64>,
}

impl ScalarBilinear {
    /// Builds the form entry by entry from `action(left, right)`.
    pub fn from_action(
        left_space: VectorSpace,
        right_space: VectorSpace,
        mut action: impl FnMut(&BasisDirection, &BasisDirection) -> Result<f64>,
    ) -> Result<Self> {
        let mut matrix = Array2::zeros((left_space.num_dims(), right_space.num_dims()));
        for (i, l) in left_space.basis().iter().enumerate() {
            for (j, r) in right_space.basis().iter().enumerate() {
                matrix[[i, j]] = action(l, r)?;
            }
        }
        Ok(ScalarBilinear {
            left_space,
            right_space,
            matrix,
        })
    }
}

/// The one-hot row of `direction` in `space`, or an error naming both.
pub fn one_hot(space: &VectorSpace, direction: &BasisDirection) -> Result<Array1<f64>> {
    let mut v = Array1::zeros(space.num_dims());
    v[index_in(space, direction)?] = 1.0;
    Ok(v)
}

/// The position of `direction` in `space` ([`VectorSpace::index_of`]), or [`one_hot`]'s error.
pub fn index_in(space: &VectorSpace, direction: &BasisDirection) -> Result<usize> {
    space.index_of(direction).ok_or_else(|| {
        Error::Craft(format!(
            "direction {direction} is not in the space [{}]",
            space.labels().join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn combine_in_parallel_sums_the_actions_on_shared_directions() {
        let ab = VectorSpace::from_names(&["a", "b"]);
        let bc = VectorSpace::from_names(&["b", "c"]);
        let out = VectorSpace::from_names(&["y"]);
        let f = Linear {
            input_space: ab,
            output_space: out.clone(),
            matrix: array![[1.0], [2.0]],
        };
        let g = Linear {
            input_space: bc,
            output_space: out,
            matrix: array![[10.0], [20.0]],
        };
        let h = Linear::combine_in_parallel(&[&f, &g]);
        assert_eq!(h.input_space.labels(), ["a", "b", "c"]);
        assert_eq!(h.matrix, array![[1.0], [12.0], [20.0]]);
    }

    #[test]
    fn combine_in_parallel_reads_a_repeated_input_direction_once() {
        // Tracr's LinearSequenceMap(x, x) builds its input space as [x, x]: two equal rows.
        let xx = VectorSpace::new(vec![BasisDirection::named("x"), BasisDirection::named("x")]);
        let f = Linear {
            input_space: xx,
            output_space: VectorSpace::from_names(&["h1", "h2"]),
            matrix: array![[1.0, -1.0], [1.0, -1.0]],
        };
        let h = Linear::combine_in_parallel(&[&f]);
        assert_eq!(h.input_space.labels(), ["x"]);
        assert_eq!(h.matrix, array![[1.0, -1.0]], "combined {:?}", h.matrix);
    }

    #[test]
    fn project_keeps_exactly_the_shared_directions() {
        let from = VectorSpace::from_names(&["a", "b", "c"]);
        let to = VectorSpace::from_names(&["c", "a", "z"]);
        let p = project(&from, &to);
        assert_eq!(to.labels(), ["a", "c", "z"]);
        assert_eq!(
            p.matrix,
            array![[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        );
    }

    #[test]
    fn from_action_rejects_images_of_the_wrong_width() {
        let space = VectorSpace::from_names(&["a"]);
        let result = Linear::from_action(space.clone(), space, |_| Ok(Array1::zeros(2)));
        assert!(matches!(result, Err(Error::Craft(_))));
    }
}
