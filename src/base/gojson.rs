//! Reading what longhorn-manager reads the way Go reads it: the
//! `node.longhorn.io/default-disks-config` annotation as Go's `encoding/json`
//! decodes it into longhorn-manager's `[]types.DiskSpecWithName`, and label
//! values as Go's `strings.ToLower` lower-cases them.
//!
//! Go's decoder (encoding/json v1, Go 1.24 to 1.26, the toolchains of
//! longhorn-manager v1.10 to v1.12) differs from serde's derive in ways an
//! annotation can exploit: object keys match struct fields without regard to
//! case, with Unicode simple folding (`ſ` is an `s`, the Kelvin sign `K` a
//! `k`); of duplicate keys the last wins; `null` leaves a string, bool or
//! number field as it was; unknown keys are skipped; a value of the wrong
//! type is an error, but decoding goes on and the first such error is what
//! `json.Unmarshal` returns; a lone UTF-16 surrogate escape becomes U+FFFD.
//! `tests/gojson.rs` checks this module against Go itself.

use serde_json::value::RawValue;

/// Why an annotation does not decode: Longhorn then creates none of its disks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoJsonError {
    /// Not JSON at all (Go checks the whole text before decoding anything).
    #[error("{0}")]
    Syntax(String),
    /// A value of the wrong type (the first one, as Go reports it).
    #[error("{at} is {found} where Longhorn expects {expected}")]
    Type {
        /// Where: `the annotation`, `disk [0]`, or `disk [0] key "Path"`.
        at: String,
        /// The JSON type found (`a number`, `an object`, ...).
        found: &'static str,
        /// What Longhorn's struct holds there.
        expected: &'static str,
    },
}

/// The disk types Longhorn's CRD allows (`DiskType` in longhorn-manager
/// `k8s/pkg/apis/longhorn/v1beta2/node.go`, v1.10 to v1.12); empty means filesystem.
pub const DISK_TYPES: [&str; 2] = ["filesystem", "block"];

/// One disk of the annotation: longhorn-manager's `DiskSpecWithName`
/// (`types/types.go`: `longhorn.DiskSpec` embedded, plus `name`), every field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultDisk {
    /// `name`; empty: Longhorn names it `default-disk-<fsid>`.
    pub name: String,
    /// `path`.
    pub path: String,
    /// `diskType`: `filesystem`, `block`, or empty (filesystem).
    pub disk_type: String,
    /// `diskDriver`.
    pub disk_driver: String,
    /// `allowScheduling`.
    pub allow_scheduling: bool,
    /// `evictionRequested`.
    pub eviction_requested: bool,
    /// `storageReserved`, bytes.
    pub storage_reserved: i64,
    /// `tags`; `None` is Go's nil slice.
    pub tags: Option<Vec<String>>,
}

impl DefaultDisk {
    /// True when Longhorn treats the disk as a V2 block disk
    /// (`disk.Type == longhorn.DiskTypeBlock`, case-sensitive).
    pub fn is_block(&self) -> bool {
        self.disk_type == "block"
    }

    /// The disk type when it is none Longhorn's CRD allows (and not empty).
    pub fn unknown_type(&self) -> Option<&str> {
        (!self.disk_type.is_empty() && !DISK_TYPES.contains(&self.disk_type.as_str()))
            .then_some(self.disk_type.as_str())
    }
}

/// The fields of [`DefaultDisk`] by their JSON names.
#[derive(Clone, Copy)]
enum Field {
    Name,
    Path,
    DiskType,
    DiskDriver,
    AllowScheduling,
    EvictionRequested,
    StorageReserved,
    Tags,
}

const FIELDS: [(&str, Field); 8] = [
    ("diskType", Field::DiskType),
    ("path", Field::Path),
    ("diskDriver", Field::DiskDriver),
    ("allowScheduling", Field::AllowScheduling),
    ("evictionRequested", Field::EvictionRequested),
    ("storageReserved", Field::StorageReserved),
    ("tags", Field::Tags),
    ("name", Field::Name),
];

/// The field a key sets: the exact name first, then a case-folded match
/// (Go's `byExactName`, then `byFoldedName[foldName(key)]`).
fn field_of(key: &str) -> Option<Field> {
    FIELDS
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| FIELDS.iter().find(|(name, _)| fold_eq(key, name)))
        .map(|(_, f)| *f)
}

/// Go's fold of one rune for comparison with an ASCII name: ASCII letters to
/// upper case, and the two non-ASCII runes whose simple case-fold orbit holds
/// an ASCII letter (Unicode CaseFolding.txt, status C/S): U+017F LATIN SMALL
/// LETTER LONG S (`s`) and U+212A KELVIN SIGN (`k`). Any other rune folds to
/// something that is not ASCII, so it never matches an ASCII name.
fn fold_rune(c: char) -> char {
    match c {
        'a'..='z' => c.to_ascii_uppercase(),
        '\u{17F}' => 'S',
        '\u{212A}' => 'K',
        _ => c,
    }
}

/// True when Go's `encoding/json` matches object key `key` to the field
/// named `name` without regard to case (`name` is ASCII, as every field
/// name longhorn-manager decodes is).
pub fn fold_eq(key: &str, name: &str) -> bool {
    debug_assert!(name.is_ascii());
    let mut k = key.chars();
    let mut n = name.chars();
    loop {
        match (k.next(), n.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if fold_rune(a) == fold_rune(b) => {}
            _ => return false,
        }
    }
}

/// Go's `strings.ToLower`: each rune to its simple lower case mapping
/// (`unicode.ToLower`), so `İ` (U+0130) becomes `i` and `K` (U+212A) `k`.
pub fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_lowercase()
            } else {
                // One rune only has a lower case of more than one (U+0130,
                // "i̇" in full mapping); its simple mapping is the first, `i`.
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect()
}

/// True when longhorn-manager reads the default-disks annotation of a node
/// whose `node.longhorn.io/create-default-disk` label is `value`: it
/// compares `strings.ToLower(value)` with `config` (longhorn-manager
/// `controller/kubernetes_node_controller.go` `syncDefaultDisks`, v1.10 to v1.12).
pub fn label_reads_annotation(value: &str) -> bool {
    go_to_lower(value) == "config"
}

/// True when longhorn-manager creates a default disk at `default-data-path`
/// for a node whose `node.longhorn.io/create-default-disk` label is `value`
/// (`strings.ToLower(value) == "true"`).
pub fn label_creates_default_disk(value: &str) -> bool {
    go_to_lower(value) == "true"
}

/// Decodes the default-disks annotation as longhorn-manager does
/// (`types.UnmarshalToDisks`: `json.Unmarshal` into `[]DiskSpecWithName`).
/// `null` is no disks, as in Go.
pub fn default_disks(text: &str) -> Result<Vec<DefaultDisk>, GoJsonError> {
    // Go checks the whole text first (`checkValid`): a syntax error wins
    // over any type error. serde_json's raw value is the same grammar and
    // leaves escapes and depth alone, as Go's scanner does.
    let top: &RawValue =
        serde_json::from_str(text).map_err(|e| GoJsonError::Syntax(e.to_string()))?;
    let mut first: Option<GoJsonError> = None;
    let top = top.get();
    let disks = match kind(top) {
        Kind::Null => Vec::new(),
        Kind::Array => elements(top)
            .into_iter()
            .enumerate()
            .map(|(i, e)| decode_disk(i, e, &mut first))
            .collect(),
        other => {
            return Err(GoJsonError::Type {
                at: "the annotation".into(),
                found: other.name(),
                expected: "a list of disks",
            });
        }
    };
    match first {
        Some(e) => Err(e),
        None => Ok(disks),
    }
}

fn decode_disk(i: usize, text: &str, first: &mut Option<GoJsonError>) -> DefaultDisk {
    let mut d = DefaultDisk::default();
    let mut err = |at: String, found: Kind, expected: &'static str| {
        if first.is_none() {
            *first = Some(GoJsonError::Type {
                at,
                found: found.name(),
                expected,
            });
        }
    };
    match kind(text) {
        Kind::Null => return d,
        Kind::Object => {}
        other => {
            err(format!("disk [{i}]"), other, "a disk (an object)");
            return d;
        }
    }
    let mut tags: Option<GoSlice> = None;
    for (key_lit, value) in members(text) {
        let key = unquote(key_lit);
        let Some(field) = field_of(&key) else {
            continue;
        };
        let at = || format!("disk [{i}] key {key:?}");
        let k = kind(value);
        match field {
            Field::Name | Field::Path | Field::DiskType | Field::DiskDriver => {
                let slot = match field {
                    Field::Name => &mut d.name,
                    Field::Path => &mut d.path,
                    Field::DiskType => &mut d.disk_type,
                    _ => &mut d.disk_driver,
                };
                match k {
                    Kind::String => *slot = unquote(value),
                    Kind::Null => {}
                    other => err(at(), other, "a string"),
                }
            }
            Field::AllowScheduling | Field::EvictionRequested => {
                let slot = match field {
                    Field::AllowScheduling => &mut d.allow_scheduling,
                    _ => &mut d.eviction_requested,
                };
                match k {
                    Kind::Bool => *slot = value == "true",
                    Kind::Null => {}
                    other => err(at(), other, "true or false"),
                }
            }
            Field::StorageReserved => match k {
                // strconv.ParseInt(literal, 10, 64): no fraction, no exponent.
                Kind::Number => match value.parse::<i64>() {
                    Ok(n) => d.storage_reserved = n,
                    Err(_) => err(at(), Kind::Number, "a whole number of bytes"),
                },
                Kind::Null => {}
                other => err(at(), other, "a whole number of bytes"),
            },
            Field::Tags => match k {
                Kind::Null => tags = None,
                Kind::Array => {
                    let slice = tags.get_or_insert_with(GoSlice::default);
                    decode_strings(slice, &elements(value), &mut |found| {
                        err(at(), found, "a list of strings")
                    });
                }
                other => err(at(), other, "a list of strings"),
            },
        }
    }
    d.tags = tags.map(|(backing, len)| backing[..len].to_vec());
    d
}

/// A Go `[]string` being decoded into: the backing array (every element
/// written since the slice was last made) and the length.
type GoSlice = (Vec<String>, usize);

/// Decodes a JSON array of strings into an existing Go slice as Go's
/// decoder does (`encoding/json` `decode.go` `array`): elements are decoded
/// into the backing array, where a `null` keeps what an earlier occurrence
/// of the key left (`SetLen` within capacity shows old elements), then the
/// slice is cut to the new length; an empty array makes a new empty slice.
fn decode_strings(slice: &mut GoSlice, items: &[&str], err: &mut impl FnMut(Kind)) {
    let (backing, len) = slice;
    for (i, item) in items.iter().enumerate() {
        if i >= backing.len() {
            backing.push(String::new());
        }
        if i >= *len {
            *len = i + 1;
        }
        match kind(item) {
            Kind::String => backing[i] = unquote(item),
            Kind::Null => {}
            other => err(other),
        }
    }
    if items.len() < *len {
        *len = items.len();
    }
    if items.is_empty() {
        *slice = (Vec::new(), 0);
    }
}

/// The JSON type of a value's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "true or false",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "a list",
            Kind::Object => "an object",
        }
    }
}

fn kind(value: &str) -> Kind {
    match value.as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'"') => Kind::String,
        Some(b'[') => Kind::Array,
        Some(b'{') => Kind::Object,
        _ => Kind::Number,
    }
}

/// A cursor over JSON text already known to be valid.
struct Scan<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.as_bytes().get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// Skips the string starting at the cursor's `"`.
    fn skip_string(&mut self) {
        let b = self.s.as_bytes();
        self.i += 1;
        while let Some(&c) = b.get(self.i) {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    /// The next value's text.
    fn value(&mut self) -> &'a str {
        self.skip_ws();
        let start = self.i;
        let b = self.s.as_bytes();
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'[' | b'{') => {
                let mut depth = 0usize;
                while let Some(&c) = b.get(self.i) {
                    match c {
                        b'"' => {
                            self.skip_string();
                            continue;
                        }
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while let Some(&c) = b.get(self.i) {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
            }
        }
        &self.s[start..self.i]
    }
}

/// The elements of a valid JSON array's text.
fn elements(array: &str) -> Vec<&str> {
    let mut sc = Scan { s: array, i: 1 };
    let mut out = Vec::new();
    sc.skip_ws();
    if sc.peek() == Some(b']') {
        return out;
    }
    loop {
        out.push(sc.value());
        sc.skip_ws();
        match sc.peek() {
            Some(b',') => sc.i += 1,
            _ => return out,
        }
    }
}

/// The `(key literal, value text)` members of a valid JSON object's text, in order.
fn members(object: &str) -> Vec<(&str, &str)> {
    let mut sc = Scan { s: object, i: 1 };
    let mut out = Vec::new();
    sc.skip_ws();
    if sc.peek() == Some(b'}') {
        return out;
    }
    loop {
        let key = sc.value();
        sc.skip_ws();
        sc.i += 1; // ':'
        let value = sc.value();
        out.push((key, value));
        sc.skip_ws();
        match sc.peek() {
            Some(b',') => sc.i += 1,
            _ => return out,
        }
    }
}

/// Go's `unquote` of a valid JSON string literal: escapes decoded, a UTF-16
/// surrogate that is not part of a valid pair becomes U+FFFD.
fn unquote(lit: &str) -> String {
    let inner = &lit[1..lit.len() - 1];
    if !inner.contains('\\') {
        return inner.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let esc = &rest[pos + 1..];
        let c = esc.as_bytes()[0];
        rest = &esc[1..];
        match c {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            _ => {
                // 'u': four hex digits (valid JSON).
                let hi = u16::from_str_radix(&rest[..4], 16).unwrap_or(0xFFFD);
                rest = &rest[4..];
                if (0xD800..0xDC00).contains(&hi)
                    && let Some(lo) = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                        .filter(|lo| (0xDC00..0xE000).contains(lo))
                {
                    let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    rest = &rest[6..];
                } else {
                    out.push(char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}'));
                }
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(text: &str) -> Vec<String> {
        default_disks(text)
            .unwrap()
            .into_iter()
            .map(|d| d.path)
            .collect()
    }

    #[test]
    fn keys_fold_and_the_last_wins() {
        // longhorn-manager types/types.go UnmarshalToDisks (v1.10.0 to v1.12.1):
        // json.Unmarshal into []DiskSpecWithName.
        assert_eq!(
            paths(r#"[{"path":"/var/lib/longhorn/ok","Path":"/mnt/ssd"}]"#),
            ["/mnt/ssd"]
        );
        assert_eq!(paths(r#"[{"PATH":"/a","pAtH":"/b"}]"#), ["/b"]);
        let d =
            &default_disks(r#"[{"path":"/dev/sdb","diskType":"block","DiskType":"filesystem"}]"#)
                .unwrap()[0];
        assert!(!d.is_block());
        let d = &default_disks(r#"[{"path":"/dev/sdb","di\u017fkType":"block"}]"#).unwrap()[0];
        assert!(d.is_block(), "ſ folds to s");
        let d = &default_disks("[{\"path\":\"/a\",\"\u{212A}\":1,\"diskType\":\"bloc\\u006b\"}]")
            .unwrap()[0];
        assert!(d.is_block());
        assert!(fold_eq("\u{17F}torageRe\u{17F}erved", "storageReserved"));
        assert!(!fold_eq("stora\u{17F}eReserved", "storageReserved"));
        assert!(fold_eq("\u{212A}ey", "key"));
        assert!(!fold_eq("\u{130}d", "id"), "İ does not fold to i");
    }

    #[test]
    fn nulls_unknown_keys_and_types() {
        assert_eq!(
            paths(r#"[{"path":"/a","path":null,"other":[1,{"x":2}]}]"#),
            ["/a"]
        );
        assert_eq!(paths("null"), Vec::<String>::new());
        assert_eq!(paths("[null]"), [""]);
        let e = default_disks(r#"[{"path":1}]"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "disk [0] key \"path\" is a number where Longhorn expects a string"
        );
        // The first type error is reported, decoding goes on past it.
        let e = default_disks(r#"[{"storageReserved":1.5},{"path":true}]"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("disk [0] key \"storageReserved\""),
            "{e}"
        );
        let e = default_disks(r#"{"path":"/a"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the annotation is an object where Longhorn expects a list of disks"
        );
        // A syntax error wins over a type error before it.
        assert!(matches!(
            default_disks(r#"[{"path":1},"#),
            Err(GoJsonError::Syntax(_))
        ));
        assert_eq!(
            default_disks(r#"[{"storageReserved":-0}]"#).unwrap()[0].storage_reserved,
            0
        );
    }

    #[test]
    fn strings_as_go_unquotes_them() {
        assert_eq!(paths(r#"[{"path":"/a\ud800b"}]"#), ["/a\u{FFFD}b"]);
        assert_eq!(paths(r#"[{"path":"\ud83d\ude00\/"}]"#), ["\u{1F600}/"]);
        assert_eq!(paths(r#"[{"path":"\ud800\u0041"}]"#), ["\u{FFFD}A"]);
    }

    #[test]
    fn tags_reuse_the_backing_array() {
        let d = &default_disks(r#"[{"tags":["a","b"],"tags":[null]}]"#).unwrap()[0];
        assert_eq!(d.tags.as_deref(), Some(&["a".to_string()][..]));
        let d = &default_disks(r#"[{"tags":["a"],"tags":[]}]"#).unwrap()[0];
        assert_eq!(d.tags.as_deref(), Some(&[][..]));
        let d = &default_disks(r#"[{"tags":["a"],"tags":null}]"#).unwrap()[0];
        assert_eq!(d.tags, None);
        // Truncated to one, then lengthened again within the old capacity.
        let d =
            &default_disks(r#"[{"tags":["a","b"],"tags":["c"],"tags":["x",null]}]"#).unwrap()[0];
        assert_eq!(
            d.tags.as_deref(),
            Some(&["x".to_string(), "b".to_string()][..])
        );
    }

    #[test]
    fn label_values_lower_case_as_go() {
        // longhorn-manager controller/kubernetes_node_controller.go: strings.ToLower(val).
        for v in ["config", "Config", "CONFIG", "CONF\u{130}G"] {
            assert!(label_reads_annotation(v), "{v}");
        }
        for v in ["config ", "conf1g", "true", "CONF\u{131}G"] {
            assert!(!label_reads_annotation(v), "{v}");
        }
        assert!(label_creates_default_disk("TRUE"));
    }
}
