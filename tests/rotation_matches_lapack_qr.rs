//! tracr's random rotation (Gram–Schmidt, so that the `tracr` binary links no BLAS) is the Q of
//! LAPACK's QR of the same Gaussian matrix with R's diagonal made positive, and is orthogonal to
//! working precision.

use ndarray::Array2;
use ndarray_linalg::QR;
use tracr::rng::Rng;
use tracr::transform::random_rotation;

#[test]
fn gram_schmidt_rotation_equals_sign_fixed_lapack_qr() {
    for (d, seed) in [(1, 0), (2, 5), (7, 1), (41, 3), (120, 9), (300, 2)] {
        let q = random_rotation(d, seed).unwrap();

        // The same Gaussian draw as random_rotation makes.
        let mut rng = Rng::new(seed);
        let gaussian = Array2::from_shape_simple_fn((d, d), || rng.normal());
        let (mut lapack_q, r) = gaussian.qr().unwrap();
        for j in 0..d {
            if r[[j, j]] < 0.0 {
                lapack_q.column_mut(j).mapv_inplace(|x| -x);
            }
        }
        // Both are backward-stable factorisations of a well-conditioned matrix (a Gaussian d x d
        // matrix has condition number ~d), so they agree to about d * cond * 1e-16.
        let worst = (&q - &lapack_q).iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(
            worst < 1e-9,
            "d={d} seed={seed}: differs from LAPACK's Q by {worst:e}"
        );

        let identity = Array2::<f64>::eye(d);
        let off = (&q.t().dot(&q) - &identity)
            .iter()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        // Re-orthogonalised Gram-Schmidt is orthogonal to a few ulps per entry.
        assert!(off < 1e-13, "d={d} seed={seed}: |QᵀQ - I| = {off:e}");
    }
}
