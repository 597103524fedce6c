//! Validating the test function and reading its database argument from the signature.
//!
//! Argument types are recognised syntactically, by the last segment of the type's path
//! (`PgPool`, `sqlx::PgPool` and `sqlx::postgres::PgPool` are all `PgPool`): a proc macro sees
//! tokens, not types. Recognising the kind here, rather than only relying on `FromTestDb` bounds
//! at type-check time, is what lets the signature choose the isolation and lets a wrong
//! signature fail with a message about `#[db_test]` instead of a trait-bound error.

use quote::quote;
use syn::{
    Attribute, FnArg, GenericArgument, ItemFn, PatType, PathArguments, Signature, Type, TypePath,
    TypeReference,
};

use crate::args::Isolation;
use crate::error::Errors;

/// What one recognised argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgKind {
    /// `&mut PgConnection`: a connection inside the test's transaction.
    Connection,
    /// `PgPool` or `Pool<Postgres>`.
    Pool,
    /// `PoolConnection<Postgres>`.
    PoolConnection,
    /// `PgConnectOptions`.
    ConnectOptions,
    /// `PgPoolOptions` or `PoolOptions<Postgres>`: only as the first of `#[sqlx::test]`'s
    /// two-argument form `(opts: PgPoolOptions, connect: PgConnectOptions)`.
    PoolOptions,
    /// `(PgPoolOptions, PgConnectOptions)` as one tuple-typed argument.
    OptionsTuple,
    /// `TestDb`.
    TestDb,
}

/// The database argument(s) of a test, which decide how it runs.
pub(crate) enum DbArgs {
    /// `async fn t()`: no database.
    None,
    /// `conn: &mut PgConnection`: transaction isolation.
    Connection,
    /// One owned handle (`PgPool`, `TestDb`, ...): database isolation.
    Owned,
    /// `#[sqlx::test]`'s `(opts: PgPoolOptions, connect: PgConnectOptions)`: database isolation.
    OptionsPair(PatType, PatType),
}

impl DbArgs {
    /// The isolation the signature implies, `None` without a database.
    pub(crate) fn isolation(&self) -> Option<Isolation> {
        match self {
            DbArgs::None => None,
            DbArgs::Connection => Some(Isolation::Transaction),
            DbArgs::Owned | DbArgs::OptionsPair(..) => Some(Isolation::Database),
        }
    }
}

/// The accepted signatures, for error messages.
const ACCEPTED: &str = "a `#[db_test]` function takes one of:\n\
    - `conn: &mut PgConnection`: a connection inside a transaction that is rolled back;\n\
    - `pool: PgPool` (or `Pool<Postgres>`), `conn: PoolConnection<Postgres>`, `db: TestDb`, \
    `opts: PgConnectOptions`, `(opts: PgPoolOptions, connect: PgConnectOptions)`: \
    a database of its own, dropped afterwards;\n\
    - no argument: a test without a database";

/// A validated test function.
pub(crate) struct TestFn {
    pub(crate) item: ItemFn,
    pub(crate) db: DbArgs,
    /// `#[rstest]` is among the attributes below `#[db_test]`: the function is a template
    /// that rstest turns into cases, and `#[db_test]` must be applied to each case instead.
    pub(crate) rstest: bool,
}

/// Checks `item`, recording every problem in `errors`. Returns `None` when the signature is
/// too broken to say what the test takes.
pub(crate) fn check(item: ItemFn, errors: &mut Errors) -> Option<TestFn> {
    let rstest = item
        .attrs
        .iter()
        .any(|attr| last_segment_is(attr, "rstest"));
    let rewritten_by = rewritten_by(&item);
    check_qualifiers(&item.sig, rewritten_by, errors);
    check_attributes(&item.attrs, rstest, rewritten_by.is_some(), errors);
    let typed = typed_inputs(&item.sig, errors)?;
    let db = if rstest {
        // rstest resolves the other arguments (cases, values, fixtures); the database ones are
        // left in each case's signature, for `#[db_test]` to provide.
        let db_args = typed
            .into_iter()
            .filter_map(|arg| classify(&arg.ty).ok().map(|kind| (arg, kind)))
            .collect();
        db_args_of(db_args, Form::Rstest, errors)?
    } else {
        plain_db_args(typed, errors)?
    };
    Some(TestFn { item, db, rstest })
}

/// `#[tokio::test]` (or a macro like it) *above* `#[db_test]` expands first: it takes `async`
/// away and adds a `#[::core::prelude::v1::test]`, spanned on itself. Saying "write
/// `async fn`" about a function the user wrote `async` would point the wrong way.
fn rewritten_by(item: &ItemFn) -> Option<&Attribute> {
    if item.sig.asyncness.is_some() {
        return None;
    }
    item.attrs
        .iter()
        .find(|attr| is_generated_test_attribute(attr))
}

/// What the signature must not be: `unsafe`, `const`, `extern`, generic, variadic. It may
/// be a plain `fn`, as under `#[sqlx::test]`: its body becomes the body of an `async fn`.
fn check_qualifiers(sig: &Signature, rewritten_by: Option<&Attribute>, errors: &mut Errors) {
    if let Some(attr) = rewritten_by {
        errors.spanned(
            attr,
            "a test attribute above `#[db_test]` (such as `#[tokio::test]`) has already turned \
             this `async fn` into a plain test: remove it. `#[db_test]` makes the function a \
             test and runs it on a tokio runtime of its own, as `#[tokio::test]` does",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(unsafety, "a `#[db_test]` function cannot be `unsafe`");
    }
    if let Some(constness) = &sig.constness {
        errors.spanned(constness, "a `#[db_test]` function cannot be `const`");
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, "a `#[db_test]` function cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "a `#[db_test]` function cannot be generic: the test runner calls it without \
             type arguments",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "a `#[db_test]` function cannot be variadic");
    }
}

/// The attributes `#[db_test]` adds itself, written again below it.
fn check_attributes(attrs: &[Attribute], rstest: bool, rewritten: bool, errors: &mut Errors) {
    for attr in attrs {
        // `#[test]`, `#[tokio::test]`, `#[sqlx::test]`, ...: a second test attribute would
        // register the function twice or wrap it in another runtime. One that has already
        // rewritten the function was reported as such.
        if last_segment_is(attr, "test") && !rewritten {
            errors.spanned(
                attr,
                "`#[db_test]` already makes this function a test: remove this attribute",
            );
        }
        if rstest && attr.path().is_ident("test_attr") {
            errors.spanned(
                attr,
                "with `#[db_test]` above `#[rstest]`, `#[db_test]` adds the `#[test_attr]` rstest \
                 needs: remove this one",
            );
        }
    }
}

/// The typed arguments, or `None` after an error for each `self`.
fn typed_inputs(sig: &Signature, errors: &mut Errors) -> Option<Vec<PatType>> {
    let mut typed = Vec::new();
    let mut broken = false;
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                errors.spanned(
                    receiver,
                    "a `#[db_test]` function cannot take `self`: make it a free function",
                );
                broken = true;
            }
            FnArg::Typed(arg) => typed.push(arg.clone()),
        }
    }
    (!broken).then_some(typed)
}

/// The database argument(s) of a test without rstest, where every argument must be one.
fn plain_db_args(typed: Vec<PatType>, errors: &mut Errors) -> Option<DbArgs> {
    let kinds: Vec<_> = typed.iter().map(|arg| classify(&arg.ty)).collect();
    let options_pair = matches!(
        kinds[..],
        [Ok(ArgKind::PoolOptions), Ok(ArgKind::ConnectOptions)]
    );
    if typed.len() > 1 && !options_pair {
        // The count is the error to fix, not the types. When exactly one argument is a
        // database handle, the others are what is too much (likely meant for rstest); else all
        // but the first.
        let db_positions: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i].is_ok()).collect();
        let extra: Vec<&PatType> = match db_positions[..] {
            [db] => typed
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != db)
                .map(|(_, arg)| arg)
                .collect(),
            _ => typed[1..].iter().collect(),
        };
        too_many_arguments(&extra, Form::Plain, errors);
        return None;
    }
    let count = kinds.len();
    let mut classified = Vec::new();
    for (arg, kind) in typed.into_iter().zip(kinds) {
        match kind {
            Ok(kind) => classified.push((arg, kind)),
            Err(hint) => {
                let hint = hint.unwrap_or_else(|| ACCEPTED.to_owned());
                errors.spanned(&arg.ty, format!("unsupported argument type: {hint}"));
            }
        }
    }
    // Every argument whose type is not recognised was reported.
    if classified.len() < count {
        return None;
    }
    db_args_of(classified, Form::Plain, errors)
}

/// Which function has too many database arguments, for the message.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// A test of its own: every argument is for `#[db_test]` to provide.
    Plain,
    /// An rstest template or case: rstest provides the other arguments.
    Rstest,
}

/// Records the error for database arguments beyond the one a test takes, spanned on `extra`.
fn too_many_arguments(extra: &[&PatType], form: Form, errors: &mut Errors) {
    const TWO_ARGUMENT_FORM: &str = "the only two-argument form is \
        `(opts: PgPoolOptions, connect: PgConnectOptions)`, in that order";
    let message = match form {
        Form::Plain => format!(
            "a `#[db_test]` function takes one database argument; {TWO_ARGUMENT_FORM}.\n\
             For arguments that rstest provides, put `#[db_test]` above `#[rstest]`"
        ),
        Form::Rstest => format!(
            "a `#[db_test]` rstest function takes one database argument (the others come from \
             rstest); {TWO_ARGUMENT_FORM}"
        ),
    };
    errors.spanned(quote!(#(#extra),*), message);
}

/// Groups the recognised arguments into what the test takes.
fn db_args_of(
    mut args: Vec<(PatType, ArgKind)>,
    form: Form,
    errors: &mut Errors,
) -> Option<DbArgs> {
    match args.as_slice() {
        [] => Some(DbArgs::None),
        [(_, ArgKind::Connection)] => Some(DbArgs::Connection),
        [(arg, ArgKind::PoolOptions)] => {
            errors.spanned(
                &arg.ty,
                "`PgPoolOptions` comes with a `PgConnectOptions`, as in `#[sqlx::test]`: \
                 `(opts: PgPoolOptions, connect: PgConnectOptions)`",
            );
            None
        }
        [_] => Some(DbArgs::Owned),
        [(_, ArgKind::PoolOptions), (_, ArgKind::ConnectOptions)] => {
            let (connect, _) = args.pop()?;
            let (opts, _) = args.pop()?;
            Some(DbArgs::OptionsPair(opts, connect))
        }
        [_, extra @ ..] => {
            let extra: Vec<&PatType> = extra.iter().map(|(arg, _)| arg).collect();
            too_many_arguments(&extra, form, errors);
            None
        }
    }
}

/// `#[::core::prelude::v1::test]` and the like: a path from the crate root ending in `test`, as
/// macros write `#[test]` so that no user item can shadow it; a person writes `#[test]`.
fn is_generated_test_attribute(attr: &Attribute) -> bool {
    attr.path().leading_colon.is_some() && last_segment_is(attr, "test")
}

/// `true` when the attribute's path ends with `name` (`#[tokio::test]` ends with `test`), which
/// is also how rstest recognises test attributes.
pub(crate) fn last_segment_is(attr: &Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// What kind of argument `ty` is. `Err(Some(hint))` for a near miss with a specific fix,
/// `Err(None)` for anything else.
pub(crate) fn classify(ty: &Type) -> Result<ArgKind, Option<String>> {
    match ty {
        Type::Group(group) => classify(&group.elem),
        Type::Paren(paren) => classify(&paren.elem),
        Type::Reference(reference) => classify_reference(reference),
        Type::Path(path) => match last_segment(path) {
            Some(("PgConnection", _)) => Err(Some(
                "the harness lends the test its connection: take `conn: &mut PgConnection` (a \
                 transaction), or `conn: PoolConnection<Postgres>` (a database of its own)"
                    .to_owned(),
            )),
            Some(("PgPool", None)) => Ok(ArgKind::Pool),
            Some(("Pool", arg)) => postgres_generic(arg, "Pool", ArgKind::Pool),
            Some(("PoolConnection", arg)) => {
                postgres_generic(arg, "PoolConnection", ArgKind::PoolConnection)
            }
            Some(("PgConnectOptions", None)) => Ok(ArgKind::ConnectOptions),
            Some(("PgPoolOptions", None)) => Ok(ArgKind::PoolOptions),
            Some(("PoolOptions", arg)) => {
                postgres_generic(arg, "PoolOptions", ArgKind::PoolOptions)
            }
            Some(("TestDb", None)) => Ok(ArgKind::TestDb),
            Some(("Transaction", _)) => Err(Some(transaction_hint())),
            _ => Err(None),
        },
        Type::Tuple(tuple) if tuple.elems.len() == 2 => {
            match (classify(&tuple.elems[0]), classify(&tuple.elems[1])) {
                (Ok(ArgKind::PoolOptions), Ok(ArgKind::ConnectOptions)) => {
                    Ok(ArgKind::OptionsTuple)
                }
                _ => Err(None),
            }
        }
        _ => Err(None),
    }
}

fn classify_reference(reference: &TypeReference) -> Result<ArgKind, Option<String>> {
    let Type::Path(path) = strip_groups(&reference.elem) else {
        return Err(None);
    };
    match last_segment(path) {
        Some(("PgConnection", None)) if reference.mutability.is_some() => Ok(ArgKind::Connection),
        Some(("PgConnection", None)) => Err(Some(
            "the connection must be mutable: take `conn: &mut PgConnection`".to_owned(),
        )),
        Some(("Transaction", _)) => Err(Some(transaction_hint())),
        Some((name @ ("PgPool" | "Pool" | "TestDb" | "PoolConnection"), _)) => Err(Some(format!(
            "take the `{name}` by value, not by reference: it is a handle the test owns"
        ))),
        _ => Err(None),
    }
}

fn transaction_hint() -> String {
    "take `conn: &mut PgConnection`: the test already runs inside a transaction, and \
     `conn.begin()` in the code under test opens a savepoint"
        .to_owned()
}

fn strip_groups(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => strip_groups(&group.elem),
        Type::Paren(paren) => strip_groups(&paren.elem),
        other => other,
    }
}

/// The last segment of a path type: its name and its single generic type argument, if any.
/// `None` for `<T as Trait>::X` and for arguments that are not one type.
fn last_segment(path: &TypePath) -> Option<(&str, Option<&Type>)> {
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    // The `String` would not outlive this function; compare against the known names instead.
    let name = KNOWN_TYPES
        .into_iter()
        .find(|known| segment.ident == known)?;
    match &segment.arguments {
        PathArguments::None => Some((name, None)),
        PathArguments::AngleBracketed(args) => match args.args.iter().collect::<Vec<_>>()[..] {
            [GenericArgument::Type(ty)] => Some((name, Some(ty))),
            // `Transaction<'_, Postgres>`: only the name matters for the hint.
            _ if name == "Transaction" => Some((name, None)),
            _ => None,
        },
        PathArguments::Parenthesized(_) => None,
    }
}

const KNOWN_TYPES: [&str; 10] = [
    "PgConnection",
    "PgPool",
    "Pool",
    "PoolConnection",
    "PgConnectOptions",
    "PgPoolOptions",
    "PoolOptions",
    "TestDb",
    "Transaction",
    "Postgres",
];

/// `Pool<Postgres>` and friends: the database must be PostgreSQL.
fn postgres_generic(
    arg: Option<&Type>,
    name: &str,
    kind: ArgKind,
) -> Result<ArgKind, Option<String>> {
    let is_postgres = arg.is_some_and(|ty| match strip_groups(ty) {
        Type::Path(path) => matches!(last_segment(path), Some(("Postgres", None))),
        _ => false,
    });
    if is_postgres {
        Ok(kind)
    } else {
        Err(Some(format!(
            "`#[db_test]` provides PostgreSQL only: write `{name}<Postgres>`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn kind(ty: Type) -> Result<ArgKind, Option<String>> {
        classify(&ty)
    }

    fn check_ok(item: ItemFn) -> TestFn {
        let mut errors = Errors::default();
        let checked = check(item, &mut errors);
        if let Err(error) = errors.finish() {
            panic!("unexpected error: {error}");
        }
        checked.expect("no error, so a test")
    }

    fn check_err(item: ItemFn) -> Vec<String> {
        let mut errors = Errors::default();
        check(item, &mut errors);
        match errors.finish() {
            Ok(()) => panic!("expected an error"),
            Err(all) => all.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn recognises_every_accepted_type() {
        assert_eq!(
            kind(parse_quote!(&mut PgConnection)),
            Ok(ArgKind::Connection)
        );
        assert_eq!(
            kind(parse_quote!(&mut sqlx::PgConnection)),
            Ok(ArgKind::Connection)
        );
        assert_eq!(
            kind(parse_quote!(&'a mut ::sqlx::postgres::PgConnection)),
            Ok(ArgKind::Connection)
        );
        assert_eq!(kind(parse_quote!(PgPool)), Ok(ArgKind::Pool));
        assert_eq!(
            kind(parse_quote!(sqlx::Pool<sqlx::Postgres>)),
            Ok(ArgKind::Pool)
        );
        assert_eq!(
            kind(parse_quote!(PoolConnection<Postgres>)),
            Ok(ArgKind::PoolConnection)
        );
        assert_eq!(
            kind(parse_quote!(PgConnectOptions)),
            Ok(ArgKind::ConnectOptions)
        );
        assert_eq!(kind(parse_quote!(PgPoolOptions)), Ok(ArgKind::PoolOptions));
        assert_eq!(
            kind(parse_quote!(PoolOptions<Postgres>)),
            Ok(ArgKind::PoolOptions)
        );
        assert_eq!(
            kind(parse_quote!((PgPoolOptions, PgConnectOptions))),
            Ok(ArgKind::OptionsTuple)
        );
        assert_eq!(
            kind(parse_quote!(persistence::testing::TestDb)),
            Ok(ArgKind::TestDb)
        );
    }

    #[test]
    fn near_misses_get_a_hint() {
        for ty in [
            parse_quote!(&PgConnection),
            parse_quote!(PgConnection),
            parse_quote!(&mut Transaction<'_, Postgres>),
            parse_quote!(&PgPool),
            parse_quote!(Pool<MySql>),
            parse_quote!(Pool),
        ] {
            assert!(matches!(kind(ty), Err(Some(_))));
        }
        assert_eq!(kind(parse_quote!(i32)), Err(None));
        assert_eq!(kind(parse_quote!(&mut Foo)), Err(None));
        assert_eq!(
            kind(parse_quote!((PgConnectOptions, PgPoolOptions))),
            Err(None)
        );
    }

    #[test]
    fn signature_chooses_isolation() {
        let t = check_ok(parse_quote!(
            async fn t(conn: &mut PgConnection) {}
        ));
        assert_eq!(t.db.isolation(), Some(Isolation::Transaction));
        let t = check_ok(parse_quote!(
            async fn t(pool: PgPool) -> anyhow::Result<()> {
                Ok(())
            }
        ));
        assert_eq!(t.db.isolation(), Some(Isolation::Database));
        let t = check_ok(parse_quote!(
            async fn t(o: PgPoolOptions, c: PgConnectOptions) {}
        ));
        assert!(matches!(t.db, DbArgs::OptionsPair(..)));
        let t = check_ok(parse_quote!(
            async fn t() {}
        ));
        assert_eq!(t.db.isolation(), None);
        assert!(!t.rstest);
    }

    #[test]
    fn reports_every_signature_error() {
        let errors = check_err(parse_quote!(
            #[test]
            unsafe fn t<T>(conn: &PgConnection) {}
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("cannot be `unsafe`"));
    }

    #[test]
    fn a_plain_fn_is_a_test_as_under_sqlx_test() {
        let t = check_ok(parse_quote!(
            fn t(pool: PgPool) {}
        ));
        assert_eq!(t.db.isolation(), Some(Isolation::Database));
        assert!(
            check_ok(parse_quote!(
                fn t() {}
            ))
            .db
            .isolation()
            .is_none()
        );
    }

    #[test]
    fn too_many_arguments() {
        let errors = check_err(parse_quote!(
            async fn t(pool: PgPool, conn: &mut PgConnection) {}
        ));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("a `#[db_test]` function takes one database argument"));
        // The count is reported, not the type of the extra argument.
        let errors = check_err(parse_quote!(
            async fn t(conn: &mut PgConnection, n: i32) {}
        ));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn pool_options_alone() {
        let errors = check_err(parse_quote!(
            async fn t(o: PgPoolOptions) {}
        ));
        assert!(errors[0].contains("comes with a `PgConnectOptions`"));
    }

    #[test]
    fn receiver() {
        let errors = check_err(parse_quote!(
            async fn t(&self) {}
        ));
        assert!(errors[0].contains("cannot take `self`"));
    }

    #[test]
    fn rstest_template() {
        let t = check_ok(parse_quote!(
            #[rstest]
            #[case(1)]
            async fn t(#[case] n: i32, conn: &mut PgConnection, fixture: Foo) {}
        ));
        assert!(t.rstest);
        assert!(matches!(t.db, DbArgs::Connection));
        let errors = check_err(parse_quote!(
            #[rstest]
            #[test_attr(db_test)]
            async fn t(a: PgPool, b: PgPool) {}
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
