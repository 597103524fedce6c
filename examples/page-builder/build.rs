//! Tells cargo to rebuild when a migration is added or removed: `sqlx::migrate!()` embeds the
//! files of `migrations/`, but cargo only watches files it knows about (`persistence init`
//! writes this file).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
