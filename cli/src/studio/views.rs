//! The pages, as maud templates: every value and name is escaped by maud, and every link is
//! built with `form_urlencoded`, so no table name, column name or value can break the page.
//! The stylesheet is compiled into the binary; the pages need no script and nothing from the
//! network.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::catalog::{Column, ForeignKey, Relation, Table};
use super::queries::{Filter, Op, PAGE_SIZE, Rows, Value, View};

const CSS: &str = include_str!("studio.css");

/// Text longer than this is folded in the table view.
const FOLD_AT: usize = 80;

/// What every page shows in its header.
pub(crate) struct Frame<'a> {
    /// The database name.
    pub(crate) database: &'a str,
    /// `host:port` of its server (no credentials).
    pub(crate) server: &'a str,
    /// Why no writes are allowed, if none are.
    pub(crate) read_only: Option<&'a str>,
    /// This page's anti-forgery value for its forms.
    pub(crate) csrf: String,
}

/// `path?name=value&...`, every part encoded.
pub(crate) fn link<'a>(path: &str, params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn page(title: &str, frame: Option<&Frame<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="referrer" content="no-referrer";
                title { (title) " · persistence studio" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { "persistence studio" }
                    @if let Some(frame) = frame {
                        span.where { (frame.database) " on " (frame.server) }
                        @if let Some(reason) = frame.read_only {
                            span.mode title=(reason) { "read-only" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page with a heading and one message (401, 403, errors).
pub(crate) fn message_page(title: &str, message: &str) -> Markup {
    page(
        title,
        None,
        html! {
            h1 { (title) }
            p.message.error { (message) }
            p { a href="/" { "Back to the tables" } }
        },
    )
}

/// The outcome message of the last write, from the `msg` parameter.
pub(crate) fn notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "saved" => Some("Saved."),
        "inserted" => Some("Inserted."),
        "deleted" => Some("Deleted."),
        "unchanged" => Some("Nothing changed: nothing was written."),
        _ => None,
    }
}

fn messages(error: Option<&str>, ok: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error { p.message.error role="alert" { (error) } }
        @if let Some(ok) = ok { p.message.ok role="status" { (ok) } }
    }
}

/// The list of tables and views, by schema.
pub(crate) fn index(frame: &Frame<'_>, relations: &[Relation]) -> Markup {
    let mut schemas: Vec<&str> = relations.iter().map(|r| r.schema.as_str()).collect();
    schemas.dedup();
    page(
        "Tables",
        Some(frame),
        html! {
            h1 { "Tables" }
            @if relations.is_empty() { p.note { "This database has no tables or views you may read." } }
            @for schema in &schemas {
                h2 { "Schema " (schema) }
                table.relations {
                    thead { tr { th { "name" } th { "kind" } th { "rows" } } }
                    tbody {
                        @for relation in relations.iter().filter(|r| r.schema == *schema) {
                            tr {
                                td { a.table href=(link("/table", [("s", relation.schema.as_str()), ("t", relation.name.as_str())])) { (relation.name) } }
                                td.type { (relation.kind) }
                                td.num.count {
                                    @match relation.rows {
                                        Some(rows) if relation.estimated => { "≈" (rows) },
                                        Some(rows) => { (rows) },
                                        None => { span.null { "?" } },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A value in the table view: NULL apart from the empty string, jsonb pretty, long text folded.
fn cell_value(column: &Column, value: &Value) -> Markup {
    match value {
        None => html! { span.null { "NULL" } },
        Some(text) if text.is_empty() => html! { span.empty title="empty string" { "''" } },
        Some(text) if is_json(column) => {
            let pretty = pretty_json(text);
            if pretty.len() > FOLD_AT {
                html! { details { summary { (fold(text)) } pre.json { (pretty) } } }
            } else {
                html! { pre.json { (pretty) } }
            }
        }
        Some(text) if text.chars().count() > FOLD_AT || text.contains('\n') => {
            html! { details { summary { (fold(text)) } pre { (text) } } }
        }
        Some(text) => html! { (text) },
    }
}

fn fold(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or_default();
    let short: String = first_line.chars().take(60).collect();
    format!("{short}…")
}

fn is_json(column: &Column) -> bool {
    column.base == "json" || column.base == "jsonb"
}

/// `text` indented, if it is JSON.
pub(crate) fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// The parameters that name a table and a view of it (filters, search, sort, page).
pub(crate) fn view_params<'a>(table: &'a Table, view: &'a View) -> Vec<(&'a str, String)> {
    let mut params = vec![("s", table.schema.clone()), ("t", table.name.clone())];
    for filter in &view.filters {
        params.push(("fc", filter.column.clone()));
        params.push(("fo", filter.op.code().to_owned()));
        params.push(("fv", filter.value.clone()));
    }
    if !view.search.is_empty() {
        params.push(("q", view.search.clone()));
    }
    if let Some((column, descending)) = &view.sort {
        params.push(("sort", column.clone()));
        if *descending {
            params.push(("desc", "1".to_owned()));
        }
    }
    params
}

fn view_link(table: &Table, view: &View) -> String {
    let params = view_params(table, view);
    link("/table", params.iter().map(|(n, v)| (*n, v.as_str())))
}

/// The link to a row by the values of some unique columns.
pub(crate) fn row_link(schema: &str, table: &str, columns: &[String], values: &[String]) -> String {
    let mut params = vec![("s", schema), ("t", table)];
    for (column, value) in columns.iter().zip(values) {
        params.push(("c", column));
        params.push(("k", value));
    }
    link("/row", params)
}

/// Where a foreign key leads from the row with `values`: the referenced row, if every
/// referencing value is set.
fn follow(fk: &ForeignKey, table: &Table, values: &[Value]) -> Option<String> {
    let referencing = fk
        .from_columns
        .iter()
        .map(|name| {
            let index = table.columns.iter().position(|c| &c.name == name)?;
            values.get(index)?.clone()
        })
        .collect::<Option<Vec<String>>>()?;
    Some(row_link(
        &fk.to_schema,
        &fk.to_table,
        &fk.to_columns,
        &referencing,
    ))
}

fn key_link(table: &Table, values: &[Value]) -> Option<String> {
    let key = super::queries::key_of(table, values)?;
    (!key.is_empty()).then(|| row_link(&table.schema, &table.name, &table.primary_key, &key))
}

/// A table's rows: search, filters, sortable headers, pages, links along foreign keys.
pub(crate) fn table(
    frame: &Frame<'_>,
    table: &Table,
    view: &View,
    rows: &Rows,
    error: Option<&str>,
    ok: Option<&str>,
) -> Markup {
    let title = format!("{}.{}", table.schema, table.name);
    let first = view.page * PAGE_SIZE;
    let last = first + rows.rows.len() as i64;
    let pages = (rows.total + PAGE_SIZE - 1) / PAGE_SIZE;
    page(
        &title,
        Some(frame),
        html! {
            h1 { (table.schema) "." span.name { (table.name) } " " small.type { (table.kind) } }
            (messages(error, ok))
            @if !table.editable() {
                p.note {
                    @if table.kind.ends_with("table") && table.primary_key.is_empty() {
                        "This table has no primary key: its rows cannot be told apart safely, so it is read-only here."
                    } @else if !table.kind.ends_with("table") || table.kind == "foreign table" {
                        "A " (table.kind) " is read-only here."
                    }
                }
            }
            div.tools {
                form.search method="get" action="/table" {
                    @for (name, value) in view_params(table, &View { search: String::new(), page: 0, ..view.clone() }) {
                        input type="hidden" name=(name) value=(value);
                    }
                    input type="search" name="q" value=(view.search) placeholder="search every column";
                    button type="submit" { "Search" }
                }
                form.filter method="get" action="/table" {
                    @for (name, value) in view_params(table, &View { page: 0, ..view.clone() }) {
                        input type="hidden" name=(name) value=(value);
                    }
                    select name="fc" {
                        @for column in &table.columns { option value=(column.name) { (column.name) } }
                    }
                    select name="fo" {
                        @for op in Op::ALL { option value=(op.code()) { (op.label()) } }
                    }
                    input type="text" name="fv" placeholder="value";
                    button type="submit" { "Add filter" }
                }
                @if frame.read_only.is_none() && table.editable() {
                    a.insert href=(link("/new", [("s", table.schema.as_str()), ("t", table.name.as_str())])) { "Insert a row" }
                }
            }
            @if !view.filters.is_empty() {
                p.filters {
                    "Filtered: "
                    @for (i, filter) in view.filters.iter().enumerate() {
                        span.filter {
                            (filter_text(filter))
                            a href=(view_link(table, &View { filters: without(&view.filters, i), page: 0, ..view.clone() })) title="remove this filter" { "✕" }
                        }
                        " "
                    }
                }
            }
            table.rows {
                thead {
                    tr {
                        th {}
                        @for column in &table.columns {
                            th {
                                @let descending = view.sort.as_ref().is_some_and(|(c, d)| c == &column.name && !d);
                                a.sort href=(view_link(table, &View { sort: Some((column.name.clone(), descending)), page: 0, ..view.clone() })) { (column.name) }
                                @if let Some((sorted, desc)) = &view.sort {
                                    @if sorted == &column.name { @if *desc { " ▼" } @else { " ▲" } }
                                }
                                br;
                                small { (column.sql_type) }
                            }
                        }
                    }
                }
                tbody {
                    @for values in &rows.rows {
                        tr {
                            td {
                                @if let Some(href) = key_link(table, values) { a.open href=(href) { "open" } }
                            }
                            @for (column, value) in table.columns.iter().zip(values) {
                                td {
                                    (cell_value(column, value))
                                    @if let Some(fk) = table.reference_of(&column.name) {
                                        @if let Some(href) = follow(fk, table, values) {
                                            " " a.fk href=(href) title={ "the " (fk.to_table) " row it references" } { "→ " (fk.to_table) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.pager {
                @if rows.total == 0 { "No rows." } @else { "Rows " (first + 1) "–" (last) " of " (rows.total) }
                @if view.page > 0 {
                    " " a.prev href=(page_link(table, view, view.page - 1)) { "‹ previous" }
                }
                @if view.page + 1 < pages {
                    " " a.next href=(page_link(table, view, view.page + 1)) { "next ›" }
                }
            }
        },
    )
}

fn page_link(table: &Table, view: &View, number: i64) -> String {
    let mut params = view_params(table, view);
    params.push(("page", number.to_string()));
    link("/table", params.iter().map(|(n, v)| (*n, v.as_str())))
}

fn without(filters: &[Filter], index: usize) -> Vec<Filter> {
    filters
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, f)| f.clone())
        .collect()
}

fn filter_text(filter: &Filter) -> String {
    match filter.op {
        Op::IsNull | Op::NotNull => format!("{} {}", filter.column, filter.op.label()),
        op => format!("{} {} {}", filter.column, op.label(), filter.value),
    }
}

/// What the row page shows about the rows that reference this one.
pub(crate) struct Referrer<'a> {
    pub(crate) key: &'a ForeignKey,
    pub(crate) count: i64,
    /// The referencing table, filtered to the rows that reference this one.
    pub(crate) href: String,
}

/// One row: its values in a form (or read-only), its references both ways, delete.
pub(crate) fn row(
    frame: &Frame<'_>,
    table: &Table,
    values: &[Value],
    referrers: &[Referrer<'_>],
    error: Option<&str>,
    ok: Option<&str>,
) -> Markup {
    let key = super::queries::key_of(table, values).unwrap_or_default();
    let title = format!("{} {}", table.name, key.join(", "));
    let writable = frame.read_only.is_none() && table.editable();
    page(
        &title,
        Some(frame),
        html! {
            h1 {
                a href=(link("/table", [("s", table.schema.as_str()), ("t", table.name.as_str())])) { (table.schema) "." (table.name) }
                " " (key.join(", "))
            }
            (messages(error, ok))
            @if writable {
                form.edit method="post" action="/update" {
                    (hidden_row(frame, table, values))
                    table.edit {
                        @for (i, (column, value)) in table.columns.iter().zip(values).enumerate() {
                            tr {
                                td { label for={ "v" (i) } { (column.name) } br; small.type { (column.sql_type) } }
                                td { (input(i, column, value)) (reference(table, column, values)) }
                            }
                        }
                    }
                    p { button type="submit" name="save" { "Save" } }
                }
                form.delete method="post" action="/delete" {
                    (hidden_row(frame, table, values))
                    button type="submit" name="delete" { "Delete this row" }
                }
            } @else {
                table.edit {
                    @for (column, value) in table.columns.iter().zip(values) {
                        tr {
                            td { (column.name) br; small.type { (column.sql_type) } }
                            td { (cell_value(column, value)) (reference(table, column, values)) }
                        }
                    }
                }
            }
            h2 { "Referenced by" }
            @if referrers.is_empty() { p.note { "No foreign key points at this table." } }
            ul.referrers {
                @for referrer in referrers {
                    li {
                        a href=(referrer.href) { (referrer.key.from_schema) "." (referrer.key.from_table) }
                        " (" (referrer.key.from_columns.join(", ") ) "): " (referrer.count) " row(s)"
                    }
                }
            }
        },
    )
}

fn reference(table: &Table, column: &Column, values: &[Value]) -> Markup {
    html! {
        @if let Some(fk) = table.reference_of(&column.name) {
            @if let Some(href) = follow(fk, table, values) {
                " " a.fk href=(href) { "→ " (fk.to_table) }
            }
        }
    }
}

/// What a write needs to find the row as it was shown: table, columns, shown values.
fn hidden_row(frame: &Frame<'_>, table: &Table, values: &[Value]) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(frame.csrf);
        input type="hidden" name="s" value=(table.schema);
        input type="hidden" name="t" value=(table.name);
        @for (i, (column, value)) in table.columns.iter().zip(values).enumerate() {
            input type="hidden" name={ "c" (i) } value=(column.name);
            @match value {
                Some(text) => input type="hidden" name={ "o" (i) } value=(text);,
                None => input type="hidden" name={ "on" (i) } value="1";,
            }
        }
    }
}

/// A typed input for a column, with its NULL toggle.
fn input(i: usize, column: &Column, value: &Value) -> Markup {
    let name = format!("v{i}");
    let text = value.as_deref().unwrap_or_default();
    let disabled = column.read_only;
    let field = match column.base.as_str() {
        "bool" => html! {
            select id=(name) name=(name) disabled[disabled] {
                @if text.is_empty() { option value="" selected { "" } }
                option value="true" selected[text == "true"] { "true" }
                option value="false" selected[text == "false"] { "false" }
            }
        },
        "int2" | "int4" | "int8" => html! {
            input type="number" step="1" id=(name) name=(name) value=(text) disabled[disabled];
        },
        "date" if is_iso_date(text) || value.is_none() => html! {
            input type="date" id=(name) name=(name) value=(text) disabled[disabled];
        },
        _ if is_json(column) => html! {
            textarea id=(name) name=(name) disabled[disabled] { "\n" (pretty_json(text)) }
        },
        _ if text.chars().count() > FOLD_AT || text.contains('\n') => html! {
            textarea id=(name) name=(name) disabled[disabled] { "\n" (text) }
        },
        _ => html! {
            input type="text" id=(name) name=(name) value=(text) disabled[disabled];
        },
    };
    html! {
        (field)
        @if !column.not_null && !disabled {
            " " label.nulltoggle { input type="checkbox" name={ "n" (i) } checked[value.is_none()]; " NULL" }
        }
        @if disabled { " " span.note { "(generated)" } }
    }
}

fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

/// The form for a new row.
pub(crate) fn new_row(frame: &Frame<'_>, table: &Table, error: Option<&str>) -> Markup {
    page(
        &format!("New {}", table.name),
        Some(frame),
        html! {
            h1 {
                "New row in "
                a href=(link("/table", [("s", table.schema.as_str()), ("t", table.name.as_str())])) { (table.schema) "." (table.name) }
            }
            (messages(error, None))
            form.insert method="post" action="/insert" {
                input type="hidden" name="csrf" value=(frame.csrf);
                input type="hidden" name="s" value=(table.schema);
                input type="hidden" name="t" value=(table.name);
                table.edit {
                    @for (i, column) in table.columns.iter().enumerate() {
                        @if !column.read_only {
                            tr {
                                td { label for={ "v" (i) } { (column.name) } br; small.type { (column.sql_type) } }
                                td {
                                    input type="hidden" name={ "c" (i) } value=(column.name);
                                    (input(i, column, &Some(String::new())))
                                    @if column.has_default { " " span.note { "empty: the column's default" } }
                                }
                            }
                        }
                    }
                }
                p { button type="submit" { "Insert" } }
            }
        },
    )
}
