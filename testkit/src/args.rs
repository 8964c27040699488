//! Helpers for command lines parsed with [`lexopt`]: what every example and
//! benchmark parser would otherwise repeat, comma-separated list values,
//! `--help`, and the exit on a bad command line.
//!
//! ```
//! use tricolor_testkit::args;
//!
//! fn parse(argv: &[&str]) -> Result<(Vec<u64>, bool), lexopt::Error> {
//!     use lexopt::prelude::*;
//!     let (mut sizes, mut quick) = (vec![256], false);
//!     let mut p = lexopt::Parser::from_args(argv);
//!     while let Some(arg) = p.next()? {
//!         match arg {
//!             Long("sizes") => sizes = args::list(&mut p)?,
//!             Long("quick") => quick = true,
//!             _ => return Err(args::unexpected(arg, "prog [--sizes N,N,..] [--quick]")),
//!         }
//!     }
//!     Ok((sizes, quick))
//! }
//!
//! assert_eq!(parse(&["--sizes", "64,128", "--quick"]).unwrap(), (vec![64, 128], true));
//! assert_eq!(parse(&["--sizes="]).unwrap(), (vec![], false));
//! assert!(parse(&["--sizes", "64,x"]).is_err());
//! assert!(parse(&["--nope"]).is_err());
//! ```

use std::str::FromStr;

/// The value of the option just parsed, as a comma-separated list of `T`
/// (`--sizes 64,128,256`). Empty items are skipped, so an empty value is an
/// empty list.
pub fn list<T>(parser: &mut lexopt::Parser) -> Result<Vec<T>, lexopt::Error>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let value = parser.value()?;
    let value = value
        .into_string()
        .map_err(lexopt::Error::NonUnicodeValue)?;
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse().map_err(|e| lexopt::Error::ParsingFailed {
                value: item.to_string(),
                error: Box::new(e),
            })
        })
        .collect()
}

/// The parsed command line, or (on an error) the error and `usage` on
/// standard error and exit status 2.
///
/// ```
/// # use tricolor_testkit::args;
/// let n: u32 = args::or_exit(Ok(4), "prog [--n N]");
/// assert_eq!(n, 4);
/// ```
pub fn or_exit<T>(parsed: Result<T, lexopt::Error>, usage: &str) -> T {
    parsed.unwrap_or_else(|e| {
        eprintln!("error: {e}\nusage: {usage}");
        std::process::exit(2)
    })
}

/// Prints `usage` on standard output and exits with status 0: the answer to
/// `-h` or `--help`.
pub fn help(usage: &str) -> ! {
    println!("{usage}");
    std::process::exit(0)
}

/// For a parser's last match arm: `-h` and `--help` get [`help`]; any other
/// argument is the error that it was not expected.
///
/// ```
/// # use tricolor_testkit::args;
/// let mut p = lexopt::Parser::from_args(["--frobnicate"]);
/// let arg = p.next().unwrap().unwrap();
/// let e = args::unexpected(arg, "prog [--depth N]");
/// assert_eq!(e.to_string(), "invalid option '--frobnicate'");
/// ```
pub fn unexpected(arg: lexopt::Arg<'_>, usage: &str) -> lexopt::Error {
    use lexopt::Arg::{Long, Short};
    if matches!(arg, Short('h') | Long("help")) {
        help(usage)
    }
    arg.unexpected()
}
