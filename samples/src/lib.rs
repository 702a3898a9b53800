//! Shared bits of the samples: failing with a message.

/// Prints `msg` and exits 1 unless `cond`.
pub fn expect(cond: bool, msg: &str) {
    if !cond {
        eprintln!("UNEXPECTED: {msg}");
        std::process::exit(1);
    }
}

/// The value of an `io::Result`, or exit 1 saying what failed.
pub fn must<T>(what: &str, r: std::io::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("{what}: {e}");
        std::process::exit(1)
    })
}
