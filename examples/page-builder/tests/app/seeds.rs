//! Fake data is reproducible: a test that fails on a fake value prints its seed, and running
//! it again with `PERSISTENCE_TEST_SEED` set to that seed builds the same values.

use std::collections::HashSet;

use page_builder::factories::{PageFactory, UserFactory};
use persistence::db_test;
use persistence::testing::SEED_VAR;
use sqlx::PgConnection;

use crate::scenario::{self, child, scenario_is, test_path};

/// Fails on the fake value it inserted, after printing it (when acted out by a child).
#[db_test]
async fn fails_on_a_fake_value(conn: &mut PgConnection) -> sqlx::Result<()> {
    if !scenario_is("fake-value") {
        return Ok(());
    }
    let user = UserFactory::new().insert(&mut *conn).await?;
    let page = PageFactory::new().build();
    println!(
        "FAKE_VALUE={} | {} | {}",
        user.email, user.display_name, page.title
    );
    assert!(
        user.display_name.is_empty(),
        "the code under test choked on {:?}",
        user.display_name
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
            "persistence: app::seeds::fails_on_a_fake_value failed; its fake data came from \
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

#[db_test]
async fn values_that_must_be_unique_stay_unique_within_a_test(
    conn: &mut PgConnection,
) -> sqlx::Result<()> {
    let users = UserFactory::new().insert_many(300, &mut *conn).await?;
    let emails: HashSet<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
    assert_eq!(emails.len(), users.len());
    let slugs: HashSet<String> = (0..300).map(|_| PageFactory::new().build().slug).collect();
    assert_eq!(slugs.len(), 300);
    Ok(())
}
