//! `--check`: what differs between the file on disk and what the schema gives, said per
//! table (and per column) so that the one-line error points at the migration's effect.

use std::collections::BTreeMap;

use super::emit::{Generated, HEADER};

/// The differences, one phrase each (`table users changed (added nickname)`); empty when
/// the file is up to date.
pub(crate) fn differences(existing: &str, generated: &Generated) -> Vec<String> {
    if existing == generated.render() {
        return Vec::new();
    }
    let old = items_of(existing);
    let mut changes = Vec::new();
    for item in &generated.items {
        match old.get(&item.name) {
            None => changes.push(format!("{} is new", item.source)),
            Some(text) if *text != item.text => {
                let columns = field_changes(text, &item.text);
                if columns.is_empty() {
                    changes.push(format!("{} changed", item.source));
                } else {
                    changes.push(format!("{} changed ({})", item.source, columns.join(", ")));
                }
            }
            Some(_) => {}
        }
    }
    for name in old.keys() {
        if !generated.items.iter().any(|item| &item.name == name) {
            changes.push(format!("`{name}` is no longer in the schema"));
        }
    }
    if changes.is_empty() {
        changes.push("its header or layout differs".to_owned());
    }
    changes
}

/// The items of a generated file, by Rust name: blocks separated by blank lines that
/// declare a `pub struct` or `pub enum`.
fn items_of(text: &str) -> BTreeMap<String, String> {
    let body = text.strip_prefix(HEADER).unwrap_or(text);
    let mut items = BTreeMap::new();
    for block in body.split("\n\n") {
        let block = block.trim_matches('\n');
        let name = block.lines().find_map(|line| {
            let rest = line
                .strip_prefix("pub struct ")
                .or_else(|| line.strip_prefix("pub enum "))?;
            rest.split([' ', '{']).next().map(str::to_owned)
        });
        if let Some(name) = name {
            items.insert(name, block.to_owned());
        }
    }
    items
}

/// `added x`, `removed y`, `z now Option<i64>` between two versions of a struct.
fn field_changes(old: &str, new: &str) -> Vec<String> {
    let (old, new) = (fields_of(old), fields_of(new));
    let mut changes = Vec::new();
    for (name, ty) in &new {
        match old.get(name) {
            None => changes.push(format!("added `{name}`")),
            Some(before) if before != ty => changes.push(format!("`{name}` is now `{ty}`")),
            Some(_) => {}
        }
    }
    for name in old.keys() {
        if !new.contains_key(name) {
            changes.push(format!("removed `{name}`"));
        }
    }
    changes
}

fn fields_of(item: &str) -> BTreeMap<String, String> {
    item.lines()
        .filter_map(|line| {
            let field = line.trim().strip_prefix("pub ")?.strip_suffix(',')?;
            let (name, ty) = field.split_once(": ")?;
            Some((name.to_owned(), ty.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::emit::Item;
    use super::*;

    fn item(name: &str, fields: &[&str]) -> Item {
        let mut text = format!("/// A row.\npub struct {name} {{\n");
        for field in fields {
            text.push_str(&format!("    pub {field},\n"));
        }
        text.push('}');
        Item {
            source: format!("table {}", name.to_lowercase()),
            name: name.to_owned(),
            text,
        }
    }

    #[test]
    fn names_what_changed() {
        let before = Generated {
            items: vec![
                item("User", &["id: i64", "email: String"]),
                item("Gone", &["id: i64"]),
            ],
        };
        let after = Generated {
            items: vec![
                item(
                    "User",
                    &["id: i64", "email: Option<String>", "nick: String"],
                ),
                item("Site", &["id: i64"]),
            ],
        };
        assert!(differences(&before.render(), &before).is_empty());
        assert_eq!(
            differences(&before.render(), &after),
            [
                "table user changed (`email` is now `Option<String>`, added `nick`)",
                "table site is new",
                "`Gone` is no longer in the schema",
            ]
        );
        assert_eq!(
            differences(&before.render().replace("Row types", "Rows"), &before),
            ["its header or layout differs"]
        );
    }
}
