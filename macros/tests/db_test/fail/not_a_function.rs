// Each failing function is replaced by its errors, which leaves the imports unused.
#![allow(unused_imports)]

use persistence::db_test;

#[db_test]
struct NotATest;

fn main() {}
