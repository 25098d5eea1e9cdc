//! Edge Pruning circuit discovery on transformers, checked against compiled Tracr ground truth.
