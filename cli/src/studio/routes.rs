//! The requests the page makes. Reads are GETs with the table and view in the query string;
//! writes are POSTs of forms that carry the page's anti-forgery value and the row's values
//! as shown (for the optimistic check). Every route is behind [`auth::require_token`].

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;

use super::auth::{self, Auth};
use super::catalog::{self, Table};
use super::error::StudioError;
use super::queries::{self, Filter, Op, Value, View};
use super::views::{self, Frame, Referrer};

/// What every request shares.
pub(crate) struct App {
    pub(crate) pool: PgPool,
    pub(crate) auth: Arc<Auth>,
    /// Why no writes are allowed, if none are.
    pub(crate) read_only: Option<&'static str>,
    pub(crate) database: String,
    /// `host:port`, no credentials.
    pub(crate) server: String,
}

impl App {
    fn frame(&self) -> Frame<'_> {
        Frame {
            database: &self.database,
            server: &self.server,
            read_only: self.read_only,
            csrf: self.auth.csrf_value(),
        }
    }
}

type Shared = State<Arc<App>>;

/// The routes, behind the token check.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/table", get(table_page))
        .route("/row", get(row_page))
        .route("/new", get(new_page))
        .route("/update", post(update))
        .route("/delete", post(delete))
        .route("/insert", post(insert))
        .layer(axum::middleware::from_fn_with_state(
            app.auth.clone(),
            auth::require_token,
        ))
        .with_state(app)
}

impl IntoResponse for StudioError {
    fn into_response(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        (status, views::message_page(title, &self.to_string())).into_response()
    }
}

/// The name/value pairs of a query string or form body, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(text: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(text)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn query(raw: Option<String>) -> Self {
        Self::parse(raw.unwrap_or_default().as_bytes())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn required(&self, name: &str) -> Result<&str, StudioError> {
        self.get(name)
            .ok_or_else(|| StudioError::BadRequest(format!("the parameter `{name}` is missing")))
    }

    /// The table named by `s` and `t`.
    async fn table(&self, pool: &PgPool) -> Result<Table, StudioError> {
        catalog::table(pool, self.required("s")?, self.required("t")?).await
    }

    fn view(&self) -> Result<View, StudioError> {
        let columns = self.all("fc");
        let ops = self.all("fo");
        let values = self.all("fv");
        if columns.len() != ops.len() || columns.len() != values.len() {
            return Err(StudioError::BadRequest(
                "each filter needs fc, fo and fv".to_owned(),
            ));
        }
        let filters = columns
            .into_iter()
            .zip(ops)
            .zip(values)
            .map(|((column, op), value)| {
                Ok(Filter {
                    column,
                    op: Op::parse(&op)?,
                    value,
                })
            })
            .collect::<Result<Vec<_>, StudioError>>()?;
        let page = match self.get("page") {
            Some(page) => page
                .parse::<i64>()
                .ok()
                .filter(|p| (0..=i64::from(u32::MAX)).contains(p))
                .ok_or_else(|| StudioError::BadRequest(format!("`{page}` is no page number")))?,
            None => 0,
        };
        Ok(View {
            filters,
            search: self.get("q").unwrap_or_default().to_owned(),
            sort: self
                .get("sort")
                .map(|c| (c.to_owned(), self.get("desc") == Some("1"))),
            page,
        })
    }
}

async fn index(State(app): Shared) -> Result<Response, StudioError> {
    let relations = catalog::relations(&app.pool).await?;
    Ok(views::index(&app.frame(), &relations).into_response())
}

async fn table_page(
    State(app): Shared,
    RawQuery(query): RawQuery,
) -> Result<Response, StudioError> {
    let params = Params::query(query);
    let table = params.table(&app.pool).await?;
    let view = params.view()?;
    let ok = views::notice(params.get("msg"));
    match queries::page(&app.pool, &table, &view).await {
        Ok(rows) => Ok(views::table(&app.frame(), &table, &view, &rows, None, ok).into_response()),
        // A filter the server cannot apply (a value of the wrong type): say why, show all.
        Err(StudioError::Refused(message)) => {
            let plain = View::default();
            let rows = queries::page(&app.pool, &table, &plain).await?;
            let error = format!("the filter was refused: {message}");
            let page = views::table(&app.frame(), &table, &plain, &rows, Some(&error), None);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// The row page of the row named by `c`/`k` pairs, with a message.
async fn render_row(
    app: &App,
    table: &Table,
    columns: &[String],
    key: &[String],
    error: Option<&str>,
    ok: Option<&str>,
) -> Result<Response, StudioError> {
    let values = queries::row(&app.pool, table, columns, key).await?;
    let mut referrers = Vec::new();
    for fk in &table.incoming {
        let referenced: Option<Vec<String>> = fk
            .to_columns
            .iter()
            .map(|name| {
                let index = table.columns.iter().position(|c| &c.name == name)?;
                values.get(index)?.clone()
            })
            .collect();
        let Some(referenced) = referenced else {
            continue;
        };
        let from = catalog::table(&app.pool, &fk.from_schema, &fk.from_table).await?;
        let count =
            queries::count_matching(&app.pool, &from, &fk.from_columns, &referenced).await?;
        let mut params = vec![("s", fk.from_schema.clone()), ("t", fk.from_table.clone())];
        for (column, value) in fk.from_columns.iter().zip(&referenced) {
            params.push(("fc", column.clone()));
            params.push(("fo", Op::Equals.code().to_owned()));
            params.push(("fv", value.clone()));
        }
        let href = views::link("/table", params.iter().map(|(n, v)| (*n, v.as_str())));
        referrers.push(Referrer {
            key: fk,
            count,
            href,
        });
    }
    let page = views::row(&app.frame(), table, &values, &referrers, error, ok);
    Ok(page.into_response())
}

async fn row_page(State(app): Shared, RawQuery(query): RawQuery) -> Result<Response, StudioError> {
    let params = Params::query(query);
    let table = params.table(&app.pool).await?;
    let ok = views::notice(params.get("msg"));
    render_row(&app, &table, &params.all("c"), &params.all("k"), None, ok).await
}

async fn new_page(State(app): Shared, RawQuery(query): RawQuery) -> Result<Response, StudioError> {
    let params = Params::query(query);
    let table = params.table(&app.pool).await?;
    writable(&app, &table)?;
    Ok(views::new_row(&app.frame(), &table, None).into_response())
}

/// Refuses writes in read-only mode and on tables without a primary key.
fn writable(app: &App, table: &Table) -> Result<(), StudioError> {
    if let Some(reason) = app.read_only {
        return Err(StudioError::ReadOnly(reason));
    }
    if !table.editable() {
        return Err(StudioError::ReadOnly(
            "only tables with a primary key can be changed here",
        ));
    }
    Ok(())
}

/// The checks every write makes first: read-only, then the anti-forgery value.
async fn write_form(app: &App, body: &[u8]) -> Result<(Params, Table), StudioError> {
    if let Some(reason) = app.read_only {
        return Err(StudioError::ReadOnly(reason));
    }
    let form = Params::parse(body);
    if !form.get("csrf").is_some_and(|v| app.auth.csrf_valid(v)) {
        return Err(StudioError::Forgery);
    }
    let table = form.table(&app.pool).await?;
    writable(app, &table)?;
    Ok((form, table))
}

/// The row's values as the page showed them (`o<i>`, or `on<i>` for NULL), checking that
/// the columns are still the ones of the page.
fn shown(form: &Params, table: &Table) -> Result<Vec<Value>, StudioError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            if form.get(&format!("c{i}")) != Some(column.name.as_str()) {
                return Err(StudioError::Changed);
            }
            Ok(if form.get(&format!("on{i}")).is_some() {
                None
            } else {
                Some(form.get(&format!("o{i}")).unwrap_or_default().to_owned())
            })
        })
        .collect()
}

/// The value submitted for column `i`: NULL if its toggle is on.
fn submitted(form: &Params, i: usize, before: Option<&str>) -> Option<Value> {
    if form.get(&format!("n{i}")).is_some() {
        return Some(None);
    }
    let value = form.get(&format!("v{i}"))?;
    // Browsers send a textarea's line ends as CRLF.
    let value = if before.is_some_and(|b| b.contains('\r')) {
        value.to_owned()
    } else {
        value.replace("\r\n", "\n")
    };
    Some(Some(value))
}

/// Whether `new` says something else than `old` (JSON compared as JSON: the page shows it
/// indented).
fn differs(column: &catalog::Column, old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Some(old), Some(new)) if column.base == "json" || column.base == "jsonb" => {
            let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
            match (parse(old), parse(new)) {
                (Some(a), Some(b)) => a != b,
                _ => old != new,
            }
        }
        _ => old != new,
    }
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

/// Redirects to the row with `key` with a notice.
fn to_row(table: &Table, key: &[String], msg: &str) -> Response {
    let mut location = views::row_link(&table.schema, &table.name, &table.primary_key, key);
    location.push_str("&msg=");
    location.push_str(msg);
    see_other(&location)
}

/// Shows the row again with the error, if it still exists.
async fn refused(app: &App, table: &Table, shown: &[Value], error: StudioError) -> Response {
    let status = error.status();
    let message = error.to_string();
    if let Some(key) = queries::key_of(table, shown)
        && let Ok(page) =
            render_row(app, table, &table.primary_key, &key, Some(&message), None).await
    {
        return (status, page).into_response();
    }
    error.into_response()
}

async fn update(State(app): Shared, body: Bytes) -> Result<Response, StudioError> {
    let (form, table) = write_form(&app, &body).await?;
    let shown = shown(&form, &table)?;
    let mut changes = Vec::new();
    for (i, (column, old)) in table.columns.iter().zip(&shown).enumerate() {
        if column.read_only {
            continue;
        }
        if let Some(new) = submitted(&form, i, old.as_deref())
            && differs(column, old, &new)
        {
            changes.push((column.name.clone(), new));
        }
    }
    let key = queries::key_of(&table, &shown).ok_or(StudioError::Changed)?;
    if changes.is_empty() {
        return Ok(to_row(&table, &key, "unchanged"));
    }
    match queries::update(&app.pool, &table, &shown, &changes).await {
        Ok(()) => {
            // The key may have been edited too.
            let new_key: Option<Vec<String>> = table
                .primary_key
                .iter()
                .zip(&key)
                .map(
                    |(name, old)| match changes.iter().find(|(c, _)| c == name) {
                        Some((_, value)) => value.clone(),
                        None => Some(old.clone()),
                    },
                )
                .collect();
            Ok(to_row(&table, &new_key.unwrap_or(key), "saved"))
        }
        Err(error) => Ok(refused(&app, &table, &shown, error).await),
    }
}

async fn delete(State(app): Shared, body: Bytes) -> Result<Response, StudioError> {
    let (form, table) = write_form(&app, &body).await?;
    let shown = shown(&form, &table)?;
    match queries::delete(&app.pool, &table, &shown).await {
        Ok(()) => Ok(see_other(&views::link(
            "/table",
            [
                ("s", table.schema.as_str()),
                ("t", table.name.as_str()),
                ("msg", "deleted"),
            ],
        ))),
        Err(error) => Ok(refused(&app, &table, &shown, error).await),
    }
}

async fn insert(State(app): Shared, body: Bytes) -> Result<Response, StudioError> {
    let (form, table) = write_form(&app, &body).await?;
    let mut values = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        if column.read_only || form.get(&format!("c{i}")) != Some(column.name.as_str()) {
            continue;
        }
        match submitted(&form, i, None) {
            Some(Some(text)) if text.is_empty() && column.has_default => {}
            Some(value) => values.push((column.name.clone(), value)),
            None => {}
        }
    }
    match queries::insert(&app.pool, &table, &values).await {
        Ok(key) => Ok(to_row(&table, &key, "inserted")),
        Err(error) => {
            let status = error.status();
            let page = views::new_row(&app.frame(), &table, Some(&error.to_string()));
            Ok((status, page).into_response())
        }
    }
}
