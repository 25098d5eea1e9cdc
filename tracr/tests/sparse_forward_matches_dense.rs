//! The sparse forward (products restricted to non-zero rows and columns) decodes exactly as the dense
//! forward on every library program, on every input of length max_seq_len (up to 3,125 per program).

use tracr::library::registry;
use tracr::value::Value;

#[test]
fn sparse_forward_decodes_like_the_dense_forward() {
    for program in registry() {
        let model = program.compile().unwrap();
        let sparse = model.sparse();
        let n = program.vocab.len();
        let length = program.max_seq_len;
        let total = n.pow(length as u32).min(3125);
        for index in 0..total {
            let mut rest = index;
            let mut input: Vec<Value> = Vec::with_capacity(length);
            for _ in 0..length {
                input.push(program.vocab[rest % n].clone());
                rest /= n;
            }
            let mut tokens = vec![Value::Str("BOS".into())];
            tokens.extend(input);
            let dense = model.apply(&tokens).unwrap();
            let fast = sparse.apply(&tokens).unwrap();
            assert_eq!(fast.decoded.len(), dense.decoded.len());
            for (a, b) in fast.unembedded.iter().zip(&dense.unembedded) {
                // Only the summation order differs: 1e-9 relative covers f64 round-off on values up to ~100.
                assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                    "{}: {tokens:?}: {a} vs {b}",
                    program.name
                );
            }
            // Numerical outputs decode to the float itself, compared above.
            if matches!(
                model.output_encoding,
                tracr::model::OutputEncoding::Categorical(_)
            ) {
                assert_eq!(fast.decoded, dense.decoded, "{}: {tokens:?}", program.name);
            }
        }
    }
}
