//! 100 plain `#[test]`s without a database, doing trivial work: the baseline that
//! `benches/overhead.rs` subtracts from every other file of this directory.

macro_rules! one {
    ($name:ident) => {
        #[test]
        fn $name() {
            assert_eq!(
                persistence_bench_suite::trivial(std::hint::black_box(10)),
                55
            );
        }
    };
}

persistence_bench_suite::hundred!(one);
