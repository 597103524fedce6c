//! Which Rust type a column gets.
//!
//! Built-in types map to what sqlx decodes them into; `timestamptz` and friends to `chrono`
//! (sqlx's `chrono` feature), `json`/`jsonb` to `serde_json::Value`, `uuid` to `uuid::Uuid`
//! and `numeric` to `rust_decimal::Decimal` (sqlx's `uuid` / `rust_decimal` features, each
//! with its crate's `serde` feature for the derives). Arrays become `Vec`, domains their
//! base type, enums the generated enum, nullable columns `Option`. `--type PG=RUST`
//! overrides or adds a mapping by type name (`typname`, or `schema.typname`).

use std::collections::BTreeMap;

use super::error::GenerateError;
use super::introspect::{Column, PgType, Schema, Table};

/// A column's Rust type, as written in the generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RustType {
    pub(crate) path: String,
    /// Whether the type implements `Eq` (floats and overridden types are assumed not to).
    pub(crate) eq: bool,
}

/// `--type` mappings: PostgreSQL type name -> Rust type path.
pub(crate) type Overrides = BTreeMap<String, String>;

/// Parses one `--type PG_TYPE=RUST_TYPE` option.
pub(crate) fn parse_override(text: &str) -> Result<(String, String), String> {
    let (pg, rust) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not PG_TYPE=RUST_TYPE, e.g. point=my::Point"))?;
    let (pg, rust) = (pg.trim(), rust.trim());
    if pg.is_empty() || rust.is_empty() {
        return Err(format!(
            "`{text}` is not PG_TYPE=RUST_TYPE, e.g. point=my::Point"
        ));
    }
    if syn_like_path(rust) {
        Ok((pg.to_owned(), rust.to_owned()))
    } else {
        Err(format!("`{rust}` is not a Rust type path"))
    }
}

/// A loose check that `text` is a type path: identifiers, `::`, generics, no spaces.
fn syn_like_path(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '<' | '>' | ',' | '[' | ']'))
        && text.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == ':')
}

/// What a built-in type of `pg_catalog` (or `citext`) becomes, and whether that is `Eq`.
fn builtin(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "bool" => ("bool", true),
        "char" => ("i8", true),
        "int2" => ("i16", true),
        "int4" => ("i32", true),
        "int8" => ("i64", true),
        "float4" => ("f32", false),
        "float8" => ("f64", false),
        "text" | "varchar" | "bpchar" | "name" | "citext" => ("String", true),
        "bytea" => ("Vec<u8>", true),
        "json" | "jsonb" => ("serde_json::Value", true),
        "timestamptz" => ("chrono::DateTime<chrono::Utc>", true),
        "timestamp" => ("chrono::NaiveDateTime", true),
        "date" => ("chrono::NaiveDate", true),
        "time" => ("chrono::NaiveTime", true),
        "uuid" => ("uuid::Uuid", true),
        "numeric" => ("rust_decimal::Decimal", true),
        _ => return None,
    })
}

/// Maps the columns' types, given the Rust names of the generated enums.
pub(crate) struct Mapper<'a> {
    pub(crate) schema: &'a Schema,
    pub(crate) overrides: &'a Overrides,
    pub(crate) enum_names: &'a BTreeMap<i64, String>,
}

impl Mapper<'_> {
    /// The field type of `column` of `table`, `Option` included.
    pub(crate) fn column(&self, table: &Table, column: &Column) -> Result<RustType, GenerateError> {
        let inner = self.of(column.type_oid).ok_or_else(|| {
            let (pg_type, key) = self.describe_unmappable(column.type_oid);
            GenerateError::Unmappable {
                table: table.name.clone(),
                column: column.name.clone(),
                pg_type,
                key,
            }
        })?;
        if column.not_null || self.domain_not_null(column.type_oid) {
            Ok(inner)
        } else {
            Ok(RustType {
                path: format!("Option<{}>", inner.path),
                eq: inner.eq,
            })
        }
    }

    fn lookup(&self, oid: i64) -> Option<&PgType> {
        self.schema.types.get(&oid)
    }

    /// The Rust type of the type `oid`, without nullability; `None` when unmappable.
    fn of(&self, oid: i64) -> Option<RustType> {
        let ty = self.lookup(oid)?;
        let qualified = format!("{}.{}", ty.schema, ty.name);
        if let Some(path) = self
            .overrides
            .get(&qualified)
            .or_else(|| self.overrides.get(&ty.name))
        {
            return Some(RustType {
                path: path.clone(),
                eq: false,
            });
        }
        if let Some(name) = self.enum_names.get(&oid) {
            return Some(RustType {
                path: name.clone(),
                eq: true,
            });
        }
        if ty.kind == "d" {
            return self.of(ty.base);
        }
        if ty.category == "A" && ty.element != 0 {
            let element = self.of(ty.element)?;
            return Some(RustType {
                path: format!("Vec<{}>", element.path),
                eq: element.eq,
            });
        }
        let builtin_name = ty.schema == "pg_catalog" || ty.name == "citext";
        if ty.kind == "b" && builtin_name {
            return builtin(&ty.name).map(|(path, eq)| RustType {
                path: path.to_owned(),
                eq,
            });
        }
        None
    }

    /// A domain declared `NOT NULL` (directly or through its base domains).
    fn domain_not_null(&self, oid: i64) -> bool {
        let mut current = self.lookup(oid);
        while let Some(ty) = current {
            if ty.kind != "d" {
                return false;
            }
            if ty.not_null {
                return true;
            }
            current = self.lookup(ty.base);
        }
        false
    }

    /// The column's type as shown in the error (`point[]`) and the type name an override
    /// must name: the innermost type that has no mapping (`point`).
    fn describe_unmappable(&self, oid: i64) -> (String, String) {
        let search_path = &self.schema.search_path;
        let Some(ty) = self.lookup(oid) else {
            return (format!("oid {oid}"), format!("oid {oid}"));
        };
        let shown = if ty.category == "A" && ty.element != 0 {
            self.lookup(ty.element).map_or_else(
                || ty.name.clone(),
                |e| format!("{}[]", e.qualified(search_path)),
            )
        } else {
            ty.qualified(search_path)
        };
        let mut culprit = ty;
        loop {
            let next = if culprit.kind == "d" {
                culprit.base
            } else if culprit.category == "A" && culprit.element != 0 {
                culprit.element
            } else {
                break;
            };
            match self.lookup(next) {
                Some(inner) if self.of(next).is_none() => culprit = inner,
                _ => break,
            }
        }
        (shown, culprit.qualified(search_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse() {
        assert_eq!(
            parse_override("point=my::Point"),
            Ok(("point".to_owned(), "my::Point".to_owned()))
        );
        assert_eq!(
            parse_override(" ltree = String "),
            Ok(("ltree".to_owned(), "String".to_owned()))
        );
        assert!(parse_override("point").is_err());
        assert!(parse_override("=x").is_err());
        assert!(parse_override("point=my Point").is_err());
    }

    #[test]
    fn builtins() {
        assert_eq!(builtin("int8"), Some(("i64", true)));
        assert_eq!(builtin("float8"), Some(("f64", false)));
        assert_eq!(builtin("citext"), Some(("String", true)));
        assert_eq!(builtin("point"), None);
    }
}
