//! Reads a dotenv file as the frameworks' loaders do: `KEY=value`, `export`, comments, quotes, escapes and `${VAR}` expansion.
//!
//! The loaders agree on most of the format and differ in a few places that matter for mail settings (a `#`
//! inside a password, `$NAME` without braces, spaces in an unquoted value); [`Dialect`] holds those
//! differences, checked against vlucas/phpdotenv (Laravel), motdotla/dotenv + dotenv-expand (Node),
//! theskumar/python-dotenv (Django) and symfony/dotenv. A value may hold a password, so nothing here
//! prints a value, and a line that cannot be read keeps only its key, its line number and why.

mod checks;
mod dsn;
mod frameworks;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::report::settings::{Quoting, Syntax};

pub use frameworks::{from_bytes, load, Loaded};

/// The dotenv loader a framework uses, where loaders differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// vlucas/phpdotenv, as Laravel loads it.
    Php,
    /// motdotla/dotenv with dotenv-expand.
    Node,
    /// theskumar/python-dotenv.
    Python,
    /// symfony/dotenv.
    Symfony,
}

/// What a backslash sequence inside double quotes becomes.
enum Escape {
    To(char),
    /// The backslash stays, with the character after it.
    Keep,
    /// The loader refuses the value.
    Refuse,
}

impl Dialect {
    /// Whether `#` ends an unquoted value right where it stands; `prev` is the character before it, None at the value's start.
    /// phpdotenv and Node's dotenv cut at any `#` (so `pass#word` is `pass`); python-dotenv only after whitespace;
    /// symfony/dotenv after whitespace or at the value's start.
    fn comment_starts(self, prev: Option<char>) -> bool {
        match self {
            Dialect::Php | Dialect::Node => true,
            Dialect::Python => prev.is_some_and(|c| c == ' ' || c == '\t'),
            Dialect::Symfony => prev.is_none_or(|c| c == ' ' || c == '\t'),
        }
    }

    /// `$NAME` without braces expands (dotenv-expand, symfony/dotenv); phpdotenv and python-dotenv take only `${NAME}`.
    fn bare_dollar(self) -> bool {
        matches!(self, Dialect::Node | Dialect::Symfony)
    }

    /// `${NAME:-default}` is understood (all but phpdotenv, which leaves it as written).
    fn defaults(self) -> bool {
        self != Dialect::Php
    }

    /// An unquoted value with whitespace inside makes the loader refuse the file (phpdotenv, symfony/dotenv).
    fn space_is_error(self) -> bool {
        matches!(self, Dialect::Php | Dialect::Symfony)
    }

    /// phpdotenv leaves `${NAME}` as written when nothing defines NAME; the others put nothing there.
    fn keeps_undefined(self) -> bool {
        self == Dialect::Php
    }

    fn escape(self, c: char) -> Escape {
        let known = match self {
            Dialect::Php => match c {
                '"' | '\\' | '$' => Some(c),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'f' => Some('\u{c}'),
                'v' => Some('\u{b}'),
                _ => return Escape::Refuse,
            },
            // dotenv turns \n and \r into newlines; dotenv-expand turns \$ into $.
            Dialect::Node => match c {
                'n' => Some('\n'),
                'r' => Some('\r'),
                '$' => Some('$'),
                _ => None,
            },
            Dialect::Python => match c {
                '\\' | '\'' | '"' => Some(c),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                _ => None,
            },
            Dialect::Symfony => match c {
                '"' | '\\' | '$' => Some(c),
                'n' => Some('\n'),
                'r' => Some('\r'),
                _ => None,
            },
        };
        match known {
            Some(to) => Escape::To(to),
            None => Escape::Keep,
        }
    }
}

/// A value read from the file. It may be a password: Debug shows its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    text: String,
    /// Variables expanded into it.
    pub expanded: Vec<String>,
    /// Variables it uses that nothing defines.
    pub undefined: Vec<String>,
}

impl Value {
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({} chars)", self.text.chars().count())
    }
}

/// One `KEY=value` line (or several, for a quoted value that spans lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The line the key is on, 1-based.
    pub line: usize,
    pub quoting: Quoting,
    /// The value, or why the loader cannot read it.
    pub value: Result<Value, Syntax>,
}

/// A line that holds no usable key at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The name before `=`, when it is a valid one.
    pub key: Option<String>,
    pub line: usize,
    pub syntax: Syntax,
}

/// The whole file: its entries in file order, and the lines that are neither entries nor comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub unreadable: Vec<Unreadable>,
}

impl Parsed {
    /// The last entry for a key: loaders let a later line win.
    pub fn last(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Parses a file's bytes; `env` looks a variable up in the process environment for expansion.
pub fn parse(bytes: &[u8], dialect: Dialect, env: &dyn Fn(&str) -> Option<String>) -> Parsed {
    let bad_lines = lines_not_utf8(bytes);
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // Every loader splits lines at \r\n, \n and a lone \r.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut parsed = Parser::new(&text, dialect, env).run();
    for e in &mut parsed.entries {
        if bad_lines.contains(&e.line) {
            e.value = Err(Syntax::NotUtf8);
        }
    }
    parsed
}

/// The 1-based numbers of the lines that are not valid UTF-8, split the way `parse` splits them.
fn lines_not_utf8(bytes: &[u8]) -> Vec<usize> {
    let mut bad = Vec::new();
    let mut line = 1;
    let mut start = 0;
    let mut i = 0;
    while i <= bytes.len() {
        let end_here = i == bytes.len() || bytes[i] == b'\n' || bytes[i] == b'\r';
        if end_here {
            if std::str::from_utf8(&bytes[start..i]).is_err() {
                bad.push(line);
            }
            if i < bytes.len() && bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            line += 1;
            start = i + 1;
        }
        i += 1;
    }
    bad
}

struct Parser<'a> {
    chars: Vec<char>,
    dialect: Dialect,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// For each position, the first unescaped `"` at or after it (backslash runs of odd length escape it).
    next_double: Vec<usize>,
    /// For each position, the first `'` at or after it.
    next_single: Vec<usize>,
    /// Values read so far, for expansion: a later line sees the earlier ones.
    seen: HashMap<String, String>,
    out: Parsed,
}

impl<'a> Parser<'a> {
    fn new(text: &str, dialect: Dialect, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        // Precomputed once, so that many unclosed quotes in one file cost no rescans to its end.
        // How many backslashes stand right before each position: an odd run escapes a `"`.
        let mut backslashes = vec![0usize; n + 1];
        for i in 1..=n {
            backslashes[i] = if chars[i - 1] == '\\' {
                backslashes[i - 1] + 1
            } else {
                0
            };
        }
        let mut next_double = vec![n; n + 1];
        let mut next_single = vec![n; n + 1];
        for i in (0..n).rev() {
            next_single[i] = if chars[i] == '\'' {
                i
            } else {
                next_single[i + 1]
            };
            let escaped = backslashes[i] % 2 == 1;
            next_double[i] = if chars[i] == '"' && !escaped {
                i
            } else {
                next_double[i + 1]
            };
        }
        Parser {
            chars,
            dialect,
            env,
            next_double,
            next_single,
            seen: HashMap::new(),
            out: Parsed::default(),
        }
    }

    fn run(mut self) -> Parsed {
        let mut pos = 0;
        let mut line = 1;
        while pos < self.chars.len() {
            let (next, next_line) = self.line_at(pos, line);
            pos = next;
            line = next_line;
        }
        self.out
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// The index just past the end of the line holding `i` (its `\n`, or the end).
    fn eol(&self, i: usize) -> usize {
        let mut j = i;
        while j < self.chars.len() && self.chars[j] != '\n' {
            j += 1;
        }
        j
    }

    /// Where the next line starts after the line holding `i`, and its number.
    fn after_line(&self, i: usize, line: usize) -> (usize, usize) {
        (self.eol(i) + 1, line + 1)
    }

    fn skip_blanks(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(' ' | '\t')) {
            i += 1;
        }
        i
    }

    /// Reads the entry (or comment, or blank line) starting at `pos`; returns where the next one starts.
    fn line_at(&mut self, pos: usize, line: usize) -> (usize, usize) {
        let mut i = self.skip_blanks(pos);
        match self.at(i) {
            None => return (self.chars.len(), line),
            Some('\n') => return (i + 1, line + 1),
            Some('#') => return self.after_line(i, line),
            _ => {}
        }
        if self.word_at(i, "export") && matches!(self.at(i + 6), Some(' ' | '\t')) {
            let after = self.skip_blanks(i + 6);
            if self.at(after).is_some_and(is_name_char) {
                i = after;
            }
        }
        let name_start = i;
        while self
            .at(i)
            .is_some_and(|c| c != '=' && c != '\n' && !c.is_whitespace())
        {
            i += 1;
        }
        let name: String = self.chars[name_start..i].iter().collect();
        let valid = is_valid_name(&name);
        let eq = self.skip_blanks(i);
        if self.at(eq) != Some('=') {
            self.out.unreadable.push(Unreadable {
                key: valid.then_some(name),
                line,
                syntax: if valid {
                    Syntax::NoEquals
                } else {
                    Syntax::BadName
                },
            });
            return self.after_line(i, line);
        }
        if !valid {
            self.out.unreadable.push(Unreadable {
                key: None,
                line,
                syntax: Syntax::BadName,
            });
            return self.after_line(eq, line);
        }
        let start = self.skip_blanks(eq + 1);
        let (quoting, value, next) = match self.at(start) {
            Some('\'') => self.quoted(start, '\'', line),
            Some('"') => self.quoted(start, '"', line),
            _ => {
                let (value, end) = self.unquoted(start);
                (Quoting::None, value, self.after_line(end, line))
            }
        };
        if let Ok(v) = &value {
            self.seen.insert(name.clone(), v.text.clone());
        }
        self.out.entries.push(Entry {
            key: name,
            line,
            quoting,
            value,
        });
        next
    }

    fn word_at(&self, i: usize, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(k, c)| self.at(i + k) == Some(c))
    }

    /// A value in quotes, which may span lines. On any error the next entry starts on the line after this one's key:
    /// a quote left open by mistake must not swallow the settings below it.
    fn quoted(
        &mut self,
        open: usize,
        quote: char,
        line: usize,
    ) -> (Quoting, Result<Value, Syntax>, (usize, usize)) {
        let quoting = if quote == '"' {
            Quoting::Double
        } else {
            Quoting::Single
        };
        let fail = |p: &Self, why: Syntax| (quoting, Err(why), p.after_line(open, line));
        let table = if quote == '"' {
            &self.next_double
        } else {
            &self.next_single
        };
        let close = table.get(open + 1).copied().unwrap_or(self.chars.len());
        if close >= self.chars.len() {
            return fail(self, Syntax::UnterminatedQuote);
        }
        // After the closing quote: blanks, then a comment or the end of the line.
        let rest = self.skip_blanks(close + 1);
        if !matches!(self.at(rest), None | Some('\n' | '#')) {
            return fail(self, Syntax::TextAfterQuote);
        }
        let inner: Vec<char> = self.chars[open + 1..close].to_vec();
        let value = if quote == '\'' {
            Ok(Value {
                text: inner.iter().collect(),
                expanded: Vec::new(),
                undefined: Vec::new(),
            })
        } else {
            self.double_quoted(&inner)
        };
        let spanned = inner.iter().filter(|&&c| c == '\n').count();
        let next = self.after_line(rest, line + spanned);
        match value {
            Ok(v) => (quoting, Ok(v), next),
            Err(why) => fail(self, why),
        }
    }

    /// Escapes and expansion inside double quotes, in one pass so that an escaped `$` stays a `$`.
    fn double_quoted(&self, inner: &[char]) -> Result<Value, Syntax> {
        let closers = closing_braces(inner);
        let mut v = Value {
            text: String::new(),
            expanded: Vec::new(),
            undefined: Vec::new(),
        };
        let mut i = 0;
        while i < inner.len() {
            match inner[i] {
                '\\' if i + 1 < inner.len() => match self.dialect.escape(inner[i + 1]) {
                    Escape::To(c) => {
                        v.text.push(c);
                        i += 2;
                    }
                    // The backslash stays, and what follows is read as if it stood alone (a `$` still expands).
                    Escape::Keep => {
                        v.text.push('\\');
                        i += 1;
                    }
                    Escape::Refuse => return Err(Syntax::BadEscape),
                },
                '$' => i = self.expand(inner, &closers, i, &mut v),
                c => {
                    v.text.push(c);
                    i += 1;
                }
            }
        }
        Ok(v)
    }

    /// An unquoted value: up to the end of the line or a comment, trimmed, with `${VAR}` expanded.
    fn unquoted(&self, start: usize) -> (Result<Value, Syntax>, usize) {
        let end_of_line = self.eol(start);
        let mut end = start;
        while end < end_of_line {
            let prev = (end > start).then(|| self.chars[end - 1]);
            if self.chars[end] == '#' && self.dialect.comment_starts(prev) {
                break;
            }
            end += 1;
        }
        let mut raw: &[char] = &self.chars[start..end];
        while let Some((last, rest)) = raw.split_last() {
            if !last.is_whitespace() {
                break;
            }
            raw = rest;
        }
        if self.dialect.space_is_error() && raw.iter().any(|c| c.is_whitespace()) {
            return (Err(Syntax::SpaceInValue), end_of_line);
        }
        let mut v = Value {
            text: String::new(),
            expanded: Vec::new(),
            undefined: Vec::new(),
        };
        let closers = closing_braces(raw);
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == '$' {
                i = self.expand(raw, &closers, i, &mut v);
            } else {
                v.text.push(raw[i]);
                i += 1;
            }
        }
        (Ok(v), end_of_line)
    }

    /// Expands the reference starting at `s[i]` (a `$`) into `v`; returns the index after it. `closers[j]` is the
    /// first `}` at or after `j`, found once per value so that a value of many `${` costs no rescans.
    fn expand(&self, s: &[char], closers: &[usize], i: usize, v: &mut Value) -> usize {
        let name_end = |from: usize| {
            let mut j = from;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == '_') {
                j += 1;
            }
            j
        };
        if s.get(i + 1) == Some(&'{') {
            let close = closers.get(i + 2).copied().unwrap_or(s.len());
            if close >= s.len() {
                v.text.push('$');
                return i + 1;
            }
            let inside: String = s[i + 2..close].iter().collect();
            let (name, default) = match inside.split_once(":-") {
                Some((n, d)) if self.dialect.defaults() => (n.to_string(), Some(d.to_string())),
                _ => (inside.clone(), None),
            };
            if !is_var_name(&name) {
                v.text.push('$');
                return i + 1;
            }
            self.substitute(&name, default, &s[i..=close], v);
            return close + 1;
        }
        if self.dialect.bare_dollar()
            && s.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
        {
            let end = name_end(i + 1);
            let name: String = s[i + 1..end].iter().collect();
            self.substitute(&name, None, &s[i..end], v);
            return end;
        }
        v.text.push('$');
        i + 1
    }

    fn substitute(&self, name: &str, default: Option<String>, written: &[char], v: &mut Value) {
        let found = self
            .seen
            .get(name)
            .cloned()
            .or_else(|| (self.env)(name))
            .filter(|x| default.is_none() || !x.is_empty());
        match (found, default) {
            (Some(x), _) => {
                v.text.push_str(&x);
                v.expanded.push(name.to_string());
            }
            (None, Some(d)) => v.text.push_str(&d),
            (None, None) => {
                v.undefined.push(name.to_string());
                if self.dialect.keeps_undefined() {
                    v.text.extend(written.iter());
                }
            }
        }
    }
}

/// For each index of `s`, the first `}` at or after it (`s.len()` when none).
fn closing_braces(s: &[char]) -> Vec<usize> {
    let mut out = vec![s.len(); s.len() + 1];
    for j in (0..s.len()).rev() {
        out[j] = if s[j] == '}' { j } else { out[j + 1] };
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A variable name as the loaders accept it: a letter or `_` first, then letters, digits, `_`, `.` or `-`.
fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(is_name_char)
}

/// A name that `${…}` may refer to.
fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}
