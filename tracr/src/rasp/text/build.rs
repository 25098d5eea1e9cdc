//! Turns parsed statements into RASP objects through the builder API, so Map simplification,
//! selector simplification and default names come out exactly as the Rust builders give them.

use super::ast::{BinOp, CmpOp, Node, NodeKind, UnaryOp};
use super::error::{ParseError, Position};
use super::function::{self, compile_lambda, Function};
use super::parser::{parse_expression, parse_statements, Statement};
use crate::rasp::{
    aggregate_with_default, constant_selector, constant_sop, full, indices, length_primitive,
    linear_sequence_map, map, map_no_simplify, select, selector_and, selector_and_no_simplify,
    selector_not, selector_not_no_simplify, selector_or, selector_or_no_simplify, selector_width,
    sequence_map, tokens, Comparison, MapFn, Predicate, PredicateFn, SOp, Selector, SeqMapFn,
};
use crate::value::Value;
use std::collections::HashMap;

/// The RASP constructors a program may call (also reachable as `rasp.Name`).
pub const CONSTRUCTORS: [&str; 14] = [
    "Map",
    "SequenceMap",
    "LinearSequenceMap",
    "Full",
    "ConstantSOp",
    "Aggregate",
    "SelectorWidth",
    "Select",
    "SelectorAnd",
    "SelectorOr",
    "SelectorNot",
    "ConstantSelector",
    "numerical",
    "categorical",
];

/// The names a program can use without assigning them.
pub const PRIMITIVES: [&str; 3] = ["tokens", "indices", "length"];

/// A parsed program: its output and every variable it assigned.
#[derive(Debug, Clone)]
pub struct ParsedProgram {
    /// The program: the SOp of the last statement.
    pub output: SOp,
    /// Every assignment's variable and final value, in the order first assigned.
    pub variables: Vec<(String, Binding)>,
}

/// What a variable holds.
#[derive(Debug, Clone)]
pub enum Binding {
    /// A sequence operation.
    SOp(SOp),
    /// A selector.
    Selector(Selector),
    /// A constant (number, string, bool, None, tuple).
    Value(Value),
}

/// What a program-level expression evaluates to while building.
#[derive(Debug, Clone)]
enum Item {
    SOp(SOp),
    Selector(Selector),
    Value(Value),
    Comparison(Comparison),
    Lambda(Node),
    List(Vec<Item>),
    Constructor(&'static str),
    ValueFunction(&'static str),
    Namespace(&'static str),
    Method(Box<Item>, String),
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::SOp(_) => "an SOp".into(),
            Item::Selector(_) => "a selector".into(),
            Item::Value(v) => format!("the value {}", v.py_repr()),
            Item::Comparison(c) => format!("the comparison {c}"),
            Item::Lambda(_) => "a lambda".into(),
            Item::List(_) => "a list".into(),
            Item::Constructor(name) | Item::ValueFunction(name) => format!("the function `{name}`"),
            Item::Namespace(name) => format!("the namespace `{name}`"),
            Item::Method(_, name) => format!("the method `.{name}`"),
        }
    }
}

/// Parses `.rasp` text into its output SOp and its variables.
pub fn parse_program(source: &str) -> Result<ParsedProgram, ParseError> {
    let statements = parse_statements(source)?;
    let mut builder = Builder {
        variables: HashMap::new(),
        order: Vec::new(),
    };
    let count = statements.len();
    let mut output = None;
    for (i, statement) in statements.into_iter().enumerate() {
        let (item, position) = match statement {
            Statement::Assign {
                name,
                value,
                position,
            } => {
                let item = builder.eval(&value)?;
                let binding = match &item {
                    Item::SOp(s) => Binding::SOp(s.clone()),
                    Item::Selector(s) => Binding::Selector(s.clone()),
                    Item::Value(v) => Binding::Value(v.clone()),
                    other => {
                        return Err(ParseError::new(
                            value.position,
                            format!(
                                "expected an SOp, a selector or a constant to assign to `{name}`, found {}",
                                other.describe()
                            ),
                        ))
                    }
                };
                if !builder.variables.contains_key(&name) {
                    builder.order.push(name.clone());
                }
                builder.variables.insert(name, binding);
                (item, position)
            }
            Statement::Output(node) => {
                if i + 1 != count {
                    return Err(ParseError::new(
                        node.position,
                        "a bare expression is only allowed as the last statement (the program's output); expected `name = expression`",
                    ));
                }
                (builder.eval(&node)?, node.position)
            }
        };
        if i + 1 == count {
            output = Some(match item {
                Item::SOp(sop) => sop,
                other => {
                    return Err(ParseError::new(
                        position,
                        format!(
                        "the last statement is the program's output and must be an SOp, found {}",
                        other.describe()
                    ),
                    ))
                }
            });
        }
    }
    let output = output.ok_or_else(|| {
        ParseError::new(
            Position { line: 1, column: 1 },
            "expected at least one statement; the last one is the program's output",
        )
    })?;
    let variables = builder
        .order
        .iter()
        .map(|name| (name.clone(), builder.variables[name].clone()))
        .collect();
    Ok(ParsedProgram { output, variables })
}

struct Builder {
    variables: HashMap<String, Binding>,
    order: Vec<String>,
}

/// The positional and keyword arguments of a call, checked against a signature.
struct Args<'a> {
    call: &'a Node,
    name: &'static str,
    positional: Vec<(Item, Position)>,
    keywords: Vec<(String, Item, Position)>,
}

impl Args<'_> {
    fn error(&self, position: Position, message: String) -> ParseError {
        ParseError::new(position, format!("{}: {message}", self.name))
    }

    /// Takes parameter `index` (by position or keyword `key`); `None` if absent and optional.
    fn take(&mut self, index: usize, key: &str) -> Option<(Item, Position)> {
        if let Some(i) = self.keywords.iter().position(|(k, _, _)| k == key) {
            let (_, item, position) = self.keywords.remove(i);
            return Some((item, position));
        }
        self.positional.get_mut(index).map(|slot| {
            (
                std::mem::replace(&mut slot.0, Item::Value(Value::None)),
                slot.1,
            )
        })
    }

    fn required(&mut self, index: usize, key: &str) -> Result<(Item, Position), ParseError> {
        self.take(index, key).ok_or_else(|| {
            self.error(
                self.call.position,
                format!("missing argument `{key}` (argument {})", index + 1),
            )
        })
    }

    fn finish(self, max_positional: usize) -> Result<(), ParseError> {
        if self.positional.len() > max_positional {
            let position = self.positional[max_positional].1;
            return Err(self.error(
                position,
                format!(
                    "takes at most {max_positional} positional arguments, got {}",
                    self.positional.len()
                ),
            ));
        }
        if let Some((key, _, position)) = self.keywords.first() {
            return Err(self.error(*position, format!("unexpected keyword argument `{key}`")));
        }
        Ok(())
    }

    fn sop(&mut self, index: usize, key: &str) -> Result<SOp, ParseError> {
        match self.required(index, key)? {
            (Item::SOp(s), _) => Ok(s),
            (other, position) => Err(self.error(
                position,
                format!("expected an SOp as `{key}`, found {}", other.describe()),
            )),
        }
    }

    fn selector(&mut self, index: usize, key: &str) -> Result<Selector, ParseError> {
        match self.required(index, key)? {
            (Item::Selector(s), _) => Ok(s),
            (other, position) => Err(self.error(
                position,
                format!("expected a selector as `{key}`, found {}", other.describe()),
            )),
        }
    }

    fn value(&mut self, index: usize, key: &str) -> Result<Option<Value>, ParseError> {
        match self.take(index, key) {
            None => Ok(None),
            Some((Item::Value(v), _)) => Ok(Some(v)),
            Some((other, position)) => Err(self.error(
                position,
                format!("expected a constant as `{key}`, found {}", other.describe()),
            )),
        }
    }

    fn lambda(&mut self, index: usize, key: &str, arity: usize) -> Result<Function, ParseError> {
        match self.required(index, key)? {
            (Item::Lambda(node), _) => {
                compile_lambda(&node, arity, &format!("{} `{key}`", self.name))
            }
            (other, position) => Err(self.error(
                position,
                format!(
                    "expected a lambda with {arity} parameter(s) as `{key}`, found {}",
                    other.describe()
                ),
            )),
        }
    }
}

fn map_fn(f: Function) -> MapFn {
    let text = f.text.clone();
    MapFn::new(move |x| f.call(std::slice::from_ref(x))).with_text(text)
}

fn seq_map_fn(f: Function) -> SeqMapFn {
    let text = f.text.clone();
    SeqMapFn::new(move |x, y| f.call(&[x.clone(), y.clone()])).with_text(text)
}

fn predicate_fn(f: Function) -> PredicateFn {
    let text = f.text.clone();
    PredicateFn::new(move |k, q| Ok(f.call(&[k.clone(), q.clone()])?.py_truthy())).with_text(text)
}

/// The function Tracr's operator overloads build, parsed from text so its text is canonical.
fn generated_lambda(
    source: &str,
    arity: usize,
    position: Position,
) -> Result<Function, ParseError> {
    let node = parse_expression(source).map_err(|e| {
        ParseError::new(
            position,
            format!(
                "internal: generated function `{source}` does not parse: {}",
                e.message
            ),
        )
    })?;
    compile_lambda(&node, arity, "operator")
}

fn literal(v: &Value) -> String {
    super::ast::literal_source(v)
}

impl Builder {
    fn eval(&mut self, node: &Node) -> Result<Item, ParseError> {
        let err = |message: String| Err(ParseError::new(node.position, message));
        match &node.kind {
            NodeKind::Literal(v) => Ok(Item::Value(v.clone())),
            NodeKind::Name(name) => self.lookup(name, node.position),
            NodeKind::Tuple(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match self.eval(item)? {
                        Item::Value(v) => values.push(v),
                        other => {
                            return Err(ParseError::new(
                                item.position,
                                format!("tuples may only hold constants, found {}", other.describe()),
                            ))
                        }
                    }
                }
                Ok(Item::Value(Value::Tuple(values)))
            }
            NodeKind::List(items) => Ok(Item::List(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            )),
            NodeKind::Lambda { .. } => Ok(Item::Lambda(node.clone())),
            NodeKind::Attribute { value, attr } => {
                let object = self.eval(value)?;
                match (&object, attr.as_str()) {
                    (Item::Namespace("rasp"), "Comparison") => Ok(Item::Namespace("Comparison")),
                    (Item::Namespace("rasp"), name) => self.builtin(name).ok_or_else(|| {
                        ParseError::new(
                            node.position,
                            format!("`rasp.{name}` is not supported: expected one of {}, tokens, indices, length, Comparison", CONSTRUCTORS.join(", ")),
                        )
                    }),
                    (Item::Namespace(_), name) => name
                        .parse::<Comparison>()
                        .map(Item::Comparison)
                        .map_err(|e| ParseError::new(node.position, e.to_string())),
                    (Item::SOp(_) | Item::Selector(_), "named") => {
                        Ok(Item::Method(Box::new(object), attr.clone()))
                    }
                    _ => err(format!(
                        "{} has no attribute `{attr}` (only SOps and selectors have `.named(\"name\")`)",
                        object.describe()
                    )),
                }
            }
            NodeKind::Call { func, args, kwargs } => {
                let callee = self.eval(func)?;
                let mut positional = Vec::with_capacity(args.len());
                for arg in args {
                    positional.push((self.eval(arg)?, arg.position));
                }
                let mut keywords = Vec::with_capacity(kwargs.len());
                for (key, arg) in kwargs {
                    keywords.push((key.clone(), self.eval(arg)?, arg.position));
                }
                self.call(node, callee, positional, keywords)
            }
            NodeKind::Index { value, index } => {
                match (self.eval(value)?, self.eval(index)?) {
                    (Item::Value(v), Item::Value(i)) => constant(node.position, function::index_value(&v, &i)),
                    (other, _) => err(format!("only constants can be indexed here, found {}", other.describe())),
                }
            }
            NodeKind::Unary { op, operand } => {
                let item = self.eval(operand)?;
                match (op, item) {
                    (_, Item::Value(v)) => constant(node.position, function::unary(*op, &v)),
                    (UnaryOp::Invert, Item::SOp(s)) => self.sop_map(&s, "lambda x: not x", node.position),
                    (UnaryOp::Invert, Item::Selector(s)) => Ok(Item::Selector(selector_not(&s))),
                    (UnaryOp::Not, Item::SOp(_) | Item::Selector(_)) => err(
                        "`not` on an SOp or selector is not elementwise: use `~`".into(),
                    ),
                    (op, other) => err(format!(
                        "unary `{}` is not defined for {} (Tracr's SOps support `~` only)",
                        match op {
                            UnaryOp::Neg => "-",
                            UnaryOp::Pos => "+",
                            UnaryOp::Not => "not",
                            UnaryOp::Invert => "~",
                        },
                        other.describe()
                    )),
                }
            }
            NodeKind::Binary { op, left, right } => {
                let (a, b) = (self.eval(left)?, self.eval(right)?);
                self.binary(*op, a, b, node.position)
            }
            NodeKind::Compare { first, rest } => {
                let first_item = self.eval(first)?;
                if let [(op, right)] = rest.as_slice() {
                    let right_item = self.eval(right)?;
                    match (&first_item, &right_item) {
                        (Item::SOp(s), Item::Value(c)) => {
                            return self.sop_map(s, &format!("lambda x: x {} {}", op.symbol(), literal(c)), node.position)
                        }
                        // Python reflects `c < sop` into `sop > c`.
                        (Item::Value(c), Item::SOp(s)) => {
                            return self.sop_map(s, &format!("lambda x: x {} {}", reflect(*op).symbol(), literal(c)), node.position)
                        }
                        _ => {}
                    }
                }
                let mut left = match first_item {
                    Item::Value(v) => v,
                    other => return err(format!(
                        "comparisons of {} are only defined against a constant (`sop == 1`), one operator at a time; for two SOps use SequenceMap",
                        other.describe()
                    )),
                };
                let mut result = true;
                for (op, right) in rest {
                    let right = match self.eval(right)? {
                        Item::Value(v) => v,
                        other => return Err(ParseError::new(right.position, format!(
                            "comparisons of {} are only defined against a constant, one operator at a time",
                            other.describe()
                        ))),
                    };
                    if result {
                        result = constant(node.position, function::compare(*op, &left, &right).map(Value::Bool))
                            .map(|item| matches!(item, Item::Value(Value::Bool(true))))?;
                    }
                    left = right;
                }
                Ok(Item::Value(Value::Bool(result)))
            }
            NodeKind::And(a, b) | NodeKind::Or(a, b) => {
                let is_and = matches!(node.kind, NodeKind::And(..));
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                match (a, b) {
                    (Item::Value(a), Item::Value(b)) => Ok(Item::Value(if is_and { a.py_and(&b) } else { a.py_or(&b) })),
                    _ => err(format!(
                        "`{}` on SOps or selectors is not elementwise: use `{}`",
                        if is_and { "and" } else { "or" },
                        if is_and { "&" } else { "|" }
                    )),
                }
            }
            NodeKind::IfElse { cond, then, otherwise } => match self.eval(cond)? {
                Item::Value(c) => {
                    if c.py_truthy() {
                        self.eval(then)
                    } else {
                        self.eval(otherwise)
                    }
                }
                other => err(format!(
                    "a conditional at program level needs a constant condition, found {}; put `a if c else b` inside a Map lambda",
                    other.describe()
                )),
            },
        }
    }

    fn lookup(&self, name: &str, position: Position) -> Result<Item, ParseError> {
        if let Some(binding) = self.variables.get(name) {
            return Ok(match binding {
                Binding::SOp(s) => Item::SOp(s.clone()),
                Binding::Selector(s) => Item::Selector(s.clone()),
                Binding::Value(v) => Item::Value(v.clone()),
            });
        }
        match name {
            "rasp" => return Ok(Item::Namespace("rasp")),
            "Comparison" => return Ok(Item::Namespace("Comparison")),
            _ => {}
        }
        if let Ok(c) = name.parse::<Comparison>() {
            return Ok(Item::Comparison(c));
        }
        self.builtin(name).ok_or_else(|| {
            ParseError::new(
                position,
                format!(
                    "unknown name `{name}`: expected a variable assigned above, a primitive ({}), a comparison (EQ, LT, ...) or one of {}",
                    PRIMITIVES.join(", "),
                    CONSTRUCTORS.join(", ")
                ),
            )
        })
    }

    fn builtin(&self, name: &str) -> Option<Item> {
        match name {
            "tokens" => Some(Item::SOp(tokens())),
            "indices" => Some(Item::SOp(indices())),
            "length" => Some(Item::SOp(length_primitive())),
            _ => CONSTRUCTORS
                .iter()
                .find(|c| **c == name)
                .map(|c| Item::Constructor(c))
                .or_else(|| {
                    function::BUILTINS
                        .iter()
                        .find(|b| **b == name)
                        .map(|b| Item::ValueFunction(b))
                }),
        }
    }

    fn sop_map(&self, sop: &SOp, source: &str, position: Position) -> Result<Item, ParseError> {
        let f = generated_lambda(source, 1, position)?;
        Ok(Item::SOp(map(map_fn(f), sop)))
    }

    fn binary(&self, op: BinOp, a: Item, b: Item, position: Position) -> Result<Item, ParseError> {
        let sym = op.symbol();
        // Tracr's dunders: `&`/`|` are `and`/`or` on values, the rest the Python operator.
        let body = |x: &str, y: &str| match op {
            BinOp::BitAnd => format!("{x} and {y}"),
            BinOp::BitOr => format!("{x} or {y}"),
            _ => format!("{x} {sym} {y}"),
        };
        let tracr_defines = matches!(
            op,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::BitAnd | BinOp::BitOr
        );
        match (a, b) {
            (Item::Value(x), Item::Value(y)) => constant(position, function::binary(op, &x, &y)),
            (Item::SOp(x), Item::SOp(y)) if tracr_defines => {
                let f = generated_lambda(&format!("lambda x, y: {}", body("x", "y")), 2, position)?;
                Ok(Item::SOp(sequence_map(seq_map_fn(f), &x, &y)))
            }
            (Item::SOp(x), Item::Value(c)) if tracr_defines => self.sop_map(
                &x,
                &format!("lambda x: {}", body("x", &literal(&c))),
                position,
            ),
            (Item::Value(c), Item::SOp(x)) if tracr_defines => {
                // Tracr's `__ror__` keeps the SOp first: `c | sop` is `x or c`.
                let text = if op == BinOp::BitOr {
                    body("x", &literal(&c))
                } else {
                    body(&literal(&c), "x")
                };
                self.sop_map(&x, &format!("lambda x: {text}"), position)
            }
            (Item::Selector(x), Item::Selector(y)) if op == BinOp::BitAnd => {
                Ok(Item::Selector(selector_and(&x, &y)))
            }
            (Item::Selector(x), Item::Selector(y)) if op == BinOp::BitOr => {
                Ok(Item::Selector(selector_or(&x, &y)))
            }
            (a, b) => Err(ParseError::new(
                position,
                format!(
                    "`{sym}` is not defined between {} and {}{}",
                    a.describe(),
                    b.describe(),
                    if tracr_defines {
                        ""
                    } else {
                        " (on SOps Tracr defines + - * / & | only; use a Map or SequenceMap)"
                    }
                ),
            )),
        }
    }

    fn call(
        &self,
        node: &Node,
        callee: Item,
        positional: Vec<(Item, Position)>,
        keywords: Vec<(String, Item, Position)>,
    ) -> Result<Item, ParseError> {
        let position = node.position;
        match callee {
            Item::Method(object, _) => {
                let mut args = Args {
                    call: node,
                    name: "named",
                    positional,
                    keywords,
                };
                let name = match args.value(0, "name")? {
                    Some(Value::Str(s)) => s,
                    Some(other) => {
                        return Err(args.error(
                            position,
                            format!("expected a string name, found {}", other.py_repr()),
                        ))
                    }
                    None => {
                        return Err(
                            args.error(position, "missing the name: `.named(\"my_name\")`".into())
                        )
                    }
                };
                args.finish(1)?;
                match *object {
                    Item::SOp(s) => Ok(Item::SOp(s.named(name))),
                    Item::Selector(s) => Ok(Item::Selector(s.named(name))),
                    _ => unreachable!("only SOps and selectors get a `named` method"),
                }
            }
            Item::ValueFunction(name) => {
                let mut values = Vec::new();
                for (item, p) in positional {
                    match item {
                        Item::Value(v) => values.push(v),
                        other => return Err(ParseError::new(p, format!(
                            "`{name}` at program level takes constants, found {}; use it inside a Map lambda",
                            other.describe()
                        ))),
                    }
                }
                if let Some((key, _, p)) = keywords.first() {
                    return Err(ParseError::new(
                        *p,
                        format!("`{name}` takes no keyword argument `{key}`"),
                    ));
                }
                constant(position, function::call_builtin(name, &values))
            }
            Item::Constructor(name) => {
                let mut args = Args {
                    call: node,
                    name,
                    positional,
                    keywords,
                };
                self.construct(&mut args).and_then(|item| {
                    let max = match name {
                        "Map" => 3,
                        "SequenceMap" | "Select" | "Aggregate" => 3,
                        "LinearSequenceMap" => 4,
                        "SelectorAnd" | "SelectorOr" => 2,
                        _ => 1,
                    };
                    args.finish(max)?;
                    Ok(item)
                })
            }
            other => Err(ParseError::new(
                position,
                format!("{} cannot be called", other.describe()),
            )),
        }
    }

    fn construct(&self, args: &mut Args<'_>) -> Result<Item, ParseError> {
        let position = args.call.position;
        Ok(match args.name {
            "Map" => {
                let f = args.lambda(0, "f", 1)?;
                let inner = args.sop(1, "inner")?;
                let simplify = match args.value(2, "simplify")? {
                    None => true,
                    Some(Value::Bool(b)) => b,
                    Some(other) => {
                        return Err(args.error(
                            position,
                            format!(
                                "`simplify` must be True or False, found {}",
                                other.py_repr()
                            ),
                        ))
                    }
                };
                let f = map_fn(f);
                Item::SOp(if simplify {
                    map(f, &inner)
                } else {
                    map_no_simplify(f, &inner)
                })
            }
            "SequenceMap" => {
                let f = args.lambda(0, "f", 2)?;
                let fst = args.sop(1, "fst")?;
                let snd = args.sop(2, "snd")?;
                Item::SOp(sequence_map(seq_map_fn(f), &fst, &snd))
            }
            "LinearSequenceMap" => {
                let fst = args.sop(0, "fst")?;
                let snd = args.sop(1, "snd")?;
                let mut factor = |index, key: &str| -> Result<f64, ParseError> {
                    match args.value(index, key)? {
                        Some(v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_))) => {
                            Ok(v.as_f64().unwrap_or_default())
                        }
                        Some(other) => Err(args.error(
                            position,
                            format!("`{key}` must be a number, found {}", other.py_repr()),
                        )),
                        None => Err(args.error(
                            position,
                            format!("missing argument `{key}` (argument {})", index + 1),
                        )),
                    }
                };
                let fst_fac = factor(2, "fst_fac")?;
                let snd_fac = factor(3, "snd_fac")?;
                Item::SOp(linear_sequence_map(&fst, &snd, fst_fac, snd_fac))
            }
            "Full" => match args.value(0, "fill")? {
                Some(v) => Item::SOp(full(v)),
                None => return Err(args.error(position, "missing argument `fill`".into())),
            },
            "ConstantSOp" => {
                let (items, p) = args.required(0, "value")?;
                Item::SOp(constant_sop(constant_list(items, p, args.name)?))
            }
            "ConstantSelector" => {
                let (items, p) = args.required(0, "value")?;
                let Item::List(rows) = items else {
                    return Err(args.error(
                        p,
                        "expected a list of rows of booleans, `[[True, False], [False, True]]`"
                            .into(),
                    ));
                };
                let mut matrix = Vec::with_capacity(rows.len());
                for row in rows {
                    let row = constant_list(row, p, args.name)?;
                    matrix.push(row.iter().map(Value::py_truthy).collect());
                }
                Item::Selector(constant_selector(matrix))
            }
            "Aggregate" => {
                let selector = args.selector(0, "selector")?;
                let sop = args.sop(1, "sop")?;
                let default = args.value(2, "default")?.unwrap_or(Value::None);
                Item::SOp(aggregate_with_default(&selector, &sop, default))
            }
            "SelectorWidth" => Item::SOp(selector_width(&args.selector(0, "selector")?)),
            "Select" => {
                let keys = args.sop(0, "keys")?;
                let queries = args.sop(1, "queries")?;
                let predicate: Predicate = match args.required(2, "predicate")? {
                    (Item::Comparison(c), _) => c.into(),
                    (Item::Lambda(node), _) => predicate_fn(compile_lambda(&node, 2, "Select predicate (key, query)")?).into(),
                    (other, p) => return Err(args.error(p, format!(
                        "expected a comparison (EQ, LT, LEQ, GT, GEQ, NEQ, TRUE, FALSE) or `lambda key, query: ...` as the predicate, found {}",
                        other.describe()
                    ))),
                };
                Item::Selector(select(&keys, &queries, predicate))
            }
            "SelectorAnd" => {
                let (a, b) = (args.selector(0, "fst")?, args.selector(1, "snd")?);
                Item::Selector(selector_and_no_simplify(&a, &b))
            }
            "SelectorOr" => {
                let (a, b) = (args.selector(0, "fst")?, args.selector(1, "snd")?);
                Item::Selector(selector_or_no_simplify(&a, &b))
            }
            "SelectorNot" => Item::Selector(selector_not_no_simplify(&args.selector(0, "inner")?)),
            "numerical" => Item::SOp(args.sop(0, "sop")?.numerical()),
            "categorical" => Item::SOp(args.sop(0, "sop")?.categorical()),
            other => unreachable!("constructor `{other}` is listed in CONSTRUCTORS but not built"),
        })
    }
}

fn constant_list(item: Item, position: Position, name: &str) -> Result<Vec<Value>, ParseError> {
    let Item::List(items) = item else {
        return Err(ParseError::new(
            position,
            format!(
                "{name}: expected a list of constants `[...]`, found {}",
                item.describe()
            ),
        ));
    };
    items
        .into_iter()
        .map(|i| match i {
            Item::Value(v) => Ok(v),
            other => Err(ParseError::new(
                position,
                format!(
                    "{name}: list items must be constants, found {}",
                    other.describe()
                ),
            )),
        })
        .collect()
}

/// A constant computed at program level; a Python exception becomes a parse error at `position`.
fn constant(position: Position, result: crate::rasp::PyResult<Value>) -> Result<Item, ParseError> {
    result
        .map(Item::Value)
        .map_err(|e| ParseError::new(position, format!("evaluating this constant raised {e}")))
}

/// The comparison Python uses when the SOp is on the right: `c < sop` is `sop > c`.
fn reflect(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Eq,
        CmpOp::Ne => CmpOp::Ne,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
    }
}
