use persistence::db_test;

#[db_test]
struct NotATest;

fn main() {}
