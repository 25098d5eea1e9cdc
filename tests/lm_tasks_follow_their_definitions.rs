//! The IOI, Greater-Than and Gendered-Pronoun generators follow their task definitions on a tokenizer of
//! our own (byte-level BPE read from vocab.json + merges.txt), are seeded, and refuse tokenizers that
//! cannot encode their words.

mod common;

use std::path::PathBuf;

use ndarray::Array3;

use common::tiny_tokenizer::{single_token_words, write_tiny_tokenizer};
use edgeprune::error::Error;
use edgeprune::lm::tasks::{generate, TaskKind};
use edgeprune::lm::tokenizer::TextTokenizer;
use edgeprune::lm::{AnswerScore, LmTask};

fn tokenizer_dir(name: &str, words: &[String]) -> PathBuf {
    // One folder per call: tests run in parallel, and two writing (and first clearing) the same
    // folder raced.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("edgeprune-lm-{}-{name}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_tiny_tokenizer(&dir, words);
    dir
}

fn tokenizer() -> TextTokenizer {
    TextTokenizer::from_dir(&tokenizer_dir("full", &single_token_words())).unwrap()
}

fn task(kind: TaskKind, examples: usize, seed: u64) -> (TextTokenizer, LmTask) {
    let tok = tokenizer();
    let pad = tok.token_id("<|endoftext|>").unwrap();
    let task = generate(kind, &tok, examples, seed, pad).unwrap();
    (tok, task)
}

#[test]
fn the_tokenizer_merges_words_like_gpt2() {
    let tok = tokenizer();
    assert!(tok.single_token(" Mary").is_some());
    assert!(tok.single_token("Mary").is_none(), "no space, no merge");
    let year = tok.encode(" 1732").unwrap();
    assert_eq!(
        year,
        vec![
            tok.single_token(" 17").unwrap(),
            tok.single_token("32").unwrap()
        ]
    );
    assert_eq!(
        tok.decode(&tok.encode("Then, Mary went").unwrap()).unwrap(),
        "Then, Mary went"
    );
}

#[test]
fn ioi_prompts_end_before_the_indirect_object_and_abc_replaces_every_name() {
    let (tok, task) = task(TaskKind::Ioi, 12, 7);
    let pad = tok.token_id("<|endoftext|>").unwrap();
    for (i, (clean, corrupted)) in task.texts.iter().enumerate() {
        let answer = &task.answers[i];
        let io = tok.decode(&answer.correct).unwrap();
        let subject = tok.decode(&answer.wrong).unwrap();
        assert_ne!(io, subject, "example {i}");
        // The IO appears once, the subject twice; ABBA on even examples, BABA on odd ones.
        assert_eq!(clean.matches(io.trim()).count(), 1, "{clean}: IO {io}");
        assert_eq!(
            clean.matches(subject.trim()).count(),
            2,
            "{clean}: S {subject}"
        );
        let io_first = clean.find(io.trim()).unwrap() < clean.find(subject.trim()).unwrap();
        assert_eq!(io_first, i % 2 == 0, "{clean}: ABBA/BABA alternation");
        assert!(
            !corrupted.contains(io.trim()) && !corrupted.contains(subject.trim()),
            "{corrupted}"
        );
        // Same tokens except at the three name slots.
        let row = task.clean.row(i);
        let other = task.corrupted.row(i);
        let differing = row.iter().zip(other.iter()).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 3, "{clean} / {corrupted}");
        let target = task.targets[i];
        let prompt: Vec<usize> = row.iter().take(target + 1).copied().collect();
        assert_eq!(
            &tok.decode(&prompt).unwrap(),
            clean,
            "the prompt ends at the target"
        );
        assert!(clean.ends_with(" to"), "{clean}: the IO follows");
        assert!(
            row.iter().skip(target + 1).all(|&t| t == pad),
            "{clean}: right padding"
        );
    }
    assert_eq!(task.score, AnswerScore::LogitDifference);
}

#[test]
fn greater_than_corrupts_the_year_to_01_and_splits_the_answers_at_yy() {
    let (tok, task) = task(TaskKind::GreaterThan, 10, 3);
    for (i, (clean, corrupted)) in task.texts.iter().enumerate() {
        let words: Vec<&str> = clean.split(' ').collect();
        let year = words[words.len() - 5];
        let (century, yy) = (&year[..2], year[2..].parse::<usize>().unwrap());
        assert!((2..=98).contains(&yy), "{clean}");
        assert!(
            clean.ends_with(&format!("to the year {century}")),
            "{clean}"
        );
        assert_eq!(
            corrupted,
            &clean.replace(year, &format!("{century}01")),
            "{clean}"
        );
        let answer = &task.answers[i];
        assert_eq!(
            answer.correct.len() + answer.wrong.len(),
            100,
            "{clean}: every two-digit token"
        );
        for &id in &answer.correct {
            assert!(
                tok.decode(&[id]).unwrap().parse::<usize>().unwrap() > yy,
                "{clean}"
            );
        }
        for &id in &answer.wrong {
            assert!(
                tok.decode(&[id]).unwrap().parse::<usize>().unwrap() <= yy,
                "{clean}"
            );
        }
    }
    assert_eq!(task.score, AnswerScore::ProbabilityDifference);
}

#[test]
fn gendered_pronoun_flips_the_pronoun_with_the_name() {
    let (tok, task) = task(TaskKind::GenderedPronoun, 10, 5);
    let (he, she) = (
        tok.single_token(" he").unwrap(),
        tok.single_token(" she").unwrap(),
    );
    for (i, (clean, corrupted)) in task.texts.iter().enumerate() {
        assert!(
            clean.starts_with("So ") && clean.ends_with(", isn't"),
            "{clean}"
        );
        let answer = &task.answers[i];
        assert!(
            answer.correct == vec![he] && answer.wrong == vec![she]
                || answer.correct == vec![she] && answer.wrong == vec![he],
            "{clean}"
        );
        assert_ne!(clean, corrupted);
    }
}

#[test]
fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
    for kind in [
        TaskKind::Ioi,
        TaskKind::GreaterThan,
        TaskKind::GenderedPronoun,
    ] {
        let (_, a) = task(kind, 8, 11);
        let (_, b) = task(kind, 8, 11);
        let (_, c) = task(kind, 8, 12);
        assert_eq!(a, b, "{kind:?}: seeded");
        assert_ne!(a.texts, c.texts, "{kind:?}: another seed");
        assert_eq!(a.num_examples(), 8);
    }
}

#[test]
fn scores_are_logit_differences_and_accuracy_at_the_target() {
    let (_, task) = task(TaskKind::Ioi, 2, 1);
    let (n, s) = task.clean.dim();
    let mut logits = Array3::<f64>::zeros((n, s, 400));
    let (io0, s0) = (task.answers[0].correct[0], task.answers[0].wrong[0]);
    let io1 = task.answers[1].correct[0];
    logits[(0, task.targets[0], io0)] = 3.0;
    logits[(0, task.targets[0], s0)] = 1.0;
    logits[(1, task.targets[1], io1)] = -1.0;
    let scores = task.scores(logits.view()).unwrap();
    assert_eq!(scores.answer_score, (2.0 + -1.0) / 2.0);
    assert_eq!(scores.accuracy, 0.5);
    let positions = task.target_positions();
    assert_eq!(positions.weights()[(0, task.targets[0])], 1.0);
    assert_eq!(
        positions.weights().sum(),
        2.0,
        "one target position per example"
    );
}

#[test]
fn a_tokenizer_without_the_task_words_is_refused_by_name() {
    // Only names: no " he"/" she", no years.
    let words: Vec<String> = ["Mary", "John", "Alice", "Tom", "Sam", "store", "ring"]
        .iter()
        .map(|w| format!(" {w}"))
        .collect();
    let tok = TextTokenizer::from_dir(&tokenizer_dir("names-only", &words)).unwrap();
    let pad = tok.token_id("<|endoftext|>").unwrap();
    let message = generate(TaskKind::GenderedPronoun, &tok, 4, 0, pad)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("names") || message.contains("he"),
        "{message}"
    );
    let message = generate(TaskKind::GreaterThan, &tok, 4, 0, pad)
        .unwrap_err()
        .to_string();
    assert!(message.contains("Greater-Than"), "{message}");
    assert!(
        generate(TaskKind::Ioi, &tok, 4, 0, pad).is_ok(),
        "five names, a place and an object suffice"
    );
    let empty = std::env::temp_dir().join(format!("edgeprune-lm-{}-empty", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    match TextTokenizer::from_dir(&empty) {
        Err(Error::Checkpoint { message, .. }) => {
            assert!(message.contains("tokenizer.json"), "{message}")
        }
        other => panic!("expected a Checkpoint error, got {other:?}"),
    }
}
