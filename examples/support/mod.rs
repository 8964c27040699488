//! The command line both examples share: the churn workload's size and
//! length (the generic scaffolding, the PRNG and the quantiles, is in
//! `tricolor-testkit`).

use tricolor_testkit::args;

/// `--threads N --live-mib M --seconds S`, and `--depth D` for an example
/// that builds trees.
pub struct Args {
    /// Mutator threads.
    pub threads: usize,
    /// The live heap, in MiB, over all threads.
    pub live_mib: usize,
    /// How long the threads churn.
    pub seconds: f64,
    /// Tree depth; `None` for an example that takes no `--depth`.
    pub depth: Option<u32>,
}

/// Parses the command line (exits with `usage` on a bad one). `depth` is the
/// default depth, or `None` if the example takes no `--depth`.
pub fn parse_args(usage: &str, depth: Option<u32>) -> Args {
    args::or_exit(parse(usage, depth), usage)
}

fn parse(usage: &str, depth: Option<u32>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        threads: 4,
        live_mib: 256,
        seconds: 10.0,
        depth,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("threads") => args.threads = p.value()?.parse()?,
            Long("live-mib") => args.live_mib = p.value()?.parse()?,
            Long("seconds") => args.seconds = p.value()?.parse()?,
            Long("depth") if depth.is_some() => args.depth = Some(p.value()?.parse()?),
            _ => return Err(args::unexpected(arg, usage)),
        }
    }
    Ok(args)
}
