//! Random test data is reproducible: a test that fails after drawing from the harness's
//! generator (`testing::with_rng`, `testing::unique_token`) prints its seed, and running it
//! again with `PERSISTENCE_TEST_SEED` set to that seed draws the same values. (The example
//! application's tests check the same of its factories, which draw through `fake`.)

use std::collections::HashSet;

use persistence::db_test;
use persistence::testing::{SEED_VAR, unique_token, with_rng};
use rand::RngExt;
use sqlx::PgConnection;

use crate::common::scenario::{self, child, scenario_is, test_path};

/// A row of random values, as a test data factory would make it.
fn random_user() -> (String, String) {
    let number: u32 = with_rng(|rng| rng.random());
    (
        format!("user.{}@example.com", unique_token()),
        format!("User {number}"),
    )
}

/// Fails on the random value it inserted, after printing it (when acted out by a child).
#[db_test(migrator = "crate::SCHEMA")]
async fn fails_on_a_fake_value(conn: &mut PgConnection) -> sqlx::Result<()> {
    if !scenario_is("fake-value") {
        return Ok(());
    }
    let (email, display_name) = random_user();
    let stored: String = sqlx::query_scalar(
        "INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING display_name",
    )
    .bind(&email)
    .bind(&display_name)
    .fetch_one(&mut *conn)
    .await?;
    let token = unique_token();
    println!("FAKE_VALUE={email} | {stored} | {token}");
    assert!(
        stored.is_empty(),
        "the code under test choked on {stored:?}"
    );
    Ok(())
}

struct Run {
    seed: Option<String>,
    value: Option<String>,
    text: String,
}

/// Runs the failing scenario in a child, with `seed` as `PERSISTENCE_TEST_SEED` if given.
fn failing_run(seed: Option<&str>) -> Run {
    let mut command = child(
        &test_path(module_path!(), "fails_on_a_fake_value"),
        "fake-value",
    );
    match seed {
        Some(seed) => command.env(SEED_VAR, seed),
        None => command.env_remove(SEED_VAR),
    };
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "the scenario must fail:\n{text}");
    let after = |prefix: &str| {
        text.lines()
            .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest.to_owned()))
    };
    Run {
        seed: after(&format!("{SEED_VAR}=")).map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        }),
        value: after("FAKE_VALUE="),
        text,
    }
}

#[test]
fn a_failing_test_prints_its_seed_and_the_seed_reproduces_its_values() {
    let first = failing_run(None);
    let seed = first
        .seed
        .clone()
        .unwrap_or_else(|| panic!("no seed printed:\n{}", first.text));
    let value = first
        .value
        .clone()
        .unwrap_or_else(|| panic!("no value:\n{}", first.text));
    assert!(
        first.text.contains(&format!(
            "persistence: harness::seeds::fails_on_a_fake_value failed; its fake data came from \
             {SEED_VAR}={seed} (run again with it set to get the same values)"
        )),
        "{}",
        first.text
    );

    let again = failing_run(Some(&seed));
    assert_eq!(
        again.value.as_deref(),
        Some(value.as_str()),
        "{}",
        again.text
    );
    assert_eq!(again.seed.as_deref(), Some(seed.as_str()), "{}", again.text);

    // Another seed, other values: the seed is what decides them.
    let other_seed = seed
        .parse::<u64>()
        .expect("a number")
        .wrapping_add(1)
        .to_string();
    let other = failing_run(Some(&other_seed));
    assert_ne!(
        other.value.as_deref(),
        Some(value.as_str()),
        "{}",
        other.text
    );
}

#[test]
fn a_seed_that_is_not_a_number_is_explained() {
    let mut command = child(
        &test_path(module_path!(), "fails_on_a_fake_value"),
        "fake-value",
    );
    command.env(SEED_VAR, "banana");
    let (output, text) = scenario::run(command);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains(
            "PERSISTENCE_TEST_SEED=`banana` is not a seed: use the unsigned integer a failing \
             test printed, or unset PERSISTENCE_TEST_SEED to draw a new one"
        ),
        "{text}"
    );
}

#[db_test(migrator = "crate::SCHEMA")]
async fn values_that_must_be_unique_stay_unique_within_a_test(
    conn: &mut PgConnection,
) -> sqlx::Result<()> {
    let mut emails = HashSet::new();
    for _ in 0..300 {
        let (email, display_name) = random_user();
        // The unique index on lower(email) would reject a repeated address.
        sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, $2)")
            .bind(&email)
            .bind(display_name)
            .execute(&mut *conn)
            .await?;
        emails.insert(email.to_lowercase());
    }
    assert_eq!(emails.len(), 300);
    let tokens: HashSet<String> = (0..300).map(|_| unique_token()).collect();
    assert_eq!(tokens.len(), 300);
    Ok(())
}
