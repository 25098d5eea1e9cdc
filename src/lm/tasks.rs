//! The three GPT-2 tasks of Edge Pruning's paper, generated for any tokenizer.
//!
//! - **IOI** (Wang et al. 2022): the templates of their `ioi_dataset.py` (BABA form, each also used in
//!   ABBA form), names, places and objects from their lists that the tokenizer encodes as one token
//!   (with a leading space). The answer is the indirect object (IO), the wrong answer the subject (S).
//!   Corruption (their "ABC" dataset): every name slot gets its own fresh name, none of A or B.
//! - **Greater-Than** (Hanna et al. 2023): "The {noun} lasted from the year {XX}{YY} to the year {XX}",
//!   centuries 11-17 and YY 02-98 where " XXYY" tokenizes as " XX" + "YY"; right answers are the
//!   two-digit tokens above YY, wrong ones those at or below (probability difference). Corruption: YY = 01.
//! - **Gendered Pronoun** (Mathwin et al. 2023): "So {name} is a really {adjective} {role}, isn't" →
//!   " he" / " she". The paper's exact name list and templates are not public in the Edge Pruning repo;
//!   we use common single-token first names and a few adjective/role variants (docs/gpt2.md). Corruption:
//!   a name of the other gender, so the answer flips.

use crate::error::{Error, Result};
use crate::lm::tokenizer::TextTokenizer;
use crate::lm::{pad_rows, Answer, AnswerScore, LmTask};
use crate::rng::Rng;

/// Which task to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Indirect object identification.
    Ioi,
    /// Greater-Than.
    GreaterThan,
    /// Gendered Pronoun.
    GenderedPronoun,
}

impl TaskKind {
    /// `ioi`, `gt`, `gp`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Ioi => "ioi",
            TaskKind::GreaterThan => "gt",
            TaskKind::GenderedPronoun => "gp",
        }
    }
}

/// Generates `examples` examples of `kind`, seeded, right-padded with `pad`.
pub fn generate(
    kind: TaskKind,
    tokenizer: &TextTokenizer,
    examples: usize,
    seed: u64,
    pad: usize,
) -> Result<LmTask> {
    if examples == 0 {
        return Err(Error::InvalidOption {
            option: "--examples".into(),
            message: "must be at least 1".into(),
        });
    }
    let mut rng = Rng::new(seed);
    let mut drafts = Vec::with_capacity(examples);
    for index in 0..examples {
        drafts.push(match kind {
            TaskKind::Ioi => ioi_example(tokenizer, index, &mut rng)?,
            TaskKind::GreaterThan => greater_than_example(tokenizer, &mut rng)?,
            TaskKind::GenderedPronoun => pronoun_example(tokenizer, &mut rng)?,
        });
    }
    let mut clean_rows = Vec::with_capacity(examples);
    let mut corrupted_rows = Vec::with_capacity(examples);
    let mut targets = Vec::with_capacity(examples);
    let mut answers = Vec::with_capacity(examples);
    let mut texts = Vec::with_capacity(examples);
    for draft in drafts {
        let clean = tokenizer.encode(&draft.clean)?;
        let corrupted = tokenizer.encode(&draft.corrupted)?;
        if clean.len() != corrupted.len() || clean.is_empty() {
            return Err(Error::InvalidOption {
                option: "tokenizer".into(),
                message: format!(
                    "{:?} and its corruption {:?} tokenize to {} and {} tokens; they must be equal and non-empty",
                    draft.clean,
                    draft.corrupted,
                    clean.len(),
                    corrupted.len()
                ),
            });
        }
        targets.push(clean.len() - 1);
        clean_rows.push(clean);
        corrupted_rows.push(corrupted);
        answers.push(draft.answer);
        texts.push((draft.clean, draft.corrupted));
    }
    Ok(LmTask {
        name: kind.name().into(),
        clean: pad_rows(&clean_rows, pad),
        corrupted: pad_rows(&corrupted_rows, pad),
        targets,
        answers,
        score: match kind {
            TaskKind::GreaterThan => AnswerScore::ProbabilityDifference,
            _ => AnswerScore::LogitDifference,
        },
        texts,
    })
}

struct Draft {
    clean: String,
    corrupted: String,
    answer: Answer,
}

/// The words of `list` that encode as one token after a space, with that token.
fn single_tokens(
    tokenizer: &TextTokenizer,
    list: &[&str],
    what: &str,
    needed: usize,
) -> Result<Vec<(String, usize)>> {
    let kept: Vec<(String, usize)> = list
        .iter()
        .filter_map(|w| {
            tokenizer
                .single_token(&format!(" {w}"))
                .map(|id| (w.to_string(), id))
        })
        .collect();
    if kept.len() < needed {
        return Err(Error::InvalidOption {
            option: "tokenizer".into(),
            message: format!(
                "only {} of the {} {what} encode as one token after a space (need at least {needed}); \
                 this tokenizer cannot encode the task's words",
                kept.len(),
                list.len()
            ),
        });
    }
    Ok(kept)
}

fn pick<'a, T>(items: &'a [T], rng: &mut Rng) -> &'a T {
    &items[rng.below(items.len() as u64) as usize]
}

/// `count` distinct items of `items`, none in `exclude`.
fn distinct(
    items: &[(String, usize)],
    count: usize,
    exclude: &[usize],
    rng: &mut Rng,
) -> Vec<(String, usize)> {
    let mut chosen: Vec<(String, usize)> = Vec::with_capacity(count);
    while chosen.len() < count {
        let item = pick(items, rng);
        if !exclude.contains(&item.1) && !chosen.iter().any(|c| c.1 == item.1) {
            chosen.push(item.clone());
        }
    }
    chosen
}

/// Wang et al.'s BABA templates; `[A]` is the IO, `[B]` the subject; the final ` [A]` is the answer.
const IOI_TEMPLATES: [&str; 15] = [
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
];

const IOI_NAMES: [&str; 60] = [
    "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Andrew", "Anna", "Arthur", "Brian",
    "Charles", "Charlie", "Daniel", "David", "Edward", "Emily", "Eric", "Frank", "George", "Grace",
    "Henry", "Ian", "Jack", "Jacob", "James", "Jane", "Jason", "Jennifer", "Jessica", "John",
    "Joseph", "Justin", "Kate", "Kevin", "Laura", "Lisa", "Lucy", "Luke", "Mark", "Martin", "Mary",
    "Matthew", "Michael", "Paul", "Peter", "Rachel", "Richard", "Robert", "Rose", "Ryan", "Sarah",
    "Scott", "Simon", "Stephen", "Steven", "Thomas", "Tom", "Victoria", "William", "Sam",
];
const IOI_PLACES: [&str; 10] = [
    "store",
    "garden",
    "restaurant",
    "school",
    "hospital",
    "office",
    "house",
    "station",
    "park",
    "market",
];
const IOI_OBJECTS: [&str; 10] = [
    "ring",
    "kiss",
    "bone",
    "basketball",
    "computer",
    "necklace",
    "drink",
    "snack",
    "book",
    "letter",
];

fn ioi_example(tokenizer: &TextTokenizer, index: usize, rng: &mut Rng) -> Result<Draft> {
    let names = single_tokens(tokenizer, &IOI_NAMES, "IOI names", 5)?;
    let places = single_tokens(tokenizer, &IOI_PLACES, "IOI places", 1)?;
    let objects = single_tokens(tokenizer, &IOI_OBJECTS, "IOI objects", 1)?;
    let template = *pick(&IOI_TEMPLATES, rng);
    // Half the examples ABBA (IO first), half BABA, as in Wang et al.'s mixed dataset.
    let template = if index % 2 == 0 {
        template.replacen("[B] and [A]", "[A] and [B]", 1)
    } else {
        template.to_string()
    };
    let prompt = template
        .strip_suffix(" [A]")
        .expect("every template ends with the IO")
        .replace("[PLACE]", &pick(&places, rng).0)
        .replace("[OBJECT]", &pick(&objects, rng).0);
    let pair = distinct(&names, 2, &[], rng);
    let (io, subject) = (&pair[0], &pair[1]);
    let clean = prompt.replace("[A]", &io.0).replace("[B]", &subject.0);
    // ABC: each name slot (IO, S1, S2) gets its own new name.
    let fresh = distinct(&names, 3, &[io.1, subject.1], rng);
    let mut corrupted = prompt.clone();
    for name in &fresh {
        let slot = match (corrupted.find("[A]"), corrupted.find("[B]")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        corrupted.replace_range(slot..slot + 3, &name.0);
    }
    Ok(Draft {
        clean,
        corrupted,
        answer: Answer {
            correct: vec![io.1],
            wrong: vec![subject.1],
        },
    })
}

/// Hanna et al.'s nouns (a subset of their list).
const GT_NOUNS: [&str; 30] = [
    "war",
    "strike",
    "reign",
    "siege",
    "feud",
    "truce",
    "trial",
    "tour",
    "voyage",
    "journey",
    "expedition",
    "occupation",
    "rebellion",
    "revolution",
    "dynasty",
    "empire",
    "plague",
    "epidemic",
    "drought",
    "famine",
    "crisis",
    "conflict",
    "campaign",
    "project",
    "program",
    "study",
    "marriage",
    "partnership",
    "relationship",
    "exile",
];

fn greater_than_example(tokenizer: &TextTokenizer, rng: &mut Rng) -> Result<Draft> {
    let nouns = single_tokens(tokenizer, &GT_NOUNS, "Greater-Than nouns", 1)?;
    let two_digit = |yy: usize| tokenizer.single_token(&format!("{yy:02}"));
    let centuries: Vec<usize> = (11..=17)
        .filter(|c| tokenizer.single_token(&format!(" {c}")).is_some())
        .collect();
    // A year is usable when " XXYY" splits as " XX" + "YY", like GPT-2's " 17" + "32".
    let splits = |c: usize, yy: usize| -> bool {
        match (tokenizer.single_token(&format!(" {c}")), two_digit(yy)) {
            (Some(century), Some(year)) => {
                tokenizer.encode(&format!(" {c}{yy:02}")).ok() == Some(vec![century, year])
            }
            _ => false,
        }
    };
    let pairs: Vec<(usize, usize)> = centuries
        .iter()
        .flat_map(|&c| (2..=98).map(move |yy| (c, yy)))
        .filter(|&(c, yy)| splits(c, yy) && splits(c, 1))
        .collect();
    if pairs.is_empty() {
        return Err(Error::InvalidOption {
            option: "tokenizer".into(),
            message: "no year 11YY-17YY splits into a century token and a two-digit token (with 01 too); \
                      this tokenizer cannot encode Greater-Than"
                .into(),
        });
    }
    let (century, yy) = *pick(&pairs, rng);
    let noun = &pick(&nouns, rng).0;
    let years: Vec<(usize, usize)> = (0..100)
        .filter_map(|z| two_digit(z).map(|id| (z, id)))
        .collect();
    Ok(Draft {
        clean: format!("The {noun} lasted from the year {century}{yy:02} to the year {century}"),
        corrupted: format!("The {noun} lasted from the year {century}01 to the year {century}"),
        answer: Answer {
            correct: years
                .iter()
                .filter(|(z, _)| *z > yy)
                .map(|(_, id)| *id)
                .collect(),
            wrong: years
                .iter()
                .filter(|(z, _)| *z <= yy)
                .map(|(_, id)| *id)
                .collect(),
        },
    })
}

const GP_MALE: [&str; 20] = [
    "John", "David", "Mark", "Paul", "Ryan", "Gary", "Jack", "Sean", "Carl", "Joe", "Mike", "Tom",
    "Steve", "Peter", "James", "Robert", "Michael", "Kevin", "Brian", "Daniel",
];
const GP_FEMALE: [&str; 20] = [
    "Mary", "Lisa", "Anna", "Sarah", "Amy", "Carol", "Karen", "Susan", "Julie", "Judy", "Linda",
    "Emma", "Emily", "Rachel", "Laura", "Kate", "Jessica", "Jennifer", "Alice", "Helen",
];
const GP_ADJECTIVES: [&str; 4] = ["great", "good", "nice", "kind"];
const GP_ROLES: [&str; 4] = ["friend", "person", "neighbour", "colleague"];

fn pronoun_example(tokenizer: &TextTokenizer, rng: &mut Rng) -> Result<Draft> {
    let male = single_tokens(tokenizer, &GP_MALE, "male names", 1)?;
    let female = single_tokens(tokenizer, &GP_FEMALE, "female names", 1)?;
    let pronoun = |p: &str| {
        tokenizer
            .single_token(p)
            .ok_or_else(|| Error::InvalidOption {
                option: "tokenizer".into(),
                message: format!(
                    "{p:?} is not one token; Gendered Pronoun needs \" he\" and \" she\" as tokens"
                ),
            })
    };
    let (he, she) = (pronoun(" he")?, pronoun(" she")?);
    let is_male = rng.below(2) == 0;
    let (same, other) = if is_male {
        (&male, &female)
    } else {
        (&female, &male)
    };
    let (name, swapped) = (&pick(same, rng).0, &pick(other, rng).0);
    let adjective = pick(&GP_ADJECTIVES, rng);
    let role = pick(&GP_ROLES, rng);
    let text = |n: &str| format!("So {n} is a really {adjective} {role}, isn't");
    let (correct, wrong) = if is_male { (he, she) } else { (she, he) };
    Ok(Draft {
        clean: text(name),
        corrupted: text(swapped),
        answer: Answer {
            correct: vec![correct],
            wrong: vec![wrong],
        },
    })
}
