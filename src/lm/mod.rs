//! Language-model tasks of Edge Pruning's GPT-2 experiments: data generators over any tokenizer, their
//! metrics, and the target positions the KL is taken at.
//!
//! Every example is a prompt whose next token is the answer; the KL, logit difference and accuracy are
//! read at the prompt's last position. Prompts of different lengths are right-padded with the pad
//! token (GPT-2's `<|endoftext|>`); with causal attention the padding cannot change the target
//! position, as in the official collators (which pad with eos and use no attention mask).

pub mod prune;
pub mod tasks;
pub mod tokenizer;

use ndarray::{Array2, ArrayView3};

use crate::error::{Error, Result};
use crate::objective::positions::TargetPositions;

/// How the answer tokens are scored at the target position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerScore {
    /// `mean logit(correct) − mean logit(wrong)` (IOI: IO − S; Gendered Pronoun: right − wrong pronoun).
    LogitDifference,
    /// `Σ p(correct) − Σ p(wrong)` after a softmax over the whole vocabulary (Greater-Than's probability difference).
    ProbabilityDifference,
}

/// One example's answer: the tokens that are right and those that are wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Ids that answer correctly.
    pub correct: Vec<usize>,
    /// Ids that answer wrongly.
    pub wrong: Vec<usize>,
}

/// A generated dataset: clean and corrupted prompts `[N, S]`, the target position and answer of each.
#[derive(Debug, Clone, PartialEq)]
pub struct LmTask {
    /// `ioi`, `gt` or `gp`.
    pub name: String,
    /// Clean prompts, right-padded.
    pub clean: Array2<usize>,
    /// Corrupted prompts (interchange ablation), same shape, same target positions.
    pub corrupted: Array2<usize>,
    /// Per example, the position whose next-token prediction is the answer (the prompt's last token).
    pub targets: Vec<usize>,
    /// Per example, the answer.
    pub answers: Vec<Answer>,
    /// How answers are scored.
    pub score: AnswerScore,
    /// The prompts as text (clean, corrupted), for reports.
    pub texts: Vec<(String, String)>,
}

/// Scores of a model's logits on a task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskScores {
    /// Mean over examples of the answer score (logit or probability difference).
    pub answer_score: f64,
    /// Fraction of examples whose score is positive.
    pub accuracy: f64,
}

impl LmTask {
    /// Number of examples.
    pub fn num_examples(&self) -> usize {
        self.clean.nrows()
    }

    /// The KL's positions: each example's target position alone (`fpt2_ioi.py`'s slice for one-token answers).
    pub fn target_positions(&self) -> TargetPositions {
        let ranges: Vec<(usize, usize)> = self.targets.iter().map(|&t| (t, t + 1)).collect();
        TargetPositions::ranges(&ranges, self.clean.ncols())
            .expect("targets lie inside the prompts")
    }

    /// The answer score and accuracy of logits `[N, S, V]` on this task.
    pub fn scores(&self, logits: ArrayView3<f64>) -> Result<TaskScores> {
        let (n, s, v) = logits.dim();
        if (n, s) != self.clean.dim() {
            return Err(Error::Shape {
                what: "task logits".into(),
                expected: format!("[{}, {}, vocab]", self.clean.nrows(), self.clean.ncols()),
                got: format!("{:?}", logits.shape()),
            });
        }
        let mut total = 0.0;
        let mut right = 0usize;
        for (i, answer) in self.answers.iter().enumerate() {
            let row = logits.slice(ndarray::s![i, self.targets[i], ..]);
            if let Some(&bad) = answer
                .correct
                .iter()
                .chain(&answer.wrong)
                .find(|&&id| id >= v)
            {
                return Err(Error::TokenId {
                    sequence: i,
                    position: self.targets[i],
                    id: bad,
                    vocab_size: v,
                });
            }
            let score = match self.score {
                AnswerScore::LogitDifference => {
                    let mean = |ids: &[usize]| {
                        ids.iter().map(|&t| row[t]).sum::<f64>() / ids.len().max(1) as f64
                    };
                    mean(&answer.correct) - mean(&answer.wrong)
                }
                AnswerScore::ProbabilityDifference => {
                    let max = row.fold(f64::NEG_INFINITY, |m, &x| m.max(x));
                    let total_exp: f64 = row.iter().map(|x| (x - max).exp()).sum();
                    let p = |ids: &[usize]| {
                        ids.iter()
                            .map(|&t| (row[t] - max).exp() / total_exp)
                            .sum::<f64>()
                    };
                    p(&answer.correct) - p(&answer.wrong)
                }
            };
            total += score;
            right += usize::from(score > 0.0);
        }
        Ok(TaskScores {
            answer_score: total / n.max(1) as f64,
            accuracy: right as f64 / n.max(1) as f64,
        })
    }
}

/// Right-pads prompts to one length with `pad`.
pub(crate) fn pad_rows(rows: &[Vec<usize>], pad: usize) -> Array2<usize> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Array2::from_elem((rows.len(), width), pad);
    for (i, row) in rows.iter().enumerate() {
        for (j, &id) in row.iter().enumerate() {
            out[(i, j)] = id;
        }
    }
    out
}
