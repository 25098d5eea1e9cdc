//! A tiny GPT-2-style byte-level BPE tokenizer written by the tests (vocab.json + merges.txt): every byte
//! is a token, and the task words below are merged into single tokens, as GPT-2's vocabulary has them.

use std::path::Path;

use serde_json::{Map, Value};

/// GPT-2's byte-to-character map (printable bytes stand for themselves, the rest are shifted to 256+).
fn byte_char(byte: u8) -> char {
    let printable = (33..=126).contains(&byte) || (161..=172).contains(&byte) || byte >= 174;
    if printable {
        return byte as char;
    }
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let p = (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
        if !p {
            if b == byte {
                return char::from_u32(256 + shifted).unwrap();
            }
            shifted += 1;
        }
    }
    unreachable!()
}

/// Words the tests need as single tokens (with their leading space where a word follows one).
pub fn single_token_words() -> Vec<String> {
    let mut words: Vec<String> = [
        "Mary", "John", "Alice", "Tom", "Sam", "Anna", "David", "Lisa", "store", "garden", "ring",
        "drink", "war", "strike", "he", "she", "16", "17",
    ]
    .iter()
    .map(|w| format!(" {w}"))
    .collect();
    // Two-digit numbers without a space (the second half of a year), after the centuries so that
    // " 1732" merges " 17" first and then "32", as GPT-2 splits it.
    words.extend((0..100).map(|n| format!("{n:02}")));
    words
}

/// Writes vocab.json and merges.txt into `dir`; returns the vocabulary size (with `<|endoftext|>`).
pub fn write_tiny_tokenizer(dir: &Path, words: &[String]) -> usize {
    let mut vocab: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let mut merges: Vec<(String, String)> = Vec::new();
    for word in words {
        let chars: Vec<String> = word.bytes().map(|b| byte_char(b).to_string()).collect();
        let mut current = chars[0].clone();
        for next in &chars[1..] {
            let merged = format!("{current}{next}");
            if !vocab.contains(&merged) {
                merges.push((current.clone(), next.clone()));
                vocab.push(merged.clone());
            }
            current = merged;
        }
    }
    vocab.push("<|endoftext|>".into());
    let map: Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), Value::from(i)))
        .collect();
    std::fs::write(dir.join("vocab.json"), serde_json::to_string(&map).unwrap()).unwrap();
    let mut text = String::from("#version: 0.2\n");
    for (a, b) in &merges {
        text.push_str(&format!("{a} {b}\n"));
    }
    std::fs::write(dir.join("merges.txt"), text).unwrap();
    vocab.len()
}
