//! Profile §4: the heap profile written as a gzipped `profile.proto`, as
//! Go's `pprof.WriteHeapProfile` writes it: symbols resolved, the
//! collector's own frames trimmed, counts unsampled.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::buckets::Bucket;
use super::proto::Message;
use super::Profile;

/// The totals of a written heap profile: pprof's estimates of the real
/// figures (each sample unsampled, profile §4), as `go tool pprof` would
/// sum them.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config { heap_profile_rate: Some(4096), ..Config::default() });
/// let ty = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let mut m = heap.attach()?;
/// let slot = m.push_root(None);
/// for _ in 0..10_000 {
///     let node = m.alloc(ty, 0); // 24 bytes: 240,000 in all, about 59 samples
///     m.set_root(slot, Some(node));
/// }
/// let mut file = Vec::new();
/// let summary = heap.write_heap_profile(&mut file)?;
/// assert!(summary.samples > 0 && summary.alloc_bytes > 100_000, "{summary:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeapProfileSummary {
    /// Samples written: one per allocation site, type and object size.
    pub samples: u64,
    /// Objects allocated since profiling began, estimated.
    pub alloc_objects: u64,
    /// Bytes allocated since profiling began (slot sizes), estimated.
    pub alloc_bytes: u64,
    /// Objects allocated and not yet freed by a sweep, estimated.
    pub inuse_objects: u64,
    /// Their bytes, estimated.
    pub inuse_bytes: u64,
}

/// `n` samples of `size` bytes at `rate` as pprof unsamples them (Go's
/// `scaleHeapSample`): (objects, bytes).
fn unsample(n: u64, size: u64, rate: u64) -> (u64, u64) {
    if n == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (n, n * size);
    }
    let scale = 1.0 / (1.0 - (-(size as f64) / rate as f64).exp());
    (
        (n as f64 * scale) as u64,
        (n as f64 * size as f64 * scale) as u64,
    )
}

/// One line of a location: a function, inlined or not.
#[derive(Clone)]
struct Line {
    name: String,
    file: String,
    line: u64,
}

/// The lines of return address `ip`, innermost (inlined) first.
fn resolve(ip: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        lines.push(Line {
            name: sym
                .name()
                .map_or_else(|| format!("{ip:#x}"), |n| format!("{n:#}")),
            file: sym
                .filename()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: u64::from(sym.lineno().unwrap_or(0)),
        });
    });
    if lines.is_empty() {
        lines.push(Line {
            name: format!("{ip:#x}"),
            file: String::new(),
            line: 0,
        });
    }
    lines
}

/// Whether a leading frame is the profiler's own: the collector, the safe
/// API, the unwinder, and the standard library frames between them.
fn is_internal(name: &str) -> bool {
    let name = name.trim_start_matches('<');
    [
        "tricolor_collector::",
        "tricolor::",
        "backtrace::",
        "_Unwind",
        "core::",
        "std::",
        "alloc::",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The string, function and location tables of the profile being built.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, u64>,
    functions: Vec<Message>,
    function_ids: HashMap<(String, String), u64>,
    locations: Vec<Message>,
    /// (return address, leading lines trimmed) → location id.
    location_ids: HashMap<(usize, usize), u64>,
    symbols: HashMap<usize, Vec<Line>>,
}

impl Tables {
    fn string(&mut self, s: &str) -> u64 {
        if self.strings.is_empty() {
            self.strings.push(String::new());
            self.string_ids.insert(String::new(), 0);
        }
        if let Some(&i) = self.string_ids.get(s) {
            return i;
        }
        let i = self.strings.len() as u64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), i);
        i
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (name.to_owned(), file.to_owned());
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let (n, f) = (self.string(name), self.string(file));
        let mut m = Message::default();
        // Function: id 1, name 2, system_name 3, filename 4.
        m.int(1, id).int(2, n).int(3, n).int(4, f);
        self.functions.push(m);
        self.function_ids.insert(key, id);
        id
    }

    fn lines(&mut self, ip: usize) -> &[Line] {
        self.symbols.entry(ip).or_insert_with(|| resolve(ip))
    }

    /// The location of `ip` without its first `skip` lines.
    fn location(&mut self, ip: usize, skip: usize) -> u64 {
        if let Some(&id) = self.location_ids.get(&(ip, skip)) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        let lines = self.lines(ip)[skip..].to_vec();
        let mut m = Message::default();
        // Location: id 1, mapping_id 2, address 3, line 4 (repeated Line:
        // function_id 1, line 2), innermost first.
        m.int(1, id).int(2, 1).int(3, ip as u64);
        for l in &lines {
            let f = self.function(&l.name, &l.file);
            let mut line = Message::default();
            line.int(1, f).int(2, l.line);
            m.message(4, &line);
        }
        self.locations.push(m);
        self.location_ids.insert((ip, skip), id);
        id
    }

    /// A bucket's location ids, innermost first, its leading internal
    /// lines trimmed (all of them kept if nothing else is left).
    fn stack(&mut self, stack: &[usize]) -> Vec<u64> {
        let mut trim = 0;
        'frames: for &ip in stack {
            for l in self.lines(ip) {
                if !is_internal(&l.name) {
                    break 'frames;
                }
                trim += 1;
            }
        }
        let total: usize = stack.iter().map(|&ip| self.lines(ip).len()).sum();
        if trim == total {
            trim = 0;
        }
        let mut ids = Vec::with_capacity(stack.len());
        for &ip in stack {
            let n = self.lines(ip).len();
            if trim >= n {
                trim -= n;
                continue;
            }
            ids.push(self.location(ip, trim));
            trim = 0;
        }
        ids
    }
}

fn value_type(t: &mut Tables, ty: &str, unit: &str) -> Message {
    let mut m = Message::default();
    m.int(1, t.string(ty)).int(2, t.string(unit));
    m
}

/// Writes `profile` to `w` (profile §4); `type_name` names a type index.
///
/// # Errors
/// What `w` returns.
pub(crate) fn write(
    profile: &Profile,
    type_name: impl Fn(u32) -> String,
    w: impl Write,
) -> io::Result<HeapProfileSummary> {
    let buckets: Vec<Bucket> = profile.snapshot();
    let mut t = Tables::default();
    let mut p = Message::default();
    let mut summary = HeapProfileSummary::default();
    // Profile: sample_type 1, sample 2, mapping 3, location 4, function 5,
    // string_table 6, time_nanos 9, period_type 11, period 12,
    // default_sample_type 14.
    for (ty, unit) in [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ] {
        let vt = value_type(&mut t, ty, unit);
        p.message(1, &vt);
    }
    for b in &buckets {
        let (ao, ab) = unsample(b.allocs, b.size, b.rate);
        let (io, ib) = unsample(b.allocs - b.frees, b.size, b.rate);
        summary.samples += 1;
        summary.alloc_objects += ao;
        summary.alloc_bytes += ab;
        summary.inuse_objects += io;
        summary.inuse_bytes += ib;
        let locations = t.stack(&b.stack);
        let mut s = Message::default();
        s.packed(1, locations).packed(2, [ao, ab, io, ib]);
        // Label: key 1, str 2, num 3.
        let mut label = Message::default();
        label
            .int(1, t.string("type"))
            .int(2, t.string(&type_name(b.ty)));
        s.message(3, &label);
        let mut label = Message::default();
        label.int(1, t.string("bytes")).int(3, b.size);
        s.message(3, &label);
        p.message(2, &s);
    }
    // One mapping for every address, marked as symbolised so that pprof
    // looks for no binary. Mapping: id 1, memory_start 2, memory_limit 3,
    // filename 5, has_functions 7, has_filenames 8, has_line_numbers 9,
    // has_inline_frames 10.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut mapping = Message::default();
    mapping
        .int(1, 1)
        .int(3, u64::MAX)
        .int(5, t.string(&exe))
        .bool(7, true)
        .bool(8, true)
        .bool(9, true)
        .bool(10, true);
    p.message(3, &mapping);
    for l in &t.locations {
        p.message(4, l);
    }
    for f in &t.functions {
        p.message(5, f);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    p.int(9, now);
    let period_type = value_type(&mut t, "space", "bytes");
    p.message(11, &period_type);
    p.int(12, profile.period());
    let default = t.string("inuse_space");
    p.int(14, default);
    for s in &t.strings {
        p.bytes(6, s.as_bytes());
    }
    let mut gz = GzEncoder::new(w, Compression::default());
    gz.write_all(&p.into_bytes())?;
    gz.finish()?.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsampling_matches_go() {
        // Go's scaleHeapSample(1, 512 KiB, 512 KiB): 1 / (1 - 1/e) = 1.582.
        assert_eq!(unsample(1, 512 << 10, 512 << 10), (1, 829_411));
        assert_eq!(unsample(0, 32, 512 << 10), (0, 0));
        assert_eq!(unsample(3, 32, 1), (3, 96), "rate 1 samples everything");
        let (n, _) = unsample(1000, 32, 512 << 10);
        assert_eq!(n, 16_384_500, "{n}"); // about rate / size per sample
    }

    #[test]
    fn internal_frames() {
        assert!(is_internal("tricolor_collector::mutator::alloc::<impl tricolor_collector::mutator::Mutator>::alloc_general"));
        assert!(is_internal("<tricolor::Mutator>::alloc"));
        assert!(is_internal("backtrace::backtrace::trace"));
        assert!(!is_internal("my_vm::compile"));
    }
}
