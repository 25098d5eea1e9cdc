//! Writes a program back as `.rasp` text that parses to the same graph.
//!
//! Every object gets one variable, so shared objects stay shared. What Tracr's simplifications
//! built (a composed Map function, a Select whose predicate is a negation or a conjunction) is
//! written as the steps that build it again: helper variables that the simplification then
//! folds away, exactly as it did the first time.

use super::ast::literal_source;
use crate::error::{Error, Result};
use crate::rasp::{MapFn, Predicate, SOp, SOpKind, Selector, SelectorKind};
use crate::value::{python_str_repr, Value};
use std::collections::{HashMap, HashSet};

/// The `.rasp` text of the program whose output is `output`.
pub fn print_program(output: &SOp) -> Result<String> {
    let mut printer = Printer::default();
    let out = printer.sop(output)?;
    if printer.lines.last().map(|(name, _)| name.as_str()) != Some(out.as_str()) {
        // The output is a bare primitive (or was assigned earlier): end with it as an expression.
        printer.lines.push((String::new(), out));
    }
    let mut text = String::new();
    for (name, value) in printer.lines {
        if name.is_empty() {
            text.push_str(&value);
        } else {
            text.push_str(&format!("{name} = {value}"));
        }
        text.push('\n');
    }
    Ok(text)
}

#[derive(Default)]
struct Printer {
    lines: Vec<(String, String)>,
    sop_vars: HashMap<usize, String>,
    selector_vars: HashMap<usize, String>,
    used: HashSet<String>,
}

const RESERVED: [&str; 12] = [
    "lambda",
    "if",
    "else",
    "and",
    "or",
    "not",
    "True",
    "False",
    "None",
    "rasp",
    "Comparison",
    "tokens",
];

fn unprintable(what: &str, reason: &str) -> Error {
    Error::Unprintable {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl Printer {
    /// A fresh variable name that reads like `hint` and shadows nothing the program uses.
    fn fresh(&mut self, hint: &str) -> String {
        let mut base: String = hint
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !base.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            base.insert(0, '_');
        }
        let taken = |name: &str, used: &HashSet<String>| {
            used.contains(name)
                || RESERVED.contains(&name)
                || super::build::PRIMITIVES.contains(&name)
                || super::build::CONSTRUCTORS.contains(&name)
                || super::function::BUILTINS.contains(&name)
                || name.parse::<crate::rasp::Comparison>().is_ok()
        };
        let mut name = base.clone();
        let mut n = 2;
        while taken(&name, &self.used) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }

    fn assign(&mut self, hint: &str, value: String) -> String {
        let name = self.fresh(hint);
        self.lines.push((name.clone(), value));
        name
    }

    /// The text referring to `sop`: a variable, or a primitive's name.
    fn sop(&mut self, sop: &SOp) -> Result<String> {
        if let Some(name) = self.sop_vars.get(&sop.object_id()) {
            return Ok(name.clone());
        }
        let base = match sop.kind() {
            SOpKind::Tokens => "tokens".to_string(),
            SOpKind::Indices => "indices".to_string(),
            SOpKind::Length => "length".to_string(),
            SOpKind::Map { f, inner } => {
                let inner_is_map = matches!(inner.kind(), SOpKind::Map { .. });
                let inner = self.sop(inner)?;
                self.map_with(f, &inner, inner_is_map, sop.name())?
            }
            SOpKind::SequenceMap { f, fst, snd } => {
                let text = f.text.clone().ok_or_else(|| {
                    unprintable(sop.name(), "its SequenceMap function is a Rust closure without .rasp text; build it from text with `SeqMapFn::with_text` or parse it")
                })?;
                let (fst, snd) = (self.sop(fst)?, self.sop(snd)?);
                format!("SequenceMap({text}, {fst}, {snd})")
            }
            SOpKind::LinearSequenceMap {
                fst,
                snd,
                fst_fac,
                snd_fac,
            } => {
                let (fst, snd) = (self.sop(fst)?, self.sop(snd)?);
                format!(
                    "LinearSequenceMap({fst}, {snd}, {}, {})",
                    literal_source(&Value::Float(*fst_fac)),
                    literal_source(&Value::Float(*snd_fac))
                )
            }
            SOpKind::Full { fill } => format!("Full({})", literal_source(fill)),
            SOpKind::ConstantSOp { values } => format!("ConstantSOp({})", list(values)),
            SOpKind::Aggregate {
                selector,
                sop: values,
                default,
            } => {
                let selector = self.selector(selector)?;
                let values = self.sop(values)?;
                match default {
                    Value::None => format!("Aggregate({selector}, {values})"),
                    d => format!(
                        "Aggregate({selector}, {values}, default={})",
                        literal_source(d)
                    ),
                }
            }
            SOpKind::SelectorWidth { selector } => {
                format!("SelectorWidth({})", self.selector(selector)?)
            }
        };
        let mut text = base;
        let is_primitive = sop.fixed_label().is_some();
        if sop.is_numerical() {
            text = format!("numerical({text})");
        }
        if let Some(name) = sop.explicit_name() {
            text = format!("{text}.named({})", python_str_repr(name));
        }
        if is_primitive && !sop.is_numerical() && sop.explicit_name().is_none() {
            return Ok(text);
        }
        let var = self.assign(sop.name(), text);
        self.sop_vars.insert(sop.object_id(), var.clone());
        Ok(var)
    }

    /// `Map(f, inner)` as text; a composed `f` becomes a helper Map that simplification folds in.
    fn map_with(
        &mut self,
        f: &MapFn,
        inner: &str,
        inner_is_map: bool,
        hint: &str,
    ) -> Result<String> {
        if let Some(text) = &f.text {
            let simplify = if inner_is_map { ", simplify=False" } else { "" };
            return Ok(format!("Map({text}, {inner}{simplify})"));
        }
        let Some((outer, first)) = f.composed_of() else {
            return Err(unprintable(hint, "its Map function is a Rust closure without .rasp text; build it with `MapFn::with_text` or parse it"));
        };
        let outer_text = outer.text.clone().ok_or_else(|| {
            unprintable(hint, "its Map function composes a function without .rasp text (a Rust closure or a composition) after another")
        })?;
        let helper_text = self.map_with(first, inner, inner_is_map, hint)?;
        let helper = self.assign(&format!("{hint}_before_simplification"), helper_text);
        Ok(format!("Map({outer_text}, {helper})"))
    }

    fn selector(&mut self, selector: &Selector) -> Result<String> {
        if let Some(name) = self.selector_vars.get(&selector.object_id()) {
            return Ok(name.clone());
        }
        let mut text = match selector.kind() {
            SelectorKind::Select {
                keys,
                queries,
                predicate,
            } => {
                let (key_var, query_var) = (self.sop(keys)?, self.sop(queries)?);
                self.select_with(
                    keys,
                    &key_var,
                    queries,
                    &query_var,
                    predicate,
                    selector.name(),
                )?
            }
            SelectorKind::SelectorAnd { fst, snd } => {
                format!(
                    "SelectorAnd({}, {})",
                    self.selector(fst)?,
                    self.selector(snd)?
                )
            }
            SelectorKind::SelectorOr { fst, snd } => {
                format!(
                    "SelectorOr({}, {})",
                    self.selector(fst)?,
                    self.selector(snd)?
                )
            }
            SelectorKind::SelectorNot { inner } => {
                format!("SelectorNot({})", self.selector(inner)?)
            }
            SelectorKind::ConstantSelector { matrix } => {
                let rows: Vec<String> = matrix
                    .iter()
                    .map(|row| list(&row.iter().map(|&b| Value::Bool(b)).collect::<Vec<_>>()))
                    .collect();
                format!("ConstantSelector([{}])", rows.join(", "))
            }
        };
        if let Some(name) = selector.explicit_name() {
            // A replayed `~s` or `s & t` needs parentheses before `.named`.
            if text.starts_with('~') || text.contains(" & ") || text.contains(" | ") {
                text = format!("({text})");
            }
            text = format!("{text}.named({})", python_str_repr(name));
        }
        let var = self.assign(selector.name(), text);
        self.selector_vars.insert(selector.object_id(), var.clone());
        Ok(var)
    }

    /// `Select(keys, queries, predicate)` as text, replaying `~` and `&`/`|` for composite predicates.
    fn select_with(
        &mut self,
        keys: &SOp,
        key_var: &str,
        queries: &SOp,
        query_var: &str,
        predicate: &Predicate,
        hint: &str,
    ) -> Result<String> {
        match predicate {
            Predicate::Comparison(c) => Ok(format!("Select({key_var}, {query_var}, {c})")),
            Predicate::Custom(f) => {
                let text = f.text.clone().ok_or_else(|| {
                    unprintable(hint, "its Select predicate is a Rust closure without .rasp text; build it with `PredicateFn::with_text` or parse it")
                })?;
                Ok(format!("Select({key_var}, {query_var}, {text})"))
            }
            Predicate::Not(p) => {
                let inner = self.select_with(keys, key_var, queries, query_var, p, hint)?;
                let helper = self.assign(&format!("{hint}_before_not"), inner);
                Ok(format!("~{helper}"))
            }
            Predicate::And(p, q) | Predicate::Or(p, q) => {
                let op = if matches!(predicate, Predicate::And(..)) { "&" } else { "|" };
                // When both sides had a Full baked in, Tracr keeps the first side's Full as the keys
                // (or queries): the first side then uses the original object.
                let both_key = has_fixed_key(p) && has_fixed_key(q);
                let both_query = matches!(**p, Predicate::FixedQuery(..))
                    && matches!(**q, Predicate::FixedQuery(..));
                let fst = self.replay_side(keys, key_var, queries, query_var, p, hint, (both_key, both_query))?;
                let snd = self.replay_side(keys, key_var, queries, query_var, q, hint, (false, false))?;
                Ok(format!("{fst} {op} {snd}"))
            }
            Predicate::FixedKey(..) | Predicate::FixedQuery(..) => Err(unprintable(
                hint,
                "a predicate with a baked-in Full key or query outside `&`/`|` cannot be built from text",
            )),
        }
    }

    /// One operand of a replayed `&`/`|`: a fresh Select, with a fresh `Full` on the side whose
    /// value Tracr's simplification baked into the predicate.
    #[allow(clippy::too_many_arguments)]
    fn replay_side(
        &mut self,
        keys: &SOp,
        key_var: &str,
        queries: &SOp,
        query_var: &str,
        predicate: &Predicate,
        hint: &str,
        reuse_original: (bool, bool),
    ) -> Result<String> {
        let mut predicate = predicate;
        let mut fixed_query = None;
        let mut fixed_key = None;
        if let Predicate::FixedQuery(p, fill) = predicate {
            fixed_query = Some(fill);
            predicate = p;
        }
        if let Predicate::FixedKey(p, fill) = predicate {
            fixed_key = Some(fill);
            predicate = p;
        }
        // A Full operand in the original would itself be baked in on replay, changing the predicate.
        let cannot = |side: &str| {
            unprintable(
                hint,
                &format!("its {side} are a Full SOp shared by both sides of a simplified `&`/`|`, which text cannot rebuild"),
            )
        };
        if fixed_key.is_none() && matches!(keys.kind(), SOpKind::Full { .. }) {
            return Err(cannot("keys"));
        }
        if fixed_query.is_none() && matches!(queries.kind(), SOpKind::Full { .. }) {
            return Err(cannot("queries"));
        }
        let side = if reuse_original.0 || reuse_original.1 {
            "fst"
        } else {
            "side"
        };
        let key_var = match fixed_key {
            Some(_) if reuse_original.0 => key_var.to_string(),
            Some(fill) => self.assign(
                &format!("{hint}_{side}_key"),
                format!("Full({})", literal_source(fill)),
            ),
            None => key_var.to_string(),
        };
        let query_var = match fixed_query {
            Some(_) if reuse_original.1 => query_var.to_string(),
            Some(fill) => self.assign(
                &format!("{hint}_{side}_query"),
                format!("Full({})", literal_source(fill)),
            ),
            None => query_var.to_string(),
        };
        let text = self.select_with(keys, &key_var, queries, &query_var, predicate, hint)?;
        Ok(self.assign(&format!("{hint}_{side}"), text))
    }
}

/// Whether the predicate has a baked-in key (under an optional baked-in query).
fn has_fixed_key(p: &Predicate) -> bool {
    match p {
        Predicate::FixedQuery(inner, _) => matches!(**inner, Predicate::FixedKey(..)),
        Predicate::FixedKey(..) => true,
        _ => false,
    }
}

fn list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(literal_source).collect();
    format!("[{}]", items.join(", "))
}
